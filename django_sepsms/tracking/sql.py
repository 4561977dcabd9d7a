"""One-statement delivery-report updates for PostgreSQL.

A campaign's delivery reports arrive by the thousand, all for one message. On
PostgreSQL the lookup, the status change and the message counters are done in
a single statement (one round trip, the message row locked only at its very
end), with the same precedence rules as the portable code in ``tracking/reports.py``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from ..models import FAILED_RECIPIENT_STATUSES, Message, MessageBatch, Recipient, WebhookEvent
from ..signals import delivery_status_changed, send_after_commit
from ..telemetry import hooks as telemetry

_SAFE_LITERAL = re.compile(r"[a-z_]+")

_SQL = """
WITH target AS (
    SELECT r.id, r.status, r.message_id, r.tx_id, r.phone, r.batch_id
    FROM {recipient} r
    JOIN {batch} b ON b.id = r.batch_id
    WHERE b.provider_uuid = %(uuid)s AND r.phone = %(phone)s
    LIMIT 1
    FOR UPDATE OF r
),
changed AS (
    UPDATE {recipient} r
    SET status = %(status)s,
        tx_id = CASE WHEN %(tx_id)s <> '' THEN %(tx_id)s ELSE t.tx_id END,
        status_changed_at = %(at)s
    FROM target t
    WHERE r.id = t.id AND t.status = ANY(%(lower)s)
    RETURNING r.id, t.status AS old_status, r.message_id
),
filled AS (
    UPDATE {recipient} r
    SET tx_id = %(tx_id)s
    FROM target t
    WHERE r.id = t.id AND NOT (t.status = ANY(%(lower)s)) AND t.tx_id = '' AND %(tx_id)s <> ''
    RETURNING r.id
),
counted AS (
    UPDATE {message} m
    SET delivered_count = m.delivered_count
            + (%(status)s = {success})::int - (c.old_status = {success})::int,
        failed_count = m.failed_count
            + (%(status)s = ANY({failures}))::int - (c.old_status = ANY({failures}))::int
    FROM changed c
    WHERE m.id = c.message_id
      AND ((%(status)s = {success}) <> (c.old_status = {success})
           OR (%(status)s = ANY({failures})) <> (c.old_status = ANY({failures})))
    RETURNING m.id
)
SELECT t.id, t.message_id, t.status, c.old_status IS NOT NULL, t.phone, t.batch_id,
       (SELECT count(*) FROM filled) + (SELECT count(*) FROM counted)
