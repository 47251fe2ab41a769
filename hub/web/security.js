// 安防值班室: the live alert board, the community matrix, device health, the camera wall,
// alert detail (timeline, readings chart, receipts, acknowledge / clear) and silences.

import {
  $, ApiError, LiveAlerts, alarm, api, boot, clockTime, closeDrawer, dateTime, el,
  escalationText, language, loadECharts, message, now, onLanguage, openDrawer, placeName,
  OUTCOMES, severityBadge, span, t, toast, toldChips, wireSound,
} from "/static/common.js";

const state = {
  me: null, site: null, status: null, alerts: [], live: null, detailId: null,
  devices: null,
};
const BOARD_MAX = 200;

boot(start);

function start(me) {
  state.me = me;
  wireSound();
  document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click",
    () => { closeDrawer(b.dataset.close); if (b.dataset.close === "#detail") state.detailId = null; }));
  $("#open-silences").addEventListener("click", openSilences);
  $("#silence-form").addEventListener("submit", createSilence);
  $("#silence-scope").addEventListener("change", fillSilenceOptions);
  state.live = new LiveAlerts(onAlerts);
  loadSite();
  refreshStatus();
  refreshHealth();
  setInterval(refreshStatus, 5000);
  setInterval(refreshHealth, 10000);
  setInterval(tick, 1000);
  onLanguage(renderAll);
  const deepLink = location.pathname.match(/^\/alerts\/([^/]+)$/);
  if (deepLink) openDetail(decodeURIComponent(deepLink[1]));
}

function renderAll() {
  renderBoard();
  renderMatrix();
  renderStatus();
  if (state.detailId) openDetail(state.detailId);
}

// ------------------------------------------------------------------ the board

let boardTimer = null;
let statusSoon = null;

function onAlerts(alerts, transition) {
  state.alerts = alerts;
  alarm(alerts);
  if (!boardTimer) boardTimer = setTimeout(() => { boardTimer = null; renderBoard(); }, 120);
  if (transition && transition.alert.id === state.detailId) {
    clearTimeout(detailSoon);
    detailSoon = setTimeout(() => openDetail(state.detailId, null, true), 300);
  }
  clearTimeout(statusSoon);
  statusSoon = setTimeout(refreshStatus, 800);
}

function mayHandle(alert) {
  const p = state.me.permissions;
  return p.handle_alerts || (p.handle_care_alerts && alert.category === "elderly_care");
}

function renderBoard() {
  const alerts = state.alerts;
  const unacked = alerts.filter((a) => a.state === "active_unack").length;
  $("#stat-active").textContent = alerts.length;
  $("#stat-unack").textContent = unacked;
  $("#stat-unack").classList.toggle("hot", unacked > 0);
  $("#board-count").textContent = alerts.length > BOARD_MAX ? `${BOARD_MAX} / ${alerts.length}` : "";
  $("#alerts").replaceChildren(...alerts.slice(0, BOARD_MAX).map(alertRow));
  $("#no-alerts").hidden = alerts.length > 0;
}

function alertRow(a) {
  const tags = [el("span.tag", {}, t(a.category === "device" ? "device_cat" : a.category))];
  if (a.exercise) tags.push(el("span.tag.exercise", {}, t("exercise")));
  if (a.suppressed) tags.push(el("span.tag", { title: a.suppressed }, t("suppressed")));
  if (a.resident) tags.push(el("span.tag", {}, `${t("resident")} ${a.resident.name}`));
  const actions = el("td.actions");
  if (mayHandle(a)) {
    if (a.state === "active_unack") {
      actions.append(el("button.primary.write", {
        dataset: { action: "ack" }, onclick: (e) => { e.stopPropagation(); openDetail(a.id, "ack"); },
      }, t("ack")), " ");
    }
    actions.append(el("button.write", {
      dataset: { action: "clear" }, onclick: (e) => { e.stopPropagation(); openDetail(a.id, "clear"); },
    }, t("clear")));
  }
  return el("tr.alert-row.clickable", {
    dataset: { alertId: a.id, severity: a.severity, state: a.state },
    onclick: () => openDetail(a.id),
  },
  el("td", {}, severityBadge(a.severity)),
  el("td", {}, el("div.msg", {}, message(a)),
    el("div.sub", {}, placeName(a), " · ", a.device, ...tags,
      a.acknowledged_by ? el("span.tag", {}, t("acked_by", a.acknowledged_by)) : null)),
  el("td.timer", {}, clockTime(a.raised_at)),
  el("td.timer", { dataset: { since: a.raised_at } }, span(now() - a.raised_at)),
  el("td.timer", { dataset: { esc: a.id } }, escalationText(a)),
  el("td", {}, toldChips(a)),
  actions);
}

