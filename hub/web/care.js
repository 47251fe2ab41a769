// 虚拟养老院: residents' alerts first (SOS, fall, inactivity, vitals) with outcomes, then
// everyone in the programme — their day, the next check-in due, their history.

import {
  $, LiveAlerts, OUTCOMES, alarm, api, boot, clockTime, closeDrawer, dateTime, el,
  escalationText, language, message, now, onLanguage, openDrawer, placeName, severityBadge,
  span, t, toast, toldChips, wireSound,
} from "/static/common.js";

const state = { me: null, alerts: [], residents: [], residentId: null, drafts: new Map() };

boot(start);

function start(me) {
  state.me = me;
  wireSound();
  document.querySelectorAll("[data-close]").forEach((b) => b.addEventListener("click", () => {
    closeDrawer(b.dataset.close);
    state.residentId = null;
  }));
  api("/api/site").then((site) => { $("#site-name").textContent = site.name; });
  new LiveAlerts(onAlerts);
  refreshResidents();
  setInterval(refreshResidents, 15000);
  setInterval(tick, 1000);
  onLanguage(() => { renderAlerts(); renderResidents(); if (state.residentId) openResident(state.residentId); });
}

// ------------------------------------------------------------------ residents' alerts

let soon = null;
let renderTimer = null;

function onAlerts(alerts) {
  state.alerts = alerts.filter((a) => a.category === "elderly_care" || a.resident);
  alarm(state.alerts.filter((a) => a.category === "elderly_care"));
  if (!renderTimer) renderTimer = setTimeout(() => { renderTimer = null; renderAlerts(); }, 120);
  clearTimeout(soon);
  soon = setTimeout(refreshResidents, 1000);
}

function mayHandle(alert) {
  const p = state.me.permissions;
  return p.handle_alerts || (p.handle_care_alerts && alert.category === "elderly_care");
}

function saveDrafts() {
  // Keep what an operator is typing when a new alert re-renders the queue.
  document.querySelectorAll(".care-card").forEach((card) => {
    const note = card.querySelector("textarea");
    const picked = card.querySelector("input[name^=outcome]:checked");
    if (note) state.drafts.set(card.dataset.alertId, { note: note.value, outcome: picked?.value });
  });
}

function renderAlerts() {
  saveDrafts();
  const care = state.alerts.filter((a) => a.category === "elderly_care");
  const other = state.alerts.filter((a) => a.category !== "elderly_care");
  $("#stat-care").textContent = care.length;
  $("#stat-care").classList.toggle("hot", care.some((a) => a.state === "active_unack"));
  $("#care-alerts").replaceChildren(...care.map(card));
  $("#no-care-alerts").hidden = care.length > 0;
  $("#other-title").hidden = other.length === 0;
  $("#other-alerts").replaceChildren(...other.map(card));
}

function card(a) {
  const draft = state.drafts.get(a.id) || {};
  const who = a.resident ? a.resident.name : placeName(a);
  const form = mayHandle(a) ? el("form.act.write", { onsubmit: (e) => e.preventDefault() },
    a.category === "elderly_care" ? el("div.outcomes", {}, OUTCOMES.map((o) => el("label", {},
      el("input", { type: "radio", name: `outcome-${a.id}`, value: o, checked: draft.outcome === o }), t(o)))) : null,
    el("textarea", { placeholder: t("note"), value: draft.note || "", maxLength: 2000 }),
    el("div.row", {},
      a.state === "active_unack" ? el("button.primary", { type: "button", dataset: { action: "ack" }, onclick: (e) => act(a, "ack", e) }, t("submit_ack")) : null,
      el("button.danger", { type: "button", dataset: { action: "clear" }, onclick: (e) => act(a, "clear", e) }, t("submit_clear")))) : null;
  return el("div.care-card", { dataset: { alertId: a.id, severity: a.severity, state: a.state } },
    el("div.head", {}, severityBadge(a.severity), el("span.who", {}, who),
      a.resident ? el("a", { href: "#", onclick: (e) => { e.preventDefault(); openResident(a.resident.id); } }, t("history")) : null,
      a.exercise ? el("span.tag.exercise", {}, t("exercise")) : null),
    el("div.msg", {}, message(a)),
    el("div.meta", {},
      el("span", {}, placeName(a)),
      el("span", {}, `${t("raised")} ${clockTime(a.raised_at)}`),
      el("span.timer", { dataset: { since: a.raised_at } }, span(now() - a.raised_at)),
      el("span", {}, `${t("escalation")}: `, el("span.timer", { dataset: { esc: a.id } }, escalationText(a))),
      a.acknowledged_by ? el("span", {}, t("acked_by", a.acknowledged_by)) : null),
    el("div", {}, toldChips(a, 4)),
    form);
}

async function act(a, verb, event) {
  const cardEl = event.target.closest(".care-card");
  const picked = cardEl.querySelector("input[type=radio]:checked");
  const note = cardEl.querySelector("textarea").value.trim() || null;
  if (a.category === "elderly_care" && !picked) {
    toast(t("choose_outcome"), "error");
    return;
  }
  const body = { note };
  if (picked) body.outcome = picked.value;
  try {
    await api(`/api/alerts/${a.id}/${verb}`, { method: "POST", body });
    state.drafts.delete(a.id);
    toast(t("saved"));
  } catch (e) {
    toast(`${t("failed")}: ${e.message}`, "error");
  }
}

function tick() {
  document.querySelectorAll("[data-since]").forEach((node) => {
    node.textContent = span(now() - Number(node.dataset.since));
  });
  const byId = new Map(state.alerts.map((a) => [a.id, a]));
  document.querySelectorAll("[data-esc]").forEach((node) => {
    const alert = byId.get(node.dataset.esc);
    if (alert) node.textContent = escalationText(alert);
  });
}

