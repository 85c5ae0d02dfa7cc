"""The store on SQLite and PostgreSQL: dedupe, outbox order, delete-my-data, retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.handover import Handover
from bot.store import AuditEntry, Message, Store, utcnow


def test_resent_message_is_stored_once(any_store: Store) -> None:
    contact = any_store.contact("telegram", "42")
    assert any_store.record_inbound(contact.id, "xin chào", "u100") is not None
    assert any_store.record_inbound(contact.id, "xin chào", "u100") is None
    assert any_store.record_inbound(contact.id, "tin khác", "u101") is not None
    assert any_store.contact("telegram", "42").id == contact.id


def test_outbox_keeps_order_behind_a_retry(any_store: Store) -> None:
    a = any_store.contact("telegram", "1")
    b = any_store.contact("telegram", "2")
    first = any_store.queue_outbound(a.id, "bot", "một")
    any_store.queue_outbound(a.id, "bot", "hai")
    any_store.queue_outbound(b.id, "bot", "ba")
    any_store.mark_retry(first.id, delay_s=60)
    due = [(m.text, c.external_id) for m, c in any_store.due_outbound(["telegram"])]
    assert due == [("ba", "2")]  # "hai" waits behind "một"


def test_delete_my_data_removes_contact_messages_and_cases(any_store: Store, settings) -> None:  # noqa: ANN001
    contact = any_store.contact("zalo_oa", "u-1")
    any_store.record_inbound(contact.id, "e buồn", "m1")
    any_store.queue_outbound(contact.id, "bot", "mình nghe đây")
    Handover(any_store, settings).open_escalation(contact.id, "concern", "request_human")
    any_store.delete_contact(contact.id, actor="zalo_oa:self")
    assert any_store.find_contact("zalo_oa", "u-1") is None
    with any_store.session() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.contact_id == contact.id)) == 0
        assert s.scalar(select(AuditEntry.action).where(AuditEntry.target == f"contact:{contact.id}")) == (
            "delete_contact_data"
        )


def test_retention_purges_only_old_messages(any_store: Store) -> None:
    contact = any_store.contact("webchat", "x" * 20)
    old = any_store.record_inbound(contact.id, "cũ", None)
    any_store.record_inbound(contact.id, "mới", None)
    with any_store.session() as s:
        s.execute(update(Message).where(Message.id == old.id).values(created_at=utcnow() - timedelta(days=400)))
    assert any_store.purge_older_than(365) == 1
    assert [m.text for m in any_store.transcript(contact.id)] == ["mới"]
