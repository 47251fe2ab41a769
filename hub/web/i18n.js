// Words on the pages, in Chinese (the default) and English. `t(key)` looks one up in the
// language chosen with the toggle (kept in localStorage).

const STRINGS = {
  zh: {
    security_title: "安防值班室", care_title: "虚拟养老院 · 照护坐席",
    online: "在线", devices: "设备", active_alerts: "活动告警", unacknowledged: "未确认",
    live: "实时", offline_feed: "连接中断，正在重连…", connecting: "正在连接…",
    login: "登录", logout: "退出", username: "用户名", password: "密码",
    login_failed: "登录失败", login_hint: "请使用值班账号登录；大屏可用只读令牌链接。",
    alerts: "告警", no_alerts: "当前无活动告警", severity: "级别", alert: "告警内容",
    place: "位置", raised: "发生", since: "已持续", escalation: "升级倒计时", told: "已通知",
    state: "状态", actions: "操作", ack: "确认", clear: "解除", acked_by: "已由 {0} 确认",
    community: "社区态势", health: "设备健康", cameras: "视频监控墙", silences: "静默",
    building: "楼栋", total: "总数", offline: "离线", never_seen: "未上线", low_battery: "低电量",
    floor_n: "{0}层", unit: "户", no_escalation: "—", escalates_now: "即将升级",
    detail: "告警详情", timeline: "时间线", readings: "触发读数", deliveries: "通知回执",
    note: "备注", outcome: "处置结果", choose_outcome: "请选择处置结果", submit_ack: "确认告警",
    submit_clear: "解除告警", close: "关闭", occurrences: "次数", device: "设备",
    value: "数值", suppressed: "暂不通知", exercise: "演练", escalated_steps: "已升级 {0} 级",
    no_readings: "此告警由事件触发，无读数曲线", charts_missing: "图表库未安装（在仓库根目录运行 npm ci）",
    silence_new: "新建静默", scope: "范围", target: "对象", duration: "时长", reason: "原因",
    create: "创建", end: "结束", active_silences: "生效中的静默", no_silences: "当前无静默",
    until: "至", by: "操作人", silence_this: "静默此设备", recording: "录像中",
    not_recording: "未录像", disk_fail: "硬盘故障", camera: "摄像机", nvr: "录像机",
    floor_devices: "楼层设备", battery: "电量", last_seen: "最后上报", none: "无",
    sound_on: "声音已开启", sound_off: "点击开启告警声音", drill: "演练进行中",
    residents: "在册老人", care_alerts: "老人告警（优先处理）", no_care_alerts: "当前无老人告警",
    care_level: "照护等级", contacts: "联系人", last_activity: "最后活动", today: "今日活动",
    next_check_in: "下次回访", overdue: "已逾期 {0}", never_checked: "尚无回访，请尽快联系",
    check_ins_due: "待回访", due_in: "{0} 后", check_in: "登记回访",
    history: "档案", resident: "老人", lives_alone: "独居", saved: "已保存", failed: "操作失败",
    no_activity_today: "今日无活动记录", check_ins: "回访记录", alert_history: "告警记录",
    at_home: "家中", other_alerts: "老人家中的其他告警", ago: "{0}前",
    intensive: "重点照护", assisted: "协助照护", self_care: "自理",
    called: "已电话联系", visited: "已上门", false_alarm: "误报", hospital: "已送医",
    no_answer: "无人接听",
    critical: "特别严重", major: "严重", minor: "较重", warning: "一般", info: "提示",
    fire: "火警", gas: "燃气", flood: "水浸", elderly_care: "养老", security: "安防",
    equipment: "设备设施", power: "供电", device_cat: "设备",
    active_unack: "未确认", active_ack: "已确认", cleared_unack: "已恢复(未确认)",
    cleared_ack: "已关闭",
    raised_t: "发生", repeated: "重复", acknowledged: "确认", cleared: "解除",
    escalated: "升级", reminded: "提醒", settled: "恢复通知",
    sent: "已送达", pending: "发送中", fell_back: "已转备用", failed_d: "失败",
    scope_device: "设备", scope_place: "位置", scope_category: "类别", scope_rule: "规则",
    minutes: "{0} 分钟", hours: "{0} 小时", need_login: "需要登录",
    viewer_note: "只读账号：仅可查看", lang: "EN",
  },
  en: {
    security_title: "Security room", care_title: "Virtual care home · operators",
    online: "online", devices: "devices", active_alerts: "Active alerts",
    unacknowledged: "unacknowledged", live: "live", offline_feed: "Disconnected, reconnecting…",
    connecting: "Connecting…", login: "Log in", logout: "Log out", username: "User name",
    password: "Password", login_failed: "Login failed",
    login_hint: "Log in with your duty account; wall screens use a read-only token link.",
    alerts: "Alerts", no_alerts: "No active alerts", severity: "Severity", alert: "Alert",
    place: "Place", raised: "Raised", since: "For", escalation: "Escalates in", told: "Told",
    state: "State", actions: "Actions", ack: "Ack", clear: "Clear", acked_by: "Acked by {0}",
    community: "Community", health: "Device health", cameras: "Camera wall",
    silences: "Silences", building: "Building", total: "Total", offline: "Offline",
    never_seen: "Never seen", low_battery: "Low battery", floor_n: "F{0}", unit: "Unit",
    no_escalation: "—", escalates_now: "escalating", detail: "Alert detail",
    timeline: "Timeline", readings: "Readings that triggered it", deliveries: "Deliveries",
    note: "Note", outcome: "Outcome", choose_outcome: "Choose an outcome",
    submit_ack: "Acknowledge", submit_clear: "Clear", close: "Close",
    occurrences: "Occurrences", device: "Device", value: "Value", suppressed: "Held back",
    exercise: "Drill", escalated_steps: "Escalated {0} step(s)",
    no_readings: "Raised by an event: no readings to chart",
    charts_missing: "Charting library not installed (run npm ci at the repository root)",
    silence_new: "New silence", scope: "Scope", target: "Target", duration: "Duration",
    reason: "Reason", create: "Create", end: "End", active_silences: "Silences in force",
    no_silences: "No silences", until: "until", by: "by", silence_this: "Silence this device",
    recording: "recording", not_recording: "not recording", disk_fail: "disk failure",
    camera: "camera", nvr: "NVR", floor_devices: "Devices on the floor", battery: "Battery",
    last_seen: "Last seen", none: "none", sound_on: "Sound on",
    sound_off: "Click to enable alarm sound", drill: "Drill in progress",
    residents: "Residents", care_alerts: "Residents' alerts (first)",
    no_care_alerts: "No residents' alerts", care_level: "Care level", contacts: "Contacts",
    last_activity: "Last activity", today: "Today", next_check_in: "Next check-in",
    overdue: "overdue {0}", due_in: "in {0}", never_checked: "never checked in: due now",
    check_ins_due: "check-ins due", check_in: "Check in", history: "History",
    resident: "Resident", lives_alone: "lives alone", saved: "Saved", failed: "Failed",
    no_activity_today: "No activity today", check_ins: "Check-ins",
    alert_history: "Alerts", at_home: "at home", other_alerts: "Other alerts in residents' homes",
    ago: "{0} ago",
    intensive: "intensive", assisted: "assisted", self_care: "self-care",
    called: "called", visited: "visited", false_alarm: "false alarm",
    hospital: "sent to hospital", no_answer: "no answer",
    critical: "Critical", major: "Major", minor: "Minor", warning: "Warning", info: "Info",
    fire: "fire", gas: "gas", flood: "flood", elderly_care: "elderly care",
    security: "security", equipment: "equipment", power: "power", device_cat: "device",
    active_unack: "unacknowledged", active_ack: "acknowledged",
    cleared_unack: "cleared (unacked)", cleared_ack: "closed",
    raised_t: "raised", repeated: "repeated", acknowledged: "acknowledged", cleared: "cleared",
    escalated: "escalated", reminded: "reminded", settled: "settled",
    sent: "sent", pending: "pending", fell_back: "fell back", failed_d: "failed",
    scope_device: "device", scope_place: "place", scope_category: "category",
    scope_rule: "rule", minutes: "{0} min", hours: "{0} h", need_login: "Login required",
    viewer_note: "Read-only account", lang: "中文",
  },
};

const listeners = [];
let lang = localStorage.getItem("shouwang.lang") === "en" ? "en" : "zh";

export function language() {
  return lang;
}

export function t(key, ...args) {
  let text = STRINGS[lang][key] ?? STRINGS.zh[key] ?? key;
  args.forEach((a, i) => { text = text.replace(`{${i}}`, a); });
  return text;
}

/** Render again in the other language. */
export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("shouwang.lang", lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  listeners.forEach((fn) => fn());
}

export function onLanguage(fn) {
  listeners.push(fn);
}

/** Fill every element that names its word with data-t. */
export function translatePage(root = document) {
  root.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  root.querySelectorAll("[data-t-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.tPlaceholder);
  });
}
