from __future__ import annotations

import pytest
from django.test import override_settings

from django_sepsms.conf import DEFAULT_RATELIMITS, DEFAULTS, sepsms_settings


def test_defaults_when_unset() -> None:
    with override_settings(SEPSMS=None):
        assert DEFAULTS["BACKEND"] == sepsms_settings.BACKEND
        assert sepsms_settings.BASE_URL == "https://sepsms.com/api/v2"
        assert sepsms_settings.BATCH_SIZE == 1000
        assert sepsms_settings.OTP_TTL == 300
        assert sepsms_settings.WEBHOOK_SECRETS == []
        assert sepsms_settings.RATELIMITS == DEFAULT_RATELIMITS


def test_read_live_so_override_settings_works() -> None:
    assert sepsms_settings.ORIGIN == "TESTSHOP"
    with override_settings(SEPSMS={"ORIGIN": "OTHER", "BASE_URL": "http://x/api/v2/"}):
        assert sepsms_settings.ORIGIN == "OTHER"
        assert sepsms_settings.BASE_URL == "http://x/api/v2"
    assert sepsms_settings.ORIGIN == "TESTSHOP"


def test_secret_string_and_ratelimit_merge() -> None:
    with override_settings(
        SEPSMS={"WEBHOOK_SECRETS": "whsec_a", "RATELIMITS": {"otp_send_ip": "1/m"}}
    ):
        assert sepsms_settings.WEBHOOK_SECRETS == ["whsec_a"]
        assert sepsms_settings.RATELIMITS["otp_send_ip"] == "1/m"
        assert sepsms_settings.RATELIMITS["otp_send_phone"] == DEFAULT_RATELIMITS["otp_send_phone"]


def test_unknown_key_raises_attribute_error() -> None:
    with pytest.raises(AttributeError):
        sepsms_settings.get("NOPE")
