"""Read-only views of cases for the console's JSON API: the queue, one case file, statistics, the audit log.

Only ids, codes and data are returned; every label the counsellor reads is in the console's static files.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.console.auth import SessionUser
from bot.console.desk import Desk
from bot.handover import Handover
from bot.store import Contact, Counsellor, Escalation, Message, Report, Store, aware, utcnow

REPORT_FIELDS = (
    "code", "reporter_role", "category", "platform", "occurred_when", "ongoing", "child_safe_now", "age_band",
    "description", "consent_contact", "consent_share", "callback_phone", "status",
)


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat().replace("+00:00", "Z") if value else None


def _signals(raw: str | None) -> list[str]:
    return json.loads(raw) if raw else []


def counsellor_names(store: Store) -> dict[int, str]:
    with store.session() as s:
        return dict(s.execute(select(Counsellor.id, Counsellor.display_name)).all())


def case_summary(case: Escalation, contact: Contact, names: dict[int, str], user: SessionUser) -> dict[str, Any]:
    opened = aware(case.opened_at)
    return {
        "id": case.id,
        "risk": case.risk,
        "reason": case.reason,
        "status": case.status,
        "signals": _signals(case.signals),
        "contact_id": contact.id,
        "channel": contact.channel,
        "age_band": contact.age_band,
        "state": contact.state,
        "has_report": case.report_id is not None,
        "opened_at": iso(opened),
        "waiting_s": int((utcnow() - opened).total_seconds()) if opened else 0,
        "claimed_at": iso(case.claimed_at),
        "first_reply_at": iso(case.first_reply_at),
        "resolved_at": iso(case.resolved_at),
        "claimed_by": names.get(case.claimed_by) if case.claimed_by else None,
        "mine": case.claimed_by == user.counsellor_id,
        "can_view": Desk.can_view(case, user),
        "can_claim": case.status == "open",
        "can_reply": Desk.owns(case, user),
        "can_resolve": case.status == "claimed" and (Desk.owns(case, user) or user.is_supervisor),
    }


def queue_view(handover: Handover, store: Store, user: SessionUser) -> dict[str, Any]:
    """Waiting cases in the order they should be taken, then the cases people are on."""
    names = counsellor_names(store)
    waiting = [case_summary(e, c, names, user) for e, c in handover.queue()]
    taken = [case_summary(e, c, names, user) for e, c in handover.cases(("claimed",))]
    return {
        "waiting": waiting,
        "mine": [c for c in taken if c["mine"]],
        "others": [c for c in taken if not c["mine"]],
        "open_hours": handover.is_open(),
    }


def message_json(message: Message, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": message.id,
        "direction": message.direction,
        "sender": message.sender,
        "text": message.text,
        "risk": message.risk,
        "signals": _signals(message.signals),
        "status": message.status,
        "at": iso(message.created_at),
        "counsellor": names.get(message.counsellor_id) if message.counsellor_id else None,
    }


def messages_view(store: Store, contact_id: int, after_id: int) -> list[dict[str, Any]]:
    names = counsellor_names(store)
    return [message_json(m, names) for m in store.transcript(contact_id, after_id=after_id, limit=2000)]


def case_file(desk: Desk, store: Store, case: Escalation, user: SessionUser) -> dict[str, Any]:
    """Everything the counsellor needs on one screen. The caller audits the reading."""
    names = counsellor_names(store)
    contact = store.contact_by_id(case.contact_id)
    with store.session() as s:
        report = s.get(Report, case.report_id) if case.report_id else None
    history = [
        {"id": e.id, "risk": e.risk, "reason": e.reason, "status": e.status, "opened_at": iso(e.opened_at),
         "resolved_at": iso(e.resolved_at), "claimed_by": names.get(e.claimed_by) if e.claimed_by else None,
         "can_view": Desk.can_view(e, user)}
        for e in desk.handover.history_for(case.contact_id) if e.id != case.id
    ]
    notes = [{"id": n.id, "escalation_id": n.escalation_id, "author": names.get(n.counsellor_id), "text": n.text,
              "at": iso(n.created_at)} for n in desk.notes(case.contact_id)]
    return {
        "case": case_summary(case, contact, names, user),
        "contact": {"id": contact.id, "channel": contact.channel, "age_band": contact.age_band,
                    "consent_contact": contact.consent_contact, "consent_share": contact.consent_share,
                    "state": contact.state, "first_seen_at": iso(contact.created_at)},
        "report": {f: (iso(getattr(report, f)) if isinstance(getattr(report, f), datetime) else getattr(report, f))
                   for f in (*REPORT_FIELDS, "created_at")} if report else None,
        "history": history,
        "notes": notes,
        "bridge": bridge_view(store, case.contact_id),
        "messages": messages_view(store, case.contact_id, 0),
    }


def bridge_view(store: Store, contact_id: int) -> dict[str, Any] | None:
    """What the assistant asked and was told while the child waited, and the child's safety plan."""
    bridge = store.bridge(contact_id)
    answers, plan = json.loads(bridge.answers or "{}"), json.loads(bridge.plan or "{}")
    if not (answers or plan or bridge.left_queue_at):
        return None
    return {"answers": answers, "plan": plan, "left_queue_at": iso(bridge.left_queue_at)}


def _median_seconds(spans: list[timedelta]) -> float | None:
    return round(statistics.median(s.total_seconds() for s in spans), 1) if spans else None


def statistics_view(store: Store, days: int = 30) -> dict[str, Any]:
    """Cases opened in the last `days`: by risk and status, and the median waits children had."""
    since = utcnow() - timedelta(days=days)
    with store.session() as s:
        cases = list(s.scalars(select(Escalation).where(Escalation.opened_at >= since)))
    by_risk = {risk: 0 for risk in ("imminent", "high", "concern", "none")}
    by_status = {status: 0 for status in ("open", "claimed", "resolved")}
    to_claim, to_reply = [], []
    for case in cases:
        by_risk[case.risk] = by_risk.get(case.risk, 0) + 1
        by_status[case.status] = by_status.get(case.status, 0) + 1
        if case.claimed_at:
            to_claim.append(aware(case.claimed_at) - aware(case.opened_at))
        if case.first_reply_at:
            to_reply.append(aware(case.first_reply_at) - aware(case.opened_at))
    return {
        "days": days,
        "total": len(cases),
        "by_risk": by_risk,
        "by_status": by_status,
        "median_to_claim_s": _median_seconds(to_claim),
        "median_to_first_reply_s": _median_seconds(to_reply),
    }


def audit_view(store: Store, limit: int = 300) -> list[dict[str, Any]]:
    return [{"id": a.id, "at": iso(a.at), "actor": a.actor, "action": a.action, "target": a.target}
            for a in store.audit_entries(limit)]
