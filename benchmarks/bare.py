"""The essential work of a send, done bare: the baselines of bench_send.py and bench_campaign.py.

What no implementation of "record every number, then send it" can skip, and
nothing more:

- the ``Message`` row and its ``MessageBatch`` rows, each inserted by one plain
  statement that returns their ids, and the recipient rows written with the
  app's own :func:`django_sepsms.sending.rows.insert_rows` (``COPY`` on
  PostgreSQL, one prepared statement on SQLite), all in one transaction, as
  the app records a send before anything leaves;
- for each batch, the same ``POST /message/send`` (same payload, same headers)
  on one keep-alive ``requests.Session``, its JSON answer read;
- one ``UPDATE`` of the batch's row with that answer, in its own transaction.

Numbers arrive already normalised (no validation), nothing is claimed, no
totals are counted and no signal is sent. Every column gets the value the app
would give it (the models' defaults, ``created_at`` now), taken from the
models' own fields, so the rows are the same width as the app's.

Django must be set up before this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import requests
from django.core.management.color import no_style
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

from django_sepsms import __version__
from django_sepsms.models import Message, MessageBatch, Recipient
from django_sepsms.segments import count_segments
from django_sepsms.sending.rows import insert_rows

TEXT = "สวัสดีคุณลูกค้า รับส่วนลด 10% วันนี้"
ORIGIN = "BENCH"


def local_numbers(count: int, start: int = 0) -> list[str]:
    """``count`` distinct Thai mobile numbers as people type them (``08…``, ``09…``)."""
    return [f"0{8 + i % 2}{i:08d}" for i in range(start, start + count)]


def normalised(phones: Iterable[str]) -> list[str]:
    """The numbers as the app sends them (``66…``)."""
    return ["66" + p[1:] for p in phones]


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Row:
    """One model's columns and the values the app would give them, prepared once."""

    def __init__(self, model: type[Model]) -> None:
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.names = [f.name for f in self.fields]
        self.index = {f.name: i for i, f in enumerate(self.fields)}
        self.dated = [
            i
            for i, f in enumerate(self.fields)
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        ]
        self.defaults = [f.get_db_prep_save(f.get_default(), connection) for f in self.fields]
        quote = connection.ops.quote_name
        self.table = quote(model._meta.db_table)
        self.columns = ", ".join(quote(f.column) for f in self.fields)
        self.placeholder = "(" + ", ".join(["%s"] * len(self.fields)) + ")"

    def values(self, now: Any, **given: Any) -> list[Any]:
        row = list(self.defaults)
        for i in self.dated:
            row[i] = now
        for name, value in given.items():
            row[self.index[name]] = value
        return row

    def insert_sql(self, rows: int) -> str:
        return (
            f"INSERT INTO {self.table} ({self.columns}) VALUES "
            + ", ".join([self.placeholder] * rows)
            + " RETURNING id"
        )


