// What both pages share: the API with login, the live alert feed, time on the hub's clock,
// the alarm sound, and small DOM helpers.

import { language, onLanguage, t, toggleLanguage, translatePage } from "/static/i18n.js";

export { language, onLanguage, t, translatePage };

export const RANK = { critical: 4, major: 3, minor: 2, warning: 1, info: 0 };

// ------------------------------------------------------------------ DOM

/** el("td.sev#id", {dataset: {x: 1}, onclick: fn}, "text", child) */
export function el(spec, props = {}, ...children) {
  const [head, id] = spec.split("#");
  const [tag, ...classes] = head.split(".");
  const node = document.createElement(tag || "div");
  if (id) node.id = id;
  const names = classes.filter(Boolean);
  if (names.length) node.className = names.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector) {
  return document.querySelector(selector);
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const box = $("#toast");
  box.textContent = message;
  box.className = `toast ${kind}`;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
}

export function openDrawer(id) {
  $(id).hidden = false;
  $(id).scrollTop = 0;
}

export function closeDrawer(id) {
  $(id).hidden = true;
}

// ------------------------------------------------------------------ time on the hub's clock

let offsetS = 0; // hub clock − this screen's clock

export function syncClock(hubNow) {
  if (typeof hubNow === "number") offsetS = hubNow - Date.now() / 1000;
}

export function now() {
  return Date.now() / 1000 + offsetS;
}

export function span(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const zh = language() === "zh";
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return zh ? `${s} 秒` : `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return zh ? `${m} 分 ${pad(s % 60)} 秒` : `${m} m ${pad(s % 60)} s`;
  }
  if (s < 86400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return zh ? `${h} 时 ${pad(m)} 分` : `${h} h ${pad(m)} m`;
  }
  const d = Math.floor(s / 86400);
  return zh ? `${d} 天 ${Math.floor((s % 86400) / 3600)} 时` : `${d} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function clockTime(ts) {
  if (ts === null || ts === undefined) return "—";
  return new Date(ts * 1000).toLocaleTimeString(language() === "zh" ? "zh-CN" : "en-GB",
    { hour12: false });
}

export function dateTime(ts) {
  if (ts === null || ts === undefined) return "—";
  return new Date(ts * 1000).toLocaleString(language() === "zh" ? "zh-CN" : "en-GB",
    { hour12: false });
}

export function severityBadge(severity) {
  return el(`span.sev.${severity}`, { dataset: { severity } }, t(severity));
}

export function message(alert) {
  return language() === "zh" ? alert.message.zh : alert.message.en;
}

export function placeName(alert) {
  if (!alert.place_name) return alert.place;
  return language() === "zh" ? alert.place_name.zh : alert.place_name.en;
}

export function boardOrder(a, b) {
  return (RANK[b.severity] - RANK[a.severity]) || (b.raised_at - a.raised_at);
}

/** Time until the next escalation, or why there is none. */
export function escalationText(alert) {
  if (alert.next_escalation_at === null || alert.next_escalation_at === undefined) {
    return t("no_escalation");
  }
  const left = alert.next_escalation_at - now();
  return left <= 0 ? t("escalates_now") : span(left);
}

export function toldChips(alert, max = 3) {
  const told = alert.told || [];
  const mark = { sent: "✓", pending: "…", failed: "✗", fell_back: "↪" };
  const chips = told.slice(0, max).map((d) => el(`span.chip.${d.state}`,
    { title: `${d.receiver} · ${t(d.state === "failed" ? "failed_d" : d.state)}` },
    `${mark[d.state] || ""} ${d.name || d.recipient || d.receiver}`));
  if (told.length > max) chips.push(el("span.chip", {}, `+${told.length - max}`));
  return chips;
}

// ------------------------------------------------------------------ the API

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { "X-Requested-By": "shouwang-page" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => `${d.loc.slice(1).join(".")}: ${d.msg}`).join("; ");
    if (r.status === 401) sessionEnded();
    throw new ApiError(r.status, detail || `HTTP ${r.status}`);
  }
  return data;
}

// ------------------------------------------------------------------ login

let loginWaiters = [];
let ended = false;

function sessionEnded() {
  if (ended) return;
  ended = true;
  showLogin().then(() => location.reload());
}

function showLogin() {
  const dialog = $("#login");
  dialog.hidden = false;
  $("#login-user").focus();
  return new Promise((resolve) => { loginWaiters.push(resolve); });
}

async function submitLogin(event) {
  event.preventDefault();
  const error = $("#login-error");
  error.textContent = "";
  try {
    const me = await api("/api/login", {
      method: "POST",
      body: { username: $("#login-user").value.trim(), password: $("#login-password").value },
    });
    $("#login").hidden = true;
    $("#login-password").value = "";
    enableSound();
    const waiters = loginWaiters;
    loginWaiters = [];
    waiters.forEach((resolve) => resolve(me));
  } catch (e) {
    error.textContent = `${t("login_failed")}: ${e.message}`;
  }
}

