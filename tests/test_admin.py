from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from django_sepsms import send_otp, send_sms
from django_sepsms.models import Message, OtpChallenge, Recipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


MODELS = ["message", "messagebatch", "recipient", "otpchallenge", "webhookevent", "phonenumber"]


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders(staff_client: Client, model: str, sms_outbox: list[Any]) -> None:
    send_sms("Hello", ["0812345678"])
    send_otp("0812345678")
    response = staff_client.get(reverse(f"admin:sepsms_{model}_changelist"))
    assert response.status_code == 200


def test_detail_pages_hide_numbers_and_hashes(staff_client: Client, sms_outbox: list[Any]) -> None:
    msg = send_sms("Hello", ["0812345678"])
    challenge = send_otp("0812345678")
    for obj in (msg, Recipient.objects.get(message=msg), challenge):
        name = type(obj)._meta.model_name
        page = staff_client.get(reverse(f"admin:sepsms_{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        body = page.content.decode()
        assert challenge.code_hash not in body
        assert "66812345678" not in body or name == "message"
    assert staff_client.get(reverse("admin:sepsms_message_add")).status_code == 403
    assert OtpChallenge.objects.count() == 1
    assert Message.objects.count() == 2