function tick() {
  document.querySelectorAll("td[data-since]").forEach((td) => {
    td.textContent = span(now() - Number(td.dataset.since));
  });
  const byId = new Map(state.alerts.map((a) => [a.id, a]));
  document.querySelectorAll("td[data-esc]").forEach((td) => {
    const alert = byId.get(td.dataset.esc);
    if (!alert) return;
    td.textContent = escalationText(alert);
    const left = alert.next_escalation_at === null ? Infinity : alert.next_escalation_at - now();
    td.classList.toggle("soon", left < 60);
  });
}

// ------------------------------------------------------------------ the community matrix

async function loadSite() {
  state.site = await api("/api/site");
  $("#site-name").textContent = state.site.name;
  $("#stat-devices").textContent = state.site.devices;
  renderMatrix();
}

async function refreshStatus() {
  try {
    state.status = await api("/api/site/status");
  } catch (e) {
    return;
  }
  renderMatrix();
  renderStatus();
}

async function refreshHealth() {
  try {
    const [health, drill] = await Promise.all([api("/api/health"), api("/api/drill")]);
    $("#stat-online").textContent = health.devices_online;
    $("#stat-devices").textContent = health.devices;
    const banner = $("#drill-banner");
    banner.hidden = !drill.active;
    banner.textContent = drill.active ? `${t("drill")}：${drill.name}` : "";
  } catch (e) {
    // shown by the live badge
  }
}

function worst(id) {
  return state.status ? state.status.worst[id] || "" : "";
}

function renderMatrix() {
  if (!state.site) return;
  const blocks = [];
  for (const grid of state.site.grids) {
    for (const b of grid.buildings) {
      const floors = [...b.floors].sort((x, y) => y.number - x.number);
      blocks.push(el("div.bldg", { dataset: { building: b.id } },
        el("h3", {}, el(`span.${worst(b.id)}`, {}, b.name), el("span.grid-name", {}, grid.name)),
        floors.map((f) => el("div.floor-row", {
          dataset: { floor: f.id }, onclick: () => openFloor(f.id), title: f.id,
        },
        el(`span.floor-label.${worst(f.id)}`, {}, t("floor_n", f.number)),
        f.units.map((u) => el(`span.cell.${worst(u.id)}${u.resident ? ".res" : ""}`, {
          dataset: { place: u.id },
          title: u.resident ? `${u.id} · ${u.resident.name}` : u.id,
        }, u.unit))))));
    }
  }
  const widest = Math.max(1, ...state.site.grids.flatMap((g) => g.buildings.flatMap((b) => b.floors.map((f) => f.units.length))));
  $("#matrix").classList.toggle("large", blocks.length * widest <= 24);
  $("#matrix").replaceChildren(...blocks);
}

function renderStatus() {
  const status = state.status;
  if (!status) return;
  $("#health").replaceChildren(...status.health.map((h) => el("tr", {},
    el("td", {}, h.name),
    el("td.num", {}, h.devices),
    el("td.num.good", {}, h.online),
    el(`td.num${h.offline ? ".bad" : ""}`, {}, h.offline),
    el("td.num", {}, h.never_seen),
    el(`td.num${h.low_battery ? ".warnc" : ""}`, {}, h.low_battery),
    el("td", {}, el("span.bar", { style: `width:${Math.round(60 * h.online / Math.max(1, h.devices))}px` })))));
  $("#camera-count").textContent = `${status.cameras.filter((c) => c.online).length} / ${status.cameras.length}`;
  $("#camera-wall").replaceChildren(...status.cameras.map(cameraTile));
}

