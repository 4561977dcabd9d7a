from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.sending.rows import insert_rows

pytestmark = pytest.mark.django_db

NAMES = ["message", "batch", "phone", "variables", "status", "tx_id", "error_code", "created_at"]


def _rows(msg: Message, batch: MessageBatch, phones: list[str]) -> list[tuple[object, ...]]:
    field = Recipient._meta.get_field("variables")
    now = timezone.now()
    return [
        (
            msg.pk,
            batch.pk,
            phone,
            field.get_db_prep_save({"n": i, "name": "สมชาย"}, connection),
            "queued",
            "",
            "",
            now,
        )
        for i, phone in enumerate(phones)
    ]


@pytest.fixture
def batch() -> MessageBatch:
    msg = Message.objects.create(origin="SHOP", text="t", recipient_count=3000)
    return MessageBatch.objects.create(message=msg, recipient_count=3000)


def test_many_rows_in_one_logged_write(batch: MessageBatch) -> None:
    phones = [f"6681{i:07d}" for i in range(3000)]
    with CaptureQueriesContext(connection) as ctx:
        insert_rows(Recipient, NAMES, _rows(batch.message, batch, phones))
    writes = [q["sql"] for q in ctx.captured_queries]
    if connection.vendor in ("postgresql", "sqlite"):
        assert len(writes) == 1
    stored = Recipient.objects.filter(batch=batch).order_by("id")
    assert stored.count() == 3000
    last = stored.last()
    assert last is not None
    assert last.phone == phones[-1]
    assert last.variables == {"n": 2999, "name": "สมชาย"}
    assert last.message_id == batch.message_id


def test_nothing_to_insert_makes_no_query(batch: MessageBatch) -> None:
    with CaptureQueriesContext(connection) as ctx:
        insert_rows(Recipient, NAMES, [])
    assert ctx.captured_queries == []


def test_a_violation_raises_djangos_integrity_error_and_keeps_nothing(
    batch: MessageBatch,
) -> None:
    rows = _rows(batch.message, batch, ["66812345678", "66812345679", "66812345678"])
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Recipient, NAMES, rows)
    assert not Recipient.objects.exists()


def test_multi_row_statements_where_neither_copy_nor_executemany_is_used(
    batch: MessageBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("django_sepsms.sending.rows._strategy", lambda connection: "values")
    phones = [f"6681{i:07d}" for i in range(300)]
    with CaptureQueriesContext(connection) as ctx:
        insert_rows(Recipient, NAMES, _rows(batch.message, batch, phones))
    assert all(q["sql"].startswith("INSERT INTO") for q in ctx.captured_queries)
    assert sorted(Recipient.objects.values_list("phone", flat=True)) == phones
