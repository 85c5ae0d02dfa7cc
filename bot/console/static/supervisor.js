// Supervisors: cases by risk and status, median waits, and the audit log.
"use strict";

(() => {
  const {api, el, label, riskBadge, time, duration} = Console;
  const $ = (id) => document.getElementById(id);

  function target(text) {
    const [kind, id] = text.split(":");
    const names = {contact: "Người liên hệ", escalation: "Ca", counsellor: "Tài khoản"};
    if (kind === "escalation") return el("a", {href: "/console/cases/" + id}, `${names[kind]} #${id}`);
    return names[kind] ? `${names[kind]} #${id}` : text;
  }

  async function load() {
    const stats = await api("GET", "/stats");
    if (stats.ok) {
      const s = stats.data;
      $("days").textContent = s.days;
      $("total").textContent = s.total;
      $("median-claim").textContent = duration(s.median_to_claim_s);
      $("median-reply").textContent = duration(s.median_to_first_reply_s);
      $("by-risk").querySelector("tbody").replaceChildren(...Object.entries(s.by_risk).map(([risk, n]) =>
        el("tr", {}, el("td", {}, riskBadge(risk)), el("td", {class: "number"}, n))));
      $("by-status").querySelector("tbody").replaceChildren(...Object.entries(s.by_status).map(([status, n]) =>
        el("tr", {}, el("td", {}, label("status", status)), el("td", {class: "number"}, n))));
    }
    const audit = await api("GET", "/audit");
    if (audit.ok) {
      $("audit").querySelector("tbody").replaceChildren(...audit.data.entries.map(a =>
        el("tr", {}, el("td", {}, time(a.at)), el("td", {}, a.actor), el("td", {}, label("action", a.action)),
           el("td", {}, target(a.target)))));
    }
  }
  setInterval(load, 30000);
  load();
})();
