from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from django_sepsms.models import (
    COMMON_RECIPIENT_STATUSES,
    Message,
    OtpChallenge,
    PhoneNumber,
    Recipient,
    WebhookEvent,
)

pytestmark = pytest.mark.django_db


def test_no_missing_migrations() -> None:
    call_command("makemigrations", "sepsms", "--check", "--dry-run", stdout=StringIO())


def test_phone_number_with_a_custom_user_model() -> None:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    number = PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    assert list(user.sepsms_phone_numbers.all()) == [number]
    assert str(number) == "0xx-xxx-xx78"
    other = get_user_model().objects.create_user(username="other", password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        PhoneNumber.objects.create(user=other, phone="66812345678", verified_at=timezone.now())


def test_str_never_shows_secrets() -> None:
    challenge = OtpChallenge.objects.create(
        reference="ABC123",
        phone="66812345678",
        mode=OtpChallenge.Mode.LOCAL,
        code_hash="deadbeef" * 8,
        expires_at=timezone.now(),
    )
    assert str(challenge) == "ABC123 0xx-xxx-xx78 Pending"
    event = WebhookEvent.objects.create(
        event="dr.success", dedupe_key="k", signed_at=timezone.now(), payload={"a": 1}
    )
    assert str(event) == "dr.success Stored"
    msg = Message.objects.create(origin="X", text="secret", recipient_count=2)
    assert str(msg) == f"#{msg.pk} Queued (2)"
    assert msg.provider_uuid is None
    assert not msg.is_final


def _indexes_written(status: str) -> list[str]:
    """The indexes of ``sepsms_recipient`` a row of ``status`` has an entry in."""
    row = {"status": status, "tx_id": "", "phone": "66812345678", "id": 1}
    names = ["pk", *(c.name for c in Recipient._meta.constraints)]
    for index in Recipient._meta.indexes:
        if index.condition is None or index.condition.check(row):
            names.append(index.name)
    return names


@pytest.mark.parametrize("status", COMMON_RECIPIENT_STATUSES)
def test_a_recipient_in_a_common_status_writes_four_indexes(status: str) -> None:
    # Recorded, accepted, delivered: each step writes a row version into these only.
    assert status in Recipient.Status.values
    assert _indexes_written(status) == [
        "pk",
        "sepsms_rcpt_unique_phone",
        "sepsms_rcpt_batch_phone",
        "sepsms_rcpt_phone",
    ]


@pytest.mark.parametrize(
    "status",
    sorted(set(Recipient.Status.values) - set(COMMON_RECIPIENT_STATUSES)),
)
def test_a_recipient_in_a_rare_status_is_in_the_statuses_index(status: str) -> None:
    assert "sepsms_rcpt_rare_status" in _indexes_written(status)
