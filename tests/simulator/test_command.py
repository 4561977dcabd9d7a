"""``manage.py sepsms_simulator`` starts a simulator with the options it was given."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from django_sepsms import contract
from django_sepsms.simulator import Simulator


def test_management_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django is not configured")
    from io import StringIO

    from django.core.management import call_command

    from django_sepsms.management.commands import sepsms_simulator

    seen: dict[str, Any] = {}

    def serve(simulator: Simulator) -> None:
        seen["health"] = requests.get(simulator.inbox_url + "_sim/health", timeout=5).json()
        seen["failing"] = set(simulator.failing_numbers)
        requests.post(simulator.inbox_url + "_sim/reset", timeout=5)  # keeps what was given
        seen["switches"] = requests.get(simulator.inbox_url + "_sim/switches", timeout=5).json()
        seen["key_works"] = requests.get(
            simulator.base_url + contract.PATH_BALANCE,
            headers={contract.API_KEY_HEADER: "sk_sep_dev"},
            timeout=5,
        ).json()
        raise KeyboardInterrupt

    monkeypatch.setattr(sepsms_simulator, "serve_until_interrupted", serve)
    out = StringIO()
    call_command(
        "sepsms_simulator",
        "--port=0",
        "--api-key=sk_sep_dev",
        "--credits=50",
        "--fail-number=0812345678",
        "--block-number=66898765432",
        "--duplicate-webhooks",
        "--reverse-webhooks",
        "--webhook-url=http://127.0.0.1:9/hooks",
        stdout=out,
    )
    text = out.getvalue()
    assert seen["health"] == {"ok": True}
    assert seen["failing"] == {"0812345678"}
    assert seen["switches"]["blocked_numbers"] == ["66898765432"]
    assert seen["switches"]["webhook_duplicates"] is True
    assert seen["switches"]["webhook_reverse"] is True
    assert "_sim/switches" in text
    assert seen["key_works"] == {"result": {"balance": 50}}
    base_url = re.search(r"API base URL: (\S+)", text)
    assert base_url is not None
    assert f'"BASE_URL": "{base_url.group(1)}", "API_KEY": "sk_sep_dev"' in text
    assert '"WEBHOOK_SECRETS": ["whsec_simulator"]' in text
    assert "Simulator stopped." in text
