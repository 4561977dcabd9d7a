"""The test docs/allauth.rst shows, as it shows it (after the marker)."""

# --- the example ---
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from django_sepsms.models import PhoneNumber


@pytest.mark.django_db
def test_login_by_phone(client, sms_outbox, django_user_model):
    user = django_user_model.objects.create_user("somchai")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    client.post(reverse("account_request_login_code"), {"phone": "081-234-5678"})
    code = re.search(r"\b(\d{6})\b", sms_outbox[-1].message)[1]
    client.post(reverse("account_confirm_login_code"), {"code": code})
    assert client.session["_auth_user_id"] == str(user.pk)
