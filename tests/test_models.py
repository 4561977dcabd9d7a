from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from django_sepsms.models import Message, OtpChallenge, PhoneNumber, WebhookEvent

pytestmark = pytest.mark.django_db


def test_no_missing_migrations() -> None:
    call_command("makemigrations", "sepsms", "--check", "--dry-run", stdout=StringIO())


def test_phone_number_with_a_custom_user_model() -> None:
    user = get_user_model().objects.create_user(username="somchai", password="x")
    number = PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    assert list(user.sepsms_phone_numbers.all()) == [number]
    assert str(number) == "66*******78"
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
    assert str(challenge) == "ABC123 66*******78 Pending"
    event = WebhookEvent.objects.create(
        event="dr.success", dedupe_key="k", signed_at=timezone.now(), payload={"a": 1}
    )
    assert str(event) == "dr.success Stored"
    msg = Message.objects.create(origin="X", text="secret", recipient_count=2)
    assert str(msg) == f"#{msg.pk} Queued (2)"
    assert msg.provider_uuid is None
    assert not msg.is_final