/** Log in (a ?token= link, the session cookie, or the dialog), then start the page. */
export async function boot(start) {
  translatePage();
  document.documentElement.lang = language() === "zh" ? "zh-CN" : "en";
  $("#login-form").addEventListener("submit", submitLogin);
  $("#lang").addEventListener("click", () => { toggleLanguage(); translatePage(); });
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) {
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
    await fetch("/api/login/token", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    }).catch(() => null);
  }
  let me;
  try {
    me = await api("/api/me");
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    ended = false;
    me = await showLogin();
  }
  ended = false;
  document.body.dataset.role = me.role;
  $("#who").textContent = `${me.display_name} · ${me.role}`;
  $("#logout").addEventListener("click", async () => {
    await api("/api/logout", { method: "POST" }).catch(() => null);
    location.reload();
  });
  setInterval(() => { $("#clock").textContent = clockTime(now()); }, 1000);
  start(me);
}

// ------------------------------------------------------------------ the live feed

/**
 * The active alerts, kept up to date over /api/alerts/live. `onChange(alerts, transition)`
 * runs after the snapshot and after each transition; reconnects with backoff.
 */
export class LiveAlerts {
  constructor(onChange) {
    this.alerts = new Map();
    this.onChange = onChange;
    this.delay = 1000;
    this.lastMessage = 0;
    this.state = "connecting";
    onLanguage(() => this.status(this.state));
    this.connect();
    setInterval(() => {
      if (this.socket && this.socket.readyState === WebSocket.OPEN
          && Date.now() - this.lastMessage > 40000) this.socket.close();
    }, 5000);
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/alerts/live`);
    this.socket = socket;
    this.status("connecting");
    socket.onopen = () => { this.delay = 1000; this.status("open"); };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      this.status("closed");
      if (event.code === 4401) { sessionEnded(); return; }
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    };
  }

  status(state) {
    this.state = state;
    const badge = $("#live-status");
    badge.dataset.state = state;
    badge.textContent = state === "open" ? `● ${t("live")}`
      : state === "connecting" ? t("connecting") : t("offline_feed");
  }

  receive(msg) {
    this.lastMessage = Date.now();
    syncClock(msg.now);
    if (msg.type === "snapshot") {
      this.alerts = new Map(msg.alerts.map((a) => [a.id, a]));
      this.onChange(this.list(), null);
    } else if (msg.type === "transition") {
      const alert = msg.alert;
      const known = this.alerts.get(alert.id);
      if (known && known.updated_at > alert.updated_at) return; // a late, older message
      if (alert.active) this.alerts.set(alert.id, alert);
      else this.alerts.delete(alert.id);
      this.onChange(this.list(), msg);
    }
  }

  list() {
    return [...this.alerts.values()].sort(boardOrder);
  }
}

// ------------------------------------------------------------------ the alarm sound

let audio = null;
let alarmOn = false;
let beeping = null;

export function enableSound() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch (e) {
    audio = null;
  }
  showSoundState();
}

function showSoundState() {
  const button = $("#sound");
  if (!button) return;
  const on = audio !== null && audio.state === "running";
  button.textContent = on ? `♪ ${t("sound_on")}` : t("sound_off");
  button.dataset.state = on ? "on" : "off";
}

function beep() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime;
  for (const [offset, freq] of [[0, 988], [0.22, 784]]) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, start + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.2);
    osc.connect(gain).connect(audio.destination);
    osc.start(start + offset);
    osc.stop(start + offset + 0.21);
  }
}

/** Sound while any critical alert waits for someone to acknowledge it. */
export function alarm(alerts) {
  const sounding = alerts.some((a) => a.severity === "critical" && a.state === "active_unack"
    && !a.suppressed);
  document.body.dataset.alarm = sounding ? "on" : "off";
  if (sounding && !alarmOn) {
    beep();
    beeping = setInterval(beep, 1500);
  } else if (!sounding && alarmOn) {
    clearInterval(beeping);
  }
  alarmOn = sounding;
}

export function wireSound() {
  $("#sound").addEventListener("click", enableSound);
  document.addEventListener("pointerdown", enableSound, { once: true });
  onLanguage(showSoundState);
  showSoundState();
}

// ------------------------------------------------------------------ charts (ECharts, on demand)

let echartsLoading = null;

export function loadECharts() {
  if (window.echarts) return Promise.resolve(window.echarts);
  if (!echartsLoading) {
    echartsLoading = new Promise((resolve, reject) => {
      const script = el("script", { src: "/vendor/echarts.min.js" });
      script.onload = () => resolve(window.echarts);
      script.onerror = () => { echartsLoading = null; reject(new Error(t("charts_missing"))); };
      document.head.append(script);
    });
  }
  return echartsLoading;
}

export const OUTCOMES = ["called", "visited", "false_alarm", "hospital", "no_answer"];
