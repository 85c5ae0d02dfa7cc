// One case: the whole conversation live, the case file, notes, and the counsellor's actions.
"use strict";

(() => {
  const {LABELS, api, el, label, riskBadge, signalChips, yesNo, time, debounce, live, errorText} = Console;
  const caseId = document.getElementById("case").dataset.case;
  const transcript = document.getElementById("transcript");
  const result = document.getElementById("action-result");
  const $ = (id) => document.getElementById(id);
  let contactId = null;
  let lastId = 0;
  const RISKY = new Set(["concern", "high", "imminent"]);

  function message(m) {
    const who = m.sender === "counsellor" && m.counsellor ? `${label("sender", m.sender)} ${m.counsellor}`
                                                        : label("sender", m.sender);
    const risky = m.direction === "in" && RISKY.has(m.risk);
    return el("li", {class: `msg ${m.direction} sender-${m.sender}` + (risky ? " flagged risk-" + m.risk : ""),
                     dataset: {id: m.id}},
      el("div", {class: "meta"},
        el("span", {class: "who"}, who),
        el("time", {datetime: m.at}, time(m.at)),
        risky ? riskBadge(m.risk) : null,
        m.direction === "out" && m.status !== "sent"
          ? el("span", {class: "delivery delivery-" + m.status}, label("delivery", m.status)) : null),
      el("p", {class: "text"}, m.text),
      risky && m.signals.length ? el("div", {class: "signals"}, signalChips(m.signals)) : null);
  }

  function addMessages(messages) {
    const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
    for (const m of messages) {
      const existing = transcript.querySelector(`li[data-id="${m.id}"]`);
      if (existing) existing.replaceWith(message(m)); else transcript.append(message(m));
      lastId = Math.max(lastId, m.id);
    }
    if (messages.length && atBottom) transcript.scrollTop = transcript.scrollHeight;
  }

  function showCase(c) {
    $("risk-badge").replaceChildren(riskBadge(c.risk));
    $("status").textContent = label("status", c.status);
    $("status").dataset.status = c.status;
    $("reason").textContent = label("reason", c.reason);
    $("signals").replaceChildren(...(c.signals.length ? signalChips(c.signals) : ["–"]));
    $("opened").textContent = time(c.opened_at);
    $("claimed-by").textContent = c.claimed_by ? `${c.claimed_by} (${time(c.claimed_at)})` : "–";
    $("first-reply").textContent = time(c.first_reply_at);
    $("claim").hidden = !c.can_claim;
    $("resolve").hidden = !c.can_resolve;
    $("reply-form").hidden = !c.can_reply;
    $("reply-hint").hidden = c.can_reply || c.status === "resolved";
    $("note-form").hidden = !(c.can_reply || document.body.dataset.role === "supervisor");
  }

  function dl(target, entries) {
    target.replaceChildren(...entries.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
  }

  function showFile(file) {
    contactId = file.contact.id;
    showCase(file.case);
    $("channel").textContent = label("channel", file.contact.channel);
    $("age-band").textContent = file.contact.age_band || LABELS.unknown;
    $("consent-contact").textContent = yesNo(file.contact.consent_contact);
    $("consent-share").textContent = yesNo(file.contact.consent_share);
    if (file.report) {
      $("report-box").hidden = false;
      $("report-code").textContent = file.report.code || "";
      const shown = Object.entries(file.report).filter(([key]) => key !== "code");
      dl($("report"), shown.map(([key, value]) => [
        label("report", key),
        typeof value === "boolean" || value === null ? yesNo(value)
          : key === "created_at" ? time(value) : String(value)]));
    }
    if (file.bridge) {
      $("bridge-box").hidden = false;
      dl($("bridge-answers"), Object.entries(file.bridge.answers).map(([q, a]) => [label("question", q), label("answer", a)]));
      const plan = Object.entries(file.bridge.plan);
      $("plan-title").hidden = plan.length === 0;
      dl($("bridge-plan"), plan.map(([step, text]) => [label("plan", step), text]));
      $("left-queue").hidden = !file.bridge.left_queue_at;
      if (file.bridge.left_queue_at) $("left-queue").textContent = `Trẻ đã rời hàng chờ lúc ${time(file.bridge.left_queue_at)}.`;
    }
    $("history").replaceChildren(...file.history.map(h => el("li", {},
      riskBadge(h.risk), " ", h.can_view ? el("a", {href: "/console/cases/" + h.id}, "Ca #" + h.id) : "Ca #" + h.id,
      ` · ${label("reason", h.reason)} · ${time(h.opened_at)} · ${label("status", h.status)}`,
      h.claimed_by ? ` · ${h.claimed_by}` : "")));
    $("history-empty").hidden = file.history.length > 0;
    $("notes").replaceChildren(...file.notes.map(note));
    transcript.replaceChildren();
    addMessages(file.messages);
    transcript.scrollTop = transcript.scrollHeight;
  }

  const note = (n) => el("li", {},
    el("div", {class: "meta"}, el("span", {class: "who"}, n.author || ""), el("time", {}, time(n.at)),
       String(n.escalation_id) !== caseId ? el("span", {class: "chip"}, "Ca #" + n.escalation_id) : null),
    el("p", {}, n.text));

  async function loadFile() {
    const {ok, status, data} = await api("GET", `/cases/${caseId}`);
    if (!ok) { result.textContent = errorText(status); return; }
    showFile(data);
  }

  // Replies still being delivered are read again, so their status ("đang gửi" -> sent/failed) stays true.
  function readFrom() {
    const undelivered = [...transcript.querySelectorAll("li.msg.out .delivery-queued")]
      .map(node => Number(node.closest("li").dataset.id));
    return undelivered.length ? Math.max(1, Math.min(lastId, ...undelivered) - 1) : lastId;
  }

  async function refresh() {
    const {ok, status, data} = await api("GET", `/cases/${caseId}/messages?after=${readFrom()}`);
    if (!ok) { result.textContent = errorText(status); return; }
    showCase(data.case);
    addMessages(data.messages);
  }

  async function act(path, body) {
    const {ok, status, data} = await api("POST", `/cases/${caseId}${path}`, body);
    result.textContent = ok ? "" : errorText(status);
    return ok ? data : null;
  }

  $("claim").addEventListener("click", async () => { if (await act("/claim")) refresh(); });
  $("resolve").addEventListener("click", async () => {
    if (!confirm("Trả cuộc trò chuyện lại cho trợ lý? Trẻ sẽ được báo là tư vấn viên đã rời đi.")) return;
    if (await act("/resolve")) { result.textContent = "Đã trả lại cho trợ lý."; refresh(); }
  });

  const replyBox = $("reply");
  async function sendReply(event) {
    event.preventDefault();
    const text = replyBox.value.trim();
    if (!text) return;
    replyBox.disabled = true;
    const sent = await act("/reply", {text});
    replyBox.disabled = false;
    if (sent) { replyBox.value = ""; await refresh(); }
    replyBox.focus();
  }
  $("reply-form").addEventListener("submit", sendReply);
  replyBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) sendReply(event);
  });

  $("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("note").value.trim();
    if (!text) return;
    const saved = await act("/notes", {text});
    if (saved) {
      $("notes").append(note({author: document.querySelector("header .who").textContent, at: new Date().toISOString(),
                              text, escalation_id: caseId}));
      $("note").value = "";
    }
  });

  const refreshSoon = debounce(refresh, 100);
  live((kind, payload) => {
    if (kind === "hello") { if (lastId) refreshSoon(); return; }  // re-connected: catch up
    if (payload.contact_id === contactId || String(payload.escalation_id) === caseId) refreshSoon();
  });
  // Replies the pipeline queues (and deliveries) raise no event: re-read now and then.
  setInterval(() => { if (contactId !== null) refresh(); }, 5000);
  loadFile();
})();
