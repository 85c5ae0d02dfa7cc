// Shared by every console page: labels, the JSON API with its CSRF token, formatting, the live stream.
"use strict";

const Console = (() => {
  const LABELS = {
    risk: {imminent: "Khẩn cấp", high: "Cao", concern: "Cần chú ý", none: "Không rõ"},
    channel: {webchat: "Web chat", telegram: "Telegram", zalo_oa: "Zalo OA", zalo_bot: "Zalo Bot"},
    reason: {safety: "Sàng lọc an toàn", request_human: "Trẻ muốn gặp tư vấn viên", report: "Báo cáo sự việc",
             counsellor: "Tư vấn viên mở"},
    status: {open: "Đang chờ", claimed: "Đang hỗ trợ", resolved: "Đã trả lại cho trợ lý"},
    sender: {child: "Trẻ", bot: "Trợ lý", counsellor: "Tư vấn viên", system: "Thông báo hệ thống"},
    delivery: {queued: "đang gửi", sent: "đã gửi", failed: "gửi không được"},
    state: {bot: "Trợ lý đang trả lời", waiting_human: "Đang chờ tư vấn viên", human: "Tư vấn viên đang trả lời"},
    signal: {
      suicide_plan_now: "kế hoạch tự tử ngay", last_night: "lời từ biệt", meeting_now: "sắp gặp người lạ",
      at_height_now: "đang ở chỗ cao", overdose_now: "uống thuốc quá liều", weapon_now: "có hung khí",
      being_hurt_now: "đang bị làm hại", suicidal_ideation: "ý nghĩ tự tử", self_harm: "tự làm hại bản thân",
      threat_to_body: "bị đe doạ thân thể", sexual_abuse: "xâm hại tình dục", sextortion: "tống tiền bằng ảnh",
      secret_meeting: "hẹn gặp bí mật", trafficking_or_lure: "dụ dỗ, mua bán người", method_seeking: "tìm cách tự tử",
      grooming_pressure: "dụ dỗ, gây áp lực", friend_at_risk: "bạn bè gặp nguy", sadness: "buồn bã",
      fear: "sợ hãi", bullied: "bị bắt nạt",
      // added by the screen from the conversation's previous turns
      follows_high_risk: "ngay sau tin nguy cơ cao", plan_after_risk: "kế hoạch ngay sau tin nguy cơ",
      repeated_concern: "lo ngại lặp lại", recent_concern: "vừa có tin đáng lo",
      // the learned model (bot/safety/model.py); "model:<level>=<p>" chips show its reading as they are
      possible_risk: "có thể có nguy cơ (đã hỏi trẻ)", lowered_by_model: "mô hình: cách nói thông thường",
      negated: "có phủ định",
      // raised by the assistant's safety questions while the child waited (bot/bridge)
      check_thinking_yes: "trả lời: có nghĩ đến tự tử", check_plan_yes: "trả lời: đã nghĩ lúc nào/cách nào",
      check_safe_now_no: "trả lời: không an toàn lúc này", check_safe_now_unsure: "trả lời: chưa chắc an toàn",
      check_safe_now_retract: "trả lời: không an toàn lúc này",
    },
    // What the assistant asked and was told while the child waited (bot/bridge)
    question: {thinking: "Có nghĩ đến tự làm hại / tự tử", plan: "Đã nghĩ lúc nào, cách nào",
               safe_now: "An toàn lúc này"},
    answer: {yes: "Có", no: "Không", unsure: "Chưa chắc", retract: "Bảo là đùa / không sao"},
    plan: {warning_signs: "Dấu hiệu báo trước", calming: "Điều giúp dịu lại", people: "Người có thể tìm đến",
           safe_place: "Giữ chỗ ở an toàn"},
    report: {
      reporter_role: "Người báo", category: "Loại sự việc", platform: "Nền tảng", occurred_when: "Khi nào",
      ongoing: "Còn đang diễn ra", child_safe_now: "Trẻ hiện an toàn", age_band: "Độ tuổi của trẻ",
      description: "Mô tả", consent_contact: "Đồng ý được liên hệ lại", consent_share: "Đồng ý chia sẻ thông tin",
      callback_phone: "Số điện thoại gọi lại", status: "Trạng thái báo cáo", created_at: "Gửi lúc",
    },
    action: {
      read_transcript: "đọc hội thoại", claim_case: "nhận ca", resolve_case: "trả lại cho trợ lý",
      login: "đăng nhập", logout: "đăng xuất", delete_contact_data: "xoá dữ liệu", create_account: "tạo tài khoản",
      disable_account: "khoá tài khoản", enable_account: "mở lại tài khoản", set_password: "đổi mật khẩu",
    },
    yes: "Có", no: "Không", unknown: "Chưa rõ",
    errors: {
      401: "Phiên đăng nhập đã hết. Vui lòng đăng nhập lại.",
      403: "Bạn không có quyền làm việc này (ca do người khác nhận, hoặc phiên đã hết hạn).",
      404: "Ca không còn tồn tại (có thể trẻ đã xoá dữ liệu).",
      409: "Ca đã được người khác nhận hoặc đã đóng.",
      413: "Tin nhắn quá dài.",
      other: "Có lỗi, vui lòng thử lại.",
    },
  };

  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function api(method, path, body) {
    const options = {method, headers: {"Accept": "application/json"}, credentials: "same-origin"};
    if (method !== "GET") {
      options.headers["X-CSRF-Token"] = csrf();
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    const response = await fetch("/console/api" + path, options);
    if (response.status === 401) { location.href = "/console/login"; }
    const data = await response.json().catch(() => ({}));
    return {ok: response.ok, status: response.status, data};
  }

  const errorText = (status) => LABELS.errors[status] || LABELS.errors.other;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const label = (group, key) => (LABELS[group] && LABELS[group][key]) || key || LABELS.unknown;
  const riskBadge = (risk) => el("span", {class: "badge risk-" + (risk || "none")}, label("risk", risk));
  const signalChips = (signals) => (signals || []).map(s => el("span", {class: "chip", title: s}, label("signal", s)));
  const yesNo = (value) => value === true ? LABELS.yes : value === false ? LABELS.no : LABELS.unknown;

  function time(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay ? date.toLocaleTimeString("vi-VN", {hour: "2-digit", minute: "2-digit"})
                   : date.toLocaleString("vi-VN", {dateStyle: "short", timeStyle: "short"});
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " giây";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " phút";
    const hours = Math.floor(minutes / 60);
    return hours + " giờ " + (minutes % 60) + " phút";
  }

  // The live stream: server-sent events, re-connecting on its own; the page also re-reads periodically.
  function live(onEvent) {
    const indicator = document.getElementById("live");
    const kinds = ["escalation", "queue", "claimed", "resolved", "reply", "message", "renotify"];
    let source;
    function connect() {
      source = new EventSource("/console/api/events");
      source.addEventListener("hello", () => { if (indicator) indicator.dataset.state = "on"; onEvent("hello", {}); });
      for (const kind of kinds) {
        source.addEventListener(kind, (event) => onEvent(kind, JSON.parse(event.data || "{}")));
      }
      source.onerror = () => { if (indicator) indicator.dataset.state = "off"; };
    }
    connect();
    return () => source.close();
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  return {LABELS, api, el, label, riskBadge, signalChips, yesNo, time, duration, live, debounce, errorText};
})();