// ------------------------------------------------------------------ residents

async function refreshResidents() {
  try {
    state.residents = await api("/api/residents");
  } catch (e) {
    return;
  }
  renderResidents();
}

function dayBars(hours) {
  const top = Math.max(1, ...hours);
  const current = new Date(now() * 1000).getHours();
  return el("div.day", { title: hours.join(" ") }, hours.map((n, h) => el(`i${h > current ? ".future" : n ? "" : ".zero"}`, {
    style: `height:${h > current ? 100 : Math.max(8, Math.round(100 * n / top))}%`,
  })));
}

function dueText(due) {
  const left = due - now();
  return left <= 0 ? t("overdue", span(-left)) : t("due_in", span(left));
}

function isDue(r) {
  return !r.last_check_in || r.next_check_in_due <= now();
}

function renderResidents() {
  $("#stat-residents").textContent = state.residents.length;
  const overdue = state.residents.filter(isDue).length;
  $("#stat-overdue").textContent = overdue;
  $("#stat-overdue").classList.toggle("hot", overdue > 0);
  $("#residents").replaceChildren(...state.residents.map((r) => el("tr.clickable", {
    dataset: { resident: r.id }, onclick: () => openResident(r.id),
  },
  el("td", {}, el("strong", {}, r.name), r.lives_alone ? el("span.tag", {}, t("lives_alone")) : null),
  el("td", {}, language() === "zh" ? r.place_name.zh : r.place_name.en),
  el("td", {}, el(`span.level.${r.care_level}`, {}, t(r.care_level))),
  el("td.sub", {}, r.contacts.join(", ") || "—"),
  el("td.timer", {}, r.activity.last_activity ? t("ago", span(now() - r.activity.last_activity)) : "—"),
  el("td", {}, dayBars(r.activity.hours)),
  el(`td.timer.due${isDue(r) ? ".over" : ""}`, {}, r.last_check_in ? dueText(r.next_check_in_due) : t("never_checked")),
  el("td", {}, r.alerts.map((a) => severityBadge(a.severity))),
  el("td", {}, state.me.permissions.check_in ? el("button.write", {
    onclick: (e) => { e.stopPropagation(); openResident(r.id, true); },
  }, t("check_in")) : null))));
}

async function openResident(id, focusCheckIn = false) {
  state.residentId = id;
  let data;
  try {
    data = await api(`/api/residents/${id}`);
  } catch (e) {
    toast(e.message, "error");
    return;
  }
  const r = data.resident;
  $("#resident-title").replaceChildren(el("span", {}, r.name), el(`span.level.${r.care_level}`, {}, t(r.care_level)));
  const facts = [
    [t("place"), language() === "zh" ? r.place_name.zh : r.place_name.en],
    [t("contacts"), r.contacts.join(", ") || "—"],
    [t("last_activity"), r.activity.last_activity ? dateTime(r.activity.last_activity) : "—"],
    [t("next_check_in"), `${dateTime(r.next_check_in_due)} (${dueText(r.next_check_in_due)})`],
    [t("devices"), r.devices.map((d) => `${language() === "zh" ? d.kind_label : d.kind}${d.online ? "" : ` (${t("offline")})`}`).join("、")],
  ];
  const checkInForm = state.me.permissions.check_in ? el("form.act.write#checkin-form", {
    onsubmit: (e) => { e.preventDefault(); checkIn(r.id); },
  },
  el("strong", {}, t("check_in")),
  el("div.outcomes", {}, OUTCOMES.filter((o) => o !== "false_alarm").map((o) => el("label", {},
    el("input", { type: "radio", name: "checkin-outcome", value: o, required: true }), t(o)))),
  el("textarea#checkin-note", { placeholder: t("note"), maxLength: 2000 }),
  el("div.row", {}, el("button.primary", { type: "submit" }, t("check_in")))) : null;
  $("#resident-body").replaceChildren(
    el("dl.facts", {}, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("h3", {}, t("today")), dayBars(r.activity.hours),
    checkInForm,
    el("h3", {}, t("alert_history")),
    data.alerts.length ? el("table", {}, el("tbody", {}, data.alerts.map((a) => el("tr", {},
      el("td.timer", {}, dateTime(a.raised_at)), el("td", {}, severityBadge(a.severity)),
      el("td", {}, message(a)), el("td", {}, t(a.state)),
      el("td.sub", {}, [a.acknowledged_by, a.cleared_by].filter(Boolean).join(" / ")))))) : el("div.sub", {}, t("none")),
    el("h3", {}, t("check_ins")),
    data.check_ins.length ? el("table", {}, el("tbody", {}, data.check_ins.map((c) => el("tr", {},
      el("td.timer", {}, dateTime(c.ts)), el("td", {}, t(c.outcome)), el("td", {}, c.user),
      el("td.sub", {}, c.note || ""))))) : el("div.sub", {}, t("none")));
  openDrawer("#resident");
  if (focusCheckIn) $("#checkin-note")?.focus();
}

async function checkIn(id) {
  const picked = document.querySelector("#checkin-form input[name=checkin-outcome]:checked");
  try {
    await api(`/api/residents/${id}/checkins`, {
      method: "POST", body: { outcome: picked.value, note: $("#checkin-note").value.trim() || null },
    });
    toast(t("saved"));
    await refreshResidents();
    openResident(id);
  } catch (e) {
    toast(`${t("failed")}: ${e.message}`, "error");
  }
}