function cameraTile(c) {
  let kind = "ok";
  let text = t("recording");
  if (!c.online) {
    kind = c.last_seen === null ? "never" : "down";
    text = c.last_seen === null ? t("never_seen") : `${t("offline")} · ${t("ago", span(now() - c.last_seen))}`;
  } else if (c.kind === "nvr" && c.disk_ok === false) {
    kind = "down";
    text = t("disk_fail");
  } else if (c.recording === false) {
    kind = "warn";
    text = t("not_recording");
  } else if (c.kind === "nvr") {
    text = "OK";
  }
  if (c.alert) text = `${t(c.alert)} · ${text}`;
  return el(`div.cam.${kind}${c.alert ? ".alerting" : ""}`, { dataset: { device: c.id }, title: c.id },
    el("div.name", {}, c.name || c.id, el("span.tag", {}, t(c.kind))),
    el("div.where", {}, language() === "zh" ? c.place_name.zh : c.place_name.en),
    el("div.st", {}, text, c.fps ? ` · ${Math.round(c.fps)} fps` : ""));
}

// ------------------------------------------------------------------ a floor and its devices

async function openFloor(placeId) {
  const place = await api(`/api/site/places/${placeId}`);
  $("#floor-title").textContent = language() === "zh" ? place.name.zh : place.name.en;
  const rows = place.devices.map((d) => el("tr", {},
    el("td", {}, d.alert ? severityBadge(d.alert) : ""),
    el("td", {}, language() === "zh" ? d.kind_label : d.kind),
    el("td", {}, d.id),
    el("td", {}, d.place.split("/").slice(2).join("/") || "—"),
    el(`td.${d.online ? "good" : "bad"}`, {}, d.online ? t("online") : d.last_seen === null ? t("never_seen") : t("offline")),
    el("td.timer", {}, d.last_seen ? t("ago", span(now() - d.last_seen)) : "—"),
    el(`td.num${d.battery !== null && d.battery < 20 ? ".warnc" : ""}`, {}, d.battery === null ? "—" : `${Math.round(d.battery)}%`)));
  $("#floor-body").replaceChildren(
    place.alerts.length ? el("h3", {}, t("alerts")) : null,
    place.alerts.length ? el("table", {}, el("tbody", {}, place.alerts.map((a) => el("tr.clickable", {
      onclick: () => openDetail(a.id),
    }, el("td", {}, severityBadge(a.severity)), el("td", {}, message(a)))))) : null,
    place.residents.length ? el("p", {}, `${t("residents")}：`, place.residents.map((r) => r.name).join("、")) : null,
    el("h3", {}, t("floor_devices")),
    el("table", {}, el("thead", {}, el("tr", {}, ["", t("device"), "ID", t("unit"), t("state"), t("last_seen"), t("battery")].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows)));
  openDrawer("#floor");
}

// ------------------------------------------------------------------ alert detail

let detailSoon = null;
let chart = null;

async function openDetail(alertId, focus = null, quiet = false) {
  state.detailId = alertId;
  let detail;
  let receipts;
  try {
    [detail, receipts] = await Promise.all([api(`/api/alerts/${alertId}`),
      api(`/api/alerts/${alertId}/deliveries`)]);
  } catch (e) {
    if (!quiet) toast(e.message, "error");
    return;
  }
  if (state.detailId !== alertId) return;
  const a = detail.alert;
  $("#detail-title").replaceChildren(severityBadge(a.severity), el("span", {}, message(a)));
  const facts = [
    [t("place"), placeName(a)], [t("device"), a.device],
    [t("state"), t(a.state)], [t("raised"), dateTime(a.raised_at)],
    [t("since"), span((a.cleared_at || now()) - a.raised_at)],
    [t("occurrences"), a.occurrences],
    [t("escalation"), `${escalationText(a)}${a.escalation ? ` · ${t("escalated_steps", a.escalation)}` : ""}`],
  ];
  if (a.metric) facts.push([t("value"), `${a.metric} = ${a.value ?? "—"}`]);
  if (a.suppressed) facts.push([t("suppressed"), a.suppressed]);
  if (a.resident) facts.push([t("resident"), a.resident.name]);
  const body = [
    el("dl.facts", {}, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
  ];
  if (mayHandle(a) && (a.active || a.state === "cleared_unack")) body.push(actionForm(a, focus));
  body.push(el("h3", {}, t("readings")), el("div.chart#detail-chart"));
  body.push(el("h3", {}, t("timeline")), el("ul.timeline", {}, detail.timeline.map((e) => el(`li.${e.transition}`, {},
    el("span.timer", {}, clockTime(e.ts)), " ",
    el("strong", {}, t(e.transition === "raised" ? "raised_t" : e.transition)),
    e.user ? ` · ${e.user}` : "",
    e.outcome ? ` · ${t(e.outcome)}` : "",
    e.device && e.transition !== "acknowledged" ? ` · ${e.device}` : "",
    e.metric && e.value !== null ? ` · ${e.metric} = ${e.value}` : "",
    e.note ? el("div.sub", {}, e.note) : null))));
  body.push(el("h3", {}, t("deliveries")), receipts.length ? el("table", {}, el("tbody", {},
    receipts.map((d) => el("tr", {}, el("td", {}, t(d.transition === "raised" ? "raised_t" : d.transition)),
      el("td", {}, d.receiver), el("td", {}, d.recipient || "*"),
      el(`td.${d.state === "sent" ? "good" : d.state === "failed" ? "bad" : "warnc"}`, {}, t(d.state === "failed" ? "failed_d" : d.state)),
      el("td.timer", {}, clockTime(d.sent_at || d.created)))))) : el("div.sub", {}, t("none")));
  if (state.me.permissions.silence) {
    body.push(el("p", {}, el("button.write", {
      onclick: () => { openSilences(); $("#silence-scope").value = "device"; $("#silence-target").value = a.device; },
    }, t("silence_this"))));
  }
  $("#detail-body").replaceChildren(...body);
  if (!quiet || $("#detail").hidden) openDrawer("#detail");
  if (focus) $("#action-note")?.focus();
  drawReadings(a, detail.timeline);
}

function actionForm(a, focus) {
  const care = a.category === "elderly_care";
  const form = el("form.act.write#action-form", { onsubmit: (e) => e.preventDefault() },
    care ? el("div.outcomes", {}, OUTCOMES.map((o) => el("label", {},
      el("input", { type: "radio", name: "outcome", value: o }), t(o)))) : null,
    el("textarea#action-note", { placeholder: t("note"), maxLength: 2000 }),
    el("div.row", {},
      a.state === "active_unack" ? el("button.primary#action-ack", { type: "button", onclick: () => act(a, "ack") }, t("submit_ack")) : null,
      a.active ? el("button.danger#action-clear", { type: "button", onclick: () => act(a, "clear") }, t("submit_clear")) : null));
  if (focus === "clear") form.dataset.focus = "clear";
  return form;
}

async function act(a, verb) {
  const note = $("#action-note").value.trim() || null;
  const picked = document.querySelector("#action-form input[name=outcome]:checked");
  const body = { note };
  if (picked) body.outcome = picked.value;
  try {
    await api(`/api/alerts/${a.id}/${verb}`, { method: "POST", body });
    toast(t("saved"));
    openDetail(a.id, null, true);
  } catch (e) {
    toast(`${t("failed")}: ${e.message}`, "error");
  }
}

async function drawReadings(a, timeline) {
  const box = $("#detail-chart");
  if (!a.metric) {
    box.classList.add("none");
    box.replaceChildren(el("div.empty", {}, t("no_readings")));
    return;
  }
  const end = (a.cleared_at || now()) + 300;
  const start = a.raised_at - 1800;
  let echarts;
  let readings;
  try {
    [echarts, readings] = await Promise.all([loadECharts(),
      api(`/api/devices/${encodeURIComponent(a.device)}/readings?metric=${a.metric}&start=${start}&end=${end}`)]);
  } catch (e) {
    box.replaceChildren(el("div.empty", {}, e instanceof ApiError ? e.message : t("charts_missing")));
    return;
  }
  if (!document.body.contains(box)) return;
  if (chart) chart.dispose();
  chart = echarts.init(box, "dark", { renderer: "canvas" });
  const series = readings.series[0];
  const onOff = series.points.length > 0 && series.points.every((p) => p.value === 0 || p.value === 1);
  const marks = timeline.filter((e) => ["raised", "acknowledged", "cleared"].includes(e.transition))
    .map((e) => ({ xAxis: e.ts * 1000, label: { formatter: t(e.transition === "raised" ? "raised_t" : e.transition) } }));
  chart.setOption({
    backgroundColor: "transparent",
    animation: false,
    grid: { left: 48, right: 18, top: 28, bottom: 30 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time", min: start * 1000, max: end * 1000 },
    yAxis: onOff
      ? { type: "value", name: series.metric, min: 0, max: 1, interval: 1 }
      : { type: "value", name: `${series.metric}${series.unit ? ` (${series.unit})` : ""}`, scale: true },
    series: [{
      type: "line", step: onOff ? "end" : false, showSymbol: series.points.length < 60,
      data: series.points.map((p) => [p.ts * 1000, p.value]),
      lineStyle: { color: "#4fc3f7" }, itemStyle: { color: "#4fc3f7" },
      markLine: { symbol: "none", lineStyle: { color: "#ef5350", type: "dashed" }, data: marks },
    }],
  });
}

// ------------------------------------------------------------------ silences

async function openSilences() {
  openDrawer("#silences");
  fillSilenceOptions();
  await listSilences();
}

async function listSilences() {
  const silences = await api("/api/silences");
  const rows = silences.map((s) => el("tr", {},
    el("td", {}, [s.device, s.place, s.category && t(s.category), s.rule].filter(Boolean).join(" · ")),
    el("td", {}, s.reason),
    el("td.timer", {}, `${t("until")} ${dateTime(s.ends)}`),
    el("td.sub", {}, `${t("by")} ${s.author}`),
    el("td", {}, el("button.write", { onclick: () => endSilence(s.id) }, t("end")))));
  $("#silence-list").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td.empty", {}, t("no_silences")))]));
}

async function fillSilenceOptions() {
  const scope = $("#silence-scope").value;
  let options = [];
  if (scope === "device") {
    if (!state.devices) state.devices = (await api("/api/devices?limit=50000")).devices.map((d) => d.id);
    options = state.devices;
  } else if (scope === "place" && state.site) {
    for (const g of state.site.grids) {
      options.push(g.id);
      for (const b of g.buildings) {
        options.push(b.id);
        for (const f of b.floors) options.push(f.id, ...f.units.map((u) => u.id));
      }
    }
  } else if (scope === "category") {
    options = ["fire", "gas", "flood", "elderly_care", "security", "equipment", "power", "device"];
  }
  $("#silence-options").replaceChildren(...options.map((o) => el("option", { value: o })));
}

async function createSilence(event) {
  event.preventDefault();
  const body = { reason: $("#silence-reason").value.trim(), ends: String(now() + Number($("#silence-duration").value)) };
  body[$("#silence-scope").value] = $("#silence-target").value.trim();
  try {
    await api("/api/silences", { method: "POST", body });
    toast(t("saved"));
    $("#silence-reason").value = "";
    $("#silence-target").value = "";
    await listSilences();
  } catch (e) {
    toast(`${t("failed")}: ${e.message}`, "error");
  }
}

async function endSilence(id) {
  try {
    await api(`/api/silences/${id}`, { method: "DELETE" });
    await listSilences();
  } catch (e) {
    toast(`${t("failed")}: ${e.message}`, "error");
  }
}
