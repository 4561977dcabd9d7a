"""Verification under concurrency: row locks on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection

from django_sepsms import send_otp, verify_otp
from django_sepsms.simulator import Simulator
from tests.helpers import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL (the CI runs it)")


def test_concurrent_right_codes_verify_exactly_once(sim: Simulator) -> None:
    challenge = send_otp("0812345678")
    code = sim.last_otp_code("66812345678")
    results = run_at_once(10, lambda: bool(verify_otp(challenge.reference, code or "")))
    assert results.count(True) == 1
    assert results.count(False) == 9


def test_concurrent_wrong_codes_make_at_most_max_attempts_provider_calls(
    sim: Simulator,
) -> None:
    challenge = send_otp("0812345678")
    before = len(sim.requests)
    results = run_at_once(12, lambda: verify_otp(challenge.reference, "000000").reason)
    verify_calls = [r for r in sim.requests[before:] if r.path.endswith("/otp/verify")]
    assert len(verify_calls) <= 5
    assert set(results) <= {"wrong", "exhausted"}
    assert results.count("wrong") == 5