class BareSender:
    """Sends the bare way to ``base_url``; :meth:`send` is one whole send."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.url = base_url.rstrip("/") + "/message/send"
        self.session = requests.Session()
        self.session.headers.update(
            {
                "X-API-Key": api_key,
                "Accept": "application/json",
                "User-Agent": f"django-sepsms/{__version__} {requests.utils.default_user_agent()}",
            }
        )
        self.message = _Row(Message)
        self.batch = _Row(MessageBatch)
        self.recipient = _Row(Recipient)
        field = MessageBatch._meta.get_field("sent_at")
        self.prepare_time = lambda now: field.get_db_prep_save(now, connection)
        quote = connection.ops.quote_name
        self.update_sql = (
            f"UPDATE {self.batch.table} SET {quote('provider_uuid')} = %s, "
            f"{quote('ref_no')} = %s, {quote('status')} = %s, {quote('total_credit')} = %s, "
            f"{quote('blocked_count')} = %s, {quote('sent_at')} = %s WHERE id = %s"
        )

    def close(self) -> None:
        self.session.close()

    def send(self, numbers: Sequence[str], batch_size: int, text: str = TEXT) -> int:
        """Record ``numbers`` (normalised) in one transaction, then post and store
        each batch; return the message's id."""
        now = self.prepare_time(timezone.now())
        parts = list(chunks(numbers, batch_size))
        with transaction.atomic(), connection.cursor() as cursor:
            message_id = self.insert_message(cursor, now, text, len(numbers))
            cursor.execute(
                self.batch.insert_sql(len(parts)),
                [
                    value
                    for position, part in enumerate(parts)
                    for value in self.batch.values(
                        now, message=message_id, position=position, recipient_count=len(part)
                    )
                ],
            )
            batch_ids = sorted(row[0] for row in cursor.fetchall())
            for batch_id, part in zip(batch_ids, parts, strict=True):
                self.insert_recipients(now, message_id, batch_id, part)
        for batch_id, part in zip(batch_ids, parts, strict=True):
            self.store_answer(batch_id, self.post(part, text))
        return message_id

    def send_streaming(self, numbers: Iterable[str], batch_size: int, text: str = TEXT) -> int:
        """A campaign read from an iterable of local numbers: each batch of
        ``batch_size`` recorded (one transaction), posted and stored in turn."""
        now = self.prepare_time(timezone.now())
        with connection.cursor() as cursor:
            message_id = self.insert_message(cursor, now, text, 0)
        part: list[str] = []
        position = 0
        for phone in numbers:
            part.append("66" + phone[1:])
            if len(part) == batch_size:
                self.send_batch(now, message_id, position, part, text)
                part, position = [], position + 1
        if part:
            self.send_batch(now, message_id, position, part, text)
        return message_id

    def send_batch(
        self, now: Any, message_id: int, position: int, part: Sequence[str], text: str
    ) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                self.batch.insert_sql(1),
                self.batch.values(
                    now, message=message_id, position=position, recipient_count=len(part)
                ),
            )
            batch_id = cursor.fetchone()[0]
            self.insert_recipients(now, message_id, batch_id, part)
        self.store_answer(batch_id, self.post(part, text))

    def insert_message(self, cursor: Any, now: Any, text: str, count: int) -> int:
        cursor.execute(
            self.message.insert_sql(1),
            self.message.values(
                now,
                origin=ORIGIN,
                text=text,
                recipient_count=count,
                estimated_credit=count_segments(text) * count,
            ),
        )
        return int(cursor.fetchone()[0])

    def insert_recipients(
        self, now: Any, message_id: int, batch_id: int, part: Sequence[str]
    ) -> None:
        template = self.recipient.values(now, message=message_id, batch=batch_id)
        phone = self.recipient.index["phone"]
        rows = []
        for number in part:
            row = list(template)
            row[phone] = number
            rows.append(row)
        insert_rows(Recipient, self.recipient.names, rows)

    def post(self, recipients: Sequence[str], text: str = TEXT) -> dict[str, Any]:
        """The app's ``POST /message/send`` of these numbers; the answer's ``result``."""
        response = self.session.post(
            self.url,
            json={
                "origin": ORIGIN,
                "message": text,
                "recipients": list(recipients),
                "scheduledTime": None,
            },
            timeout=(5, 30),
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()["result"]
        return result

    def store_answer(self, batch_id: int, result: dict[str, Any]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                self.update_sql,
                [
                    result["uuid"],
                    result["refNo"],
                    result["status"],
                    result["totalCredit"],
                    result["blockedCount"],
                    self.prepare_time(timezone.now()),
                    batch_id,
                ],
            )


def empty_tables() -> None:
    """Delete every message, batch and recipient (outside any measured time)."""
    tables = [m._meta.db_table for m in (Recipient, MessageBatch, Message)]
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    connection.ops.execute_sql_flush(statements)
