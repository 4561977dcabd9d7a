"""OTP with backends that have no provider-side codes: the app makes and checks them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_sepsms import asend_otp, averify_otp, send_otp, verify_otp
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.exceptions import ConfigurationError
from django_sepsms.models import Message, OtpChallenge
from django_sepsms.otp import Reason, challenges
from django_sepsms.otp.codes import hash_code
from django_sepsms.sending.recovery import recover_abandoned_batches, resume_stalled_messages
from django_sepsms.signals import otp_failed, otp_sent, otp_verified
from tests.twins import sync_and_async

pytestmark = pytest.mark.django_db

#: Every test here runs with the sync functions, then with their async twins.
_callers = sync_and_async(globals(), send_otp=asend_otp, verify_otp=averify_otp)


def code_from(outbox: list[Any]) -> str:
    match = re.search(r"\b(\d{6,8})\b", outbox[-1].message)
    assert match, outbox[-1].message
    return match.group(1)


def test_send_makes_a_code_and_stores_only_its_hash(sms_outbox: list[Any]) -> None:
    challenge = send_otp("081-234-5678")
    code = code_from(sms_outbox)
    assert len(code) == 6
    assert sms_outbox[-1].recipients == ["66812345678"]
    assert f"Ref: {challenge.reference}" in sms_outbox[-1].message
    assert challenge.mode == OtpChallenge.Mode.LOCAL
    assert challenge.code_hash == hash_code(challenge.reference, "66812345678", code)
    assert challenge.expires_at > timezone.now() + dt.timedelta(seconds=290)
    # The code is nowhere in the database, in any table.
    with connection.cursor() as cursor:
        for model in (Message, OtpChallenge):
            cursor.execute(f"SELECT * FROM {model._meta.db_table}")
            assert code not in repr(cursor.fetchall())
    assert code not in Message.objects.get().text
    assert "******" in Message.objects.get().text
    assert Message.objects.get().kind == Message.Kind.OTP
    assert code not in str(challenge)


def test_code_length_setting(sms_outbox: list[Any]) -> None:
    with override_settings(
        SEPSMS={
            "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
            "ORIGIN": "X",
            "OTP_CODE_LENGTH": 8,
        }
    ):
        send_otp("0812345678")
    assert len(code_from(sms_outbox)) == 8


def test_right_code_verifies_once(sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    code = code_from(sms_outbox)
    result = verify_otp(challenge.reference, code)
    assert result
    assert result.reason == Reason.VERIFIED
    again = verify_otp(challenge.reference, code)
    assert not again
    assert again.reason == Reason.USED
    challenge.refresh_from_db()
    assert challenge.status == OtpChallenge.Status.VERIFIED
    assert challenge.verified_at is not None


def test_wrong_code_then_right(sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    code = code_from(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    result = verify_otp(challenge.reference, wrong)
    assert not result
    assert result.reason == Reason.WRONG
    assert verify_otp(challenge.reference.lower(), f" {code} ")


def test_attempts_are_capped_even_for_the_right_code(sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    code = code_from(sms_outbox)
    wrong = "000000" if code != "000000" else "111111"
    reasons = [verify_otp(challenge.reference, wrong).reason for _ in range(5)]
    assert reasons == [Reason.WRONG] * 5
    result = verify_otp(challenge.reference, code)
    assert not result
    assert result.reason == Reason.EXHAUSTED
    challenge.refresh_from_db()
    assert challenge.status == OtpChallenge.Status.EXHAUSTED
    assert challenge.attempts == 5


def test_expired_code_fails(sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    code = code_from(sms_outbox)
    OtpChallenge.objects.filter(pk=challenge.pk).update(expires_at=timezone.now())
    result = verify_otp(challenge.reference, code)
    assert result.reason == Reason.EXPIRED
    assert verify_otp(challenge.reference, code).reason == Reason.EXPIRED


def test_resend_cancels_the_old_reference(sms_outbox: list[Any]) -> None:
    first = send_otp("0812345678")
    first_code = code_from(sms_outbox)
    second = send_otp("0812345678")
    assert second.reference != first.reference
    first.refresh_from_db()
    assert first.status == OtpChallenge.Status.CANCELLED
    assert verify_otp(first.reference, first_code).reason == Reason.UNKNOWN
    assert verify_otp(second.reference, code_from(sms_outbox))


def test_a_new_code_cancels_only_the_live_codes_of_its_number_and_purpose(
    sms_outbox: list[Any],
) -> None:
    """One statement inserts the new code and cancels the earlier ones (where the
    database can): the others, and codes no longer live, are left as they were."""
    pending = send_otp("0812345678", purpose="login")
    unconfirmed, _ = challenges.attempt_otp("0812345678", purpose="login", replace_earlier=False)
    OtpChallenge.objects.filter(pk=unconfirmed.pk).update(status=OtpChallenge.Status.UNCONFIRMED)
    verified, _ = challenges.attempt_otp("0812345678", purpose="login", replace_earlier=False)
    OtpChallenge.objects.filter(pk=verified.pk).update(status=OtpChallenge.Status.VERIFIED)
    other_purpose = send_otp("0812345678", purpose="verify")
    other_number = send_otp("0912345678", purpose="login")
    new = send_otp("0812345678", purpose="login")
    stored = OtpChallenge.objects.get(pk=new.pk)
    assert (stored.reference, stored.status) == (new.reference, OtpChallenge.Status.PENDING)
    assert stored.created_at == new.created_at
    assert stored.message_id == new.message_id
    statuses = dict(OtpChallenge.objects.values_list("pk", "status"))
    assert statuses == {
        pending.pk: OtpChallenge.Status.CANCELLED,
        unconfirmed.pk: OtpChallenge.Status.CANCELLED,
        verified.pk: OtpChallenge.Status.VERIFIED,
        other_purpose.pk: OtpChallenge.Status.PENDING,
        other_number.pk: OtpChallenge.Status.PENDING,
        new.pk: OtpChallenge.Status.PENDING,
    }
    assert verify_otp(new.reference, code_from(sms_outbox))


def test_a_project_listening_for_saves_still_hears_the_new_code(sms_outbox: list[Any]) -> None:
    """With a ``post_save`` receiver the code is saved by ``save()``, which sends it."""
    from django.db.models.signals import post_save

    first = send_otp("0812345678")
    heard: list[Any] = []

    def receiver(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        heard.append((instance.pk, created))

    post_save.connect(receiver, sender=OtpChallenge)
    try:
        second = send_otp("0812345678")
    finally:
        post_save.disconnect(receiver, sender=OtpChallenge)
    assert (second.pk, True) in heard
    first.refresh_from_db()
    assert first.status == OtpChallenge.Status.CANCELLED


def test_binding_to_phone_and_purpose(sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678", purpose="login")
    code = code_from(sms_outbox)
    assert verify_otp(challenge.reference, code, phone="0912345678").reason == Reason.UNKNOWN
    assert verify_otp(challenge.reference, code, phone="junk").reason == Reason.UNKNOWN
    assert verify_otp(challenge.reference, code, purpose="verify").reason == Reason.UNKNOWN
    assert verify_otp(challenge.reference, code, phone="+66812345678", purpose="login")


@pytest.mark.parametrize("pin", ["", "abc", "12", "123456789012345678901"])
def test_malformed_pins_count_as_wrong(pin: str, sms_outbox: list[Any]) -> None:
    challenge = send_otp("0812345678")
    assert verify_otp(challenge.reference, pin).reason == Reason.WRONG
    challenge.refresh_from_db()
    assert challenge.attempts == 1


def test_unknown_reference() -> None:
    assert verify_otp("NOPE42", "123456").reason == Reason.UNKNOWN


def test_signals_fire_once_each(
    sms_outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    events: list[tuple[str, Any]] = []
    receivers: dict[str, Callable[..., Any]] = {
        "sent": lambda sender, challenge, **kw: events.append(("sent", challenge.pk)),
        "verified": lambda sender, challenge, **kw: events.append(("verified", challenge.pk)),
        "failed": lambda sender, challenge, reason, **kw: events.append(("failed", reason)),
    }
    otp_sent.connect(receivers["sent"])
    otp_verified.connect(receivers["verified"])
    otp_failed.connect(receivers["failed"])
    try:
        with django_capture_on_commit_callbacks(execute=True):
            challenge = send_otp("0812345678")
            code = code_from(sms_outbox)
            verify_otp(challenge.reference, "000000" if code != "000000" else "111111")
            verify_otp(challenge.reference, code)
            verify_otp(challenge.reference, code)
    finally:
        otp_sent.disconnect(receivers["sent"])
        otp_verified.disconnect(receivers["verified"])
        otp_failed.disconnect(receivers["failed"])
    assert events == [
        ("sent", challenge.pk),
        ("failed", "wrong"),
        ("verified", challenge.pk),
        ("failed", "used"),
    ]


def test_template_without_code_is_refused() -> None:
    from django.core.exceptions import ValidationError

    with (
        override_settings(
            SEPSMS={
                "ORIGIN": "X",
                "OTP_TEMPLATE": "hello",
                "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
            }
        ),
        pytest.raises(ValidationError),
    ):
        send_otp("0812345678")


@pytest.mark.parametrize(
    "digits",
    ["๐๑๒๓๔๕๖๗๘๙", "".join(chr(0xFF10 + d) for d in range(10))],
    ids=["thai", "full-width"],
)
def test_codes_typed_in_thai_or_full_width_digits_verify(
    digits: str, sms_outbox: list[Any]
) -> None:
    challenge = send_otp("0812345678")
    typed = code_from(sms_outbox).translate(str.maketrans("0123456789", digits))
    result = verify_otp(challenge.reference, typed)
    assert result.reason == Reason.VERIFIED
    challenge.refresh_from_db()
    assert challenge.attempts == 1


def test_a_code_whose_sender_died_is_never_sent_later(
    monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    """Its batch is recorded claimed: recovery marks it unconfirmed, never resumes it
    (the message holds the redacted text only, and a late code is no use)."""
    monkeypatch.setattr(challenges, "deliver_message", lambda *args, **kwargs: None)  # died
    challenge = send_otp("0812345678")
    assert challenge.message is not None
    assert challenge.message.batches.get().status == Message.Status.SENDING
    assert resume_stalled_messages(older_than=dt.timedelta(0)) == 0
    assert recover_abandoned_batches(older_than=dt.timedelta(0)) == 1
    assert challenge.message.batches.get().status == Message.Status.UNCONFIRMED
    assert sms_outbox == []


def test_a_code_the_backend_cannot_open_for_fails_its_batch(
    monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    def refuse(self: Any) -> None:
        raise ConfigurationError("No API key.")

    monkeypatch.setattr(LocmemBackend, "open", refuse)
    with pytest.raises(ConfigurationError):
        send_otp("0812345678")
    challenge = OtpChallenge.objects.get()
    assert challenge.status == OtpChallenge.Status.SEND_FAILED
    assert challenge.message is not None
    assert challenge.message.batches.get().status == Message.Status.FAILED
    assert challenge.message.recipients.get().status == "failed"
    assert Message.objects.get().status == Message.Status.FAILED