FROM target t LEFT JOIN changed c ON c.id = t.id
"""


@dataclass(frozen=True)
class Row:
    """The recipient row one statement found, and whether it moved it."""

    recipient_id: int
    message_id: int
    old_status: str
    changed: bool
    phone: str
    batch_id: int


def announce_change(row: Row, status: str, tx_id: str) -> None:
    """Send ``delivery_status_changed`` for a recipient that one statement moved to ``status``.

    The receivers get a stand-in ``Recipient`` built from the statement's own
    row (id, message, batch, number, new status, ``tx_id``): no query is made.
    """
    if not row.changed or not delivery_status_changed.has_listeners(Recipient):
        return
    recipient = Recipient(
        pk=row.recipient_id,
        message_id=row.message_id,
        batch_id=row.batch_id,
        phone=row.phone,
        status=status,
        tx_id=tx_id[:64],
    )
    send_after_commit(
        delivery_status_changed,
        Recipient,
        recipient=recipient,
        old_status=row.old_status,
        new_status=status,
    )


@functools.cache
def _formatted(sql: str) -> str:
    """``sql`` with the table names and the app's own status constants filled in.

    The constants are literals, not parameters: they never change, and every
    parameter less is less to convert on each of thousands of reports.
    """

    def literal(value: str) -> str:
        if not _SAFE_LITERAL.fullmatch(value):  # only the app's own enum values
            raise ValueError(value)
        return f"'{value}'"

    quote = connection.ops.quote_name
    return sql.format(
        recipient=quote(Recipient._meta.db_table),
        batch=quote(MessageBatch._meta.db_table),
        message=quote(Message._meta.db_table),
        event=quote(WebhookEvent._meta.db_table),
        success=literal(Recipient.Status.SUCCESS.value),
        failures="ARRAY[{}]::varchar[]".format(
            ", ".join(literal(str(s)) for s in FAILED_RECIPIENT_STATUSES)
        ),
        waiting=literal(WebhookEvent.Outcome.WAITING.value),
        applied=literal(WebhookEvent.Outcome.APPLIED.value),
        no_change=literal(WebhookEvent.Outcome.NO_CHANGE.value),
    )


def _report_params(
    sms_uuid: str, msisdn: str, status: str, lower: list[str], tx_id: str, at: datetime
) -> dict[str, Any]:
    return {
        "uuid": sms_uuid,
        "phone": msisdn,
        "status": status,
        "lower": lower,
        "tx_id": tx_id[:64],
        "at": at,
    }


def apply_in_one_statement(
    sms_uuid: str, msisdn: str, status: str, lower: list[str], tx_id: str, at: datetime
) -> Row | None:
    """Run the statement; ``None`` when no such recipient is recorded."""
    with connection.cursor() as cursor:
        cursor.execute(
            _formatted(_SQL), _report_params(sms_uuid, msisdn, status, lower, tx_id, at)
        )
        found = cursor.fetchone()
    if found is None:
        return None
    return Row(
        recipient_id=found[0],
        message_id=found[1],
        old_status=found[2],
        changed=found[3],
        phone=found[4],
        batch_id=found[5],
    )


# The same lookup and updates as _SQL, plus storing the event; see _formatted()
# for what is filled in later.
_RECEIVE_SQL = (
    _SQL.rsplit("SELECT t.id", 1)[0].rstrip()  # noqa: S608
    + """,
stored AS (
    INSERT INTO {event} (event, dedupe_key, signed_at, received_at, payload, outcome,
                         sms_uuid, tx_id, msisdn, error, applied_at)
    SELECT %(event)s, %(key)s, %(signed_at)s, %(at)s, %(payload)s::jsonb,
           CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN {waiting}
                WHEN EXISTS (SELECT 1 FROM changed) THEN {applied}
                ELSE {no_change} END,
           %(uuid)s, %(tx_id)s, %(phone)s, '',
           CASE WHEN EXISTS (SELECT 1 FROM changed) THEN %(at)s::timestamptz END
    RETURNING id, outcome, applied_at
)
SELECT s.id, s.outcome, s.applied_at, t.id, t.message_id, t.status, t.phone, t.batch_id
FROM stored s LEFT JOIN target t ON true
"""
)


@dataclass(frozen=True)
class Received:
    """What storing and applying one report in one statement came to."""

    event_id: int
    outcome: str
    applied_at: datetime | None
    recipient: Row | None


def receive_report_in_one_statement(
    *,
    event: str,
    key: str,
    signed_at: datetime,
    payload_json: str,
    sms_uuid: str,
    msisdn: str,
    status: str,
    lower: list[str],
    tx_id: str,
    now: datetime,
) -> Received:
    """Apply a delivery report and store its event in one atomic statement.

    A repeated delivery fails on the event's unique key, and nothing of it is
    applied: the caller treats that ``IntegrityError`` as a duplicate.
    """
    params = {
        **_report_params(sms_uuid, msisdn, status, lower, tx_id, now),
        "event": event,
        "key": key,
        "signed_at": signed_at,
        "payload": payload_json,
    }
    with connection.cursor() as cursor:
        cursor.execute(_formatted(_RECEIVE_SQL), params)
        row = cursor.fetchone()
    event_id, outcome, applied_at, recipient_id, message_id, old_status, phone, batch_id = row
    recipient = None
    if recipient_id is not None:
        recipient = Row(
            recipient_id=recipient_id,
            message_id=message_id,
            old_status=old_status,
            changed=outcome == WebhookEvent.Outcome.APPLIED,
            phone=phone,
            batch_id=batch_id,
        )
    if outcome == WebhookEvent.Outcome.APPLIED:
        telemetry.recipients_reached(status)
    return Received(event_id, outcome, applied_at, recipient)
