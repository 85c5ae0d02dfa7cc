// The live queue: waiting cases (most urgent first), my cases, colleagues' cases; "take the next case".
"use strict";

(() => {
  const {api, el, label, riskBadge, signalChips, time, duration, live, debounce, errorText} = Console;
  const result = document.getElementById("take-next-result");
  let loadedAt = Date.now();
  let waiting = [];

  const caseLink = (c, text) => el("a", {href: "/console/cases/" + c.id, class: "button"}, text);

  async function claim(id) {
    const {ok, status} = await api("POST", `/cases/${id}/claim`);
    if (ok) { location.href = "/console/cases/" + id; return; }
    result.textContent = errorText(status);
    load();
  }

  function waitingRow(c) {
    return el("tr", {class: "risk-row-" + c.risk, dataset: {case: c.id}},
      el("td", {}, riskBadge(c.risk)),
      el("td", {class: "waited", dataset: {waiting: c.waiting_s}}, duration(c.waiting_s)),
      el("td", {}, label("channel", c.channel)),
      el("td", {}, label("reason", c.reason), c.has_report ? el("span", {class: "chip report"}, "có báo cáo") : null),
      el("td", {}, signalChips(c.signals)),
      el("td", {}, c.age_band || "–"),
      el("td", {class: "row-actions"},
        el("button", {type: "button", class: "primary claim", onclick: () => claim(c.id)}, "Nhận"),
        caseLink(c, "Xem")));
  }

  function takenRow(c, mine) {
    return el("tr", {class: "risk-row-" + c.risk, dataset: {case: c.id}},
      el("td", {}, riskBadge(c.risk)),
      el("td", {}, time(c.claimed_at)),
      el("td", {}, label("channel", c.channel)),
      el("td", {}, label("reason", c.reason)),
      el("td", {}, mine ? signalChips(c.signals) : c.claimed_by),
      el("td", {}, c.age_band || "–"),
      el("td", {class: "row-actions"}, c.can_view ? caseLink(c, mine ? "Mở" : "Xem") : null));
  }

  function fill(id, rows) {
    document.querySelector(`#${id} tbody`).replaceChildren(...rows);
    document.getElementById(id + "-count").textContent = rows.length;
    document.getElementById(id + "-empty").hidden = rows.length > 0;
    document.getElementById(id).hidden = rows.length === 0;
  }

  async function load() {
    const {ok, data} = await api("GET", "/queue");
    if (!ok) return;
    loadedAt = Date.now();
    waiting = data.waiting;
    fill("waiting", data.waiting.map(waitingRow));
    fill("mine", data.mine.map(c => takenRow(c, true)));
    fill("others", data.others.map(c => takenRow(c, false)));
    document.getElementById("hours").dataset.open = String(data.open_hours);
    document.title = (waiting.length ? `(${waiting.length}) ` : "") + "Hàng chờ – Bảng điều khiển tư vấn viên";
  }

  // Waiting times tick every second without asking the server.
  setInterval(() => {
    const elapsed = (Date.now() - loadedAt) / 1000;
    for (const cell of document.querySelectorAll("td.waited")) {
      cell.textContent = duration(Number(cell.dataset.waiting) + elapsed);
    }
  }, 1000);

  document.getElementById("take-next").addEventListener("click", async () => {
    const {ok, status, data} = await api("POST", "/take-next");
    if (ok && data.case) { location.href = "/console/cases/" + data.case; return; }
    result.textContent = ok ? "Không còn ca nào đang chờ." : errorText(status);
    load();
  });

  const reload = debounce(load, 150);
  live((kind, payload) => {
    if (kind === "renotify") {
      const row = document.querySelector(`tr[data-case="${payload.escalation_id}"]`);
      if (row) row.classList.add("renotified");
    }
    if (kind !== "message" && kind !== "reply") reload();
  });
  setInterval(load, 30000);  // a safety net if the stream is down
  load();
})();
