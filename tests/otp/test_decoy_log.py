"""A code request answered without an SMS says so in the log: at DEBUG only, number masked."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from django_sepsms.models import PhoneNumber
from django_sepsms.otp import flows

pytestmark = pytest.mark.django_db

UNKNOWN = "0898765432"
REGISTERED = "0812345678"
NOTE = "answered without an SMS"


def decoy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if NOTE in r.getMessage()]


def test_an_unknown_number_is_noted_at_debug_masked(
    caplog: pytest.LogCaptureFixture, sms_outbox: list[Any]
) -> None:
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        flows.request_code(None, UNKNOWN, "login")
    assert sms_outbox == []
    [record] = decoy_records(caplog)
    assert record.levelno == logging.DEBUG
    assert record.name == "django_sepsms"
    assert "66*******32" in record.getMessage()
    assert "login" in record.getMessage()
    for form in ("66898765432", "0898765432", "089-876-5432", "898765432"):
        assert form not in caplog.text


def test_never_at_info(caplog: pytest.LogCaptureFixture, sms_outbox: list[Any]) -> None:
    with caplog.at_level(logging.INFO, logger="django_sepsms"):
        flows.request_code(None, UNKNOWN, "login")
    assert decoy_records(caplog) == []
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "66*******32" in r.msg]


def test_a_real_send_notes_nothing(
    caplog: pytest.LogCaptureFixture, sms_outbox: list[Any]
) -> None:
    user = get_user_model().objects.create_user(username="somchai")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        flows.request_code(None, REGISTERED, "login")
    assert len(sms_outbox) == 1
    assert decoy_records(caplog) == []


def test_noted_inside_the_padded_answer(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, sms_outbox: list[Any]
) -> None:
    """The note is written before the decoy's answer is padded to the real one's time,
    so its cost is inside the padding and adds nothing to measure."""
    seen_before_padding: list[int] = []
    pad = flows.answer_decoy

    def answer_decoy(*args: Any, **kwargs: Any) -> None:
        seen_before_padding.append(len(decoy_records(caplog)))
        pad(*args, **kwargs)

    monkeypatch.setattr(flows, "answer_decoy", answer_decoy)
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        flows.request_code(None, UNKNOWN, "login")
    assert seen_before_padding == [1]
