"""Spans and metrics, seen through the SDK's in-memory exporters: the names and
attributes ``docs/telemetry.rst`` lists, no number, code or key in any of them, no
query or cache round trip added, and nothing at all without ``opentelemetry-api``."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

import django_sepsms
from django_sepsms import send_otp, send_sms, telemetry, verify_otp
from django_sepsms.backends import throttle
from django_sepsms.backends.sepsms import SepsmsBackend
from django_sepsms.exceptions import AmbiguousRequestError, OtpRateLimited
from django_sepsms.models import PhoneNumber
from django_sepsms.otp import flows
from django_sepsms.simulator import Simulator
from django_sepsms.telemetry import core, hooks
from django_sepsms.testing import sign_webhook, webhook_body
from tests.backends import FixedUuidBackend
from tests.counting import cache_round_trips, counting_caches, queries
from tests.helpers import KEY

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.rst"
SECRET = "whsec_test_current"
LOCMEM = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "WEBHOOK_SECRETS": [SECRET],
    "OTP_MODE": "local",
    "OTP_MIN_ANSWER_TIME": 0,
}


@dataclass
class Seen:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self, name: str) -> list[Any]:
        return [span for span in self.spans.get_finished_spans() if span.name == name]

    def points(self, metric: str) -> list[tuple[dict[str, Any], float]]:
        """``(attributes, value)`` of each point: a counter's sum, a histogram's count."""
        found = []
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        for point in item.data.data_points:
                            value: Any = getattr(point, "count", getattr(point, "value", None))
                            attributes: dict[str, Any] = dict(point.attributes or {})
                            found.append((attributes, value))
        return found

    def count(self, metric: str, **attributes: Any) -> float:
        wanted = {key.replace("__", "."): value for key, value in attributes.items()}
        return sum(
            value
            for seen, value in self.points(metric)
            if all(seen.get(k) == v for k, v in wanted.items())
        )

    def metric_names(self) -> set[str]:
        data = self.reader.get_metrics_data()
        return {
            item.name
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for item in scope.metrics
        }

    def texts(self) -> list[str]:
        """Every attribute key and value, span name and status text recorded."""
        out: list[str] = []
        for span in self.spans.get_finished_spans():
            out += [span.name, str(span.status.description or "")]
            for attributes in [span.attributes, *(e.attributes for e in span.events)]:
                out += [f"{k}={v!s}" for k, v in (attributes or {}).items()]
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    for point in item.data.data_points:
                        out += [f"{k}={v!s}" for k, v in (point.attributes or {}).items()]
        return out


@pytest.fixture
def seen() -> Iterator[Seen]:
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.use(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Seen(spans, reader)
    telemetry.use()
    tracer_provider.shutdown()
    meter_provider.shutdown()


def documented(section: str) -> set[str]:
    """The names in the first column of the table under ``section`` in the docs."""
    text = DOC.read_text(encoding="utf-8").split(f"\n{section}\n", 1)[1]
    text = re.split(r"\n\S[^\n]*\n-{3,}\n", text, maxsplit=1)[0]
    return set(re.findall(r"^   \* - ``(sepsms\.[a-z_.]+)``", text, re.MULTILINE))


def test_the_docs_list_every_metric_and_span() -> None:
    assert documented("Metrics") == set(telemetry.METRICS)
    assert documented("Spans") == set(telemetry.SPANS)


# -- steps, each seen on its own below and all together in one run -------------------


def provider_calls(sim: Simulator) -> str:
    """A send retried after a 429, a status read, and a send that ends unconfirmed."""
    sim.fail_next("/message/send", status=429, code="rate_limit.exceeded", retry_after=1)
    msg = send_sms("Hi", ["0812345678", "0912345678"], backend=SepsmsBackend(sleep=lambda s: None))
    uuid = str(msg.batches.get().provider_uuid)
    SepsmsBackend().get_message_status(uuid)
    sim.fail_next("/message/send", status=503)
    with pytest.raises(AmbiguousRequestError):
        send_sms("Hi", ["0861112222"])
    return uuid


def webhooks(client: Client) -> None:
    """A report applied, the same again, a forged one, and an oversized one."""
    FixedUuidBackend.next_uuid = "sms-telemetry"  # sent, not yet delivered
    send_sms("Hi", ["0812345678"], backend=FixedUuidBackend())
    body = webhook_body({"smsUuid": "sms-telemetry", "msisdn": "66812345678", "txId": "tx-9"})
    headers = sign_webhook(body, SECRET)
    for _ in range(2):
        client.post("/sepsms/webhook/", body, content_type="application/json", **headers)
    forged = body.replace(b"tx-9", b"tx-8")
    client.post("/sepsms/webhook/", forged, content_type="application/json", **headers)
    with override_settings(SEPSMS={**LOCMEM, "WEBHOOK_MAX_BODY_SIZE": 16}):
        client.post("/sepsms/webhook/", body, content_type="application/json", **headers)


def codes(outbox: list[Any]) -> list[str]:
    """Codes sent, checked wrong to exhaustion, checked right; a decoy; two lockouts."""
    challenge = send_otp("0812345678")
    for _ in range(5):
        verify_otp(challenge.reference, "000000")
    challenge = send_otp("0812345678")
    code = re.findall(r"\b(\d{6})\b", outbox[-1].message)[0]
    assert verify_otp(challenge.reference, code)
    user = get_user_model().objects.create_user(username="somchai", password="x")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    flows.request_code(None, "0898765432", "login")  # nobody's: a decoy
    limited = {**LOCMEM, "RATELIMITS": {"otp_verify_phone": "1/h"}}
    with override_settings(SEPSMS=limited):
        sent = flows.request_code(None, "0812345678", "login")
        with pytest.raises(OtpRateLimited):
            flows.request_code(None, "0812345678", "login")  # the resend cooldown
        checks = {"phone": sent.phone, "purpose": "login", "reference": sent.reference}
        flows.check_code(None, pin="000001", **checks)
        with pytest.raises(OtpRateLimited):
            flows.check_code(None, pin="000002", **checks)
    return [code, challenge.reference, sent.reference]


def waits() -> None:
    """Two requests in one sub-window of a limit that admits one each."""
    throttle.acquire("send", (13, 1.0), max_wait=1)
    throttle.acquire("send", (13, 1.0), max_wait=1)


def test_provider_calls(sim: Simulator, seen: Seen) -> None:
    uuid = provider_calls(sim)
    first, status, failed = seen.finished("sepsms.provider.request")
    assert dict(first.attributes) == {
        "http.request.method": "POST",
        "sepsms.endpoint": "/message/send",
        "sepsms.outcome": "ok",
        "sepsms.retries": 1,
        "http.response.status_code": 200,
    }
    assert first.kind.name == "CLIENT"
    assert status.attributes["sepsms.endpoint"] == "/message/{uuid}"
    assert uuid not in str(dict(status.attributes))
    assert failed.attributes["sepsms.outcome"] == "ambiguous"
    assert failed.attributes["sepsms.error.code"] == "server.unavailable"
    assert failed.attributes["error.type"] == "AmbiguousRequestError"
    assert failed.status.status_code == StatusCode.ERROR
    assert not failed.events  # the exception's message is not recorded
    assert seen.count("sepsms.provider.requests", sepsms__outcome="ok") == 2
    assert seen.count("sepsms.provider.requests", sepsms__outcome="ambiguous") == 1
    assert seen.count("sepsms.provider.duration", sepsms__endpoint="/message/send") == 2
    assert seen.count("sepsms.provider.errors", sepsms__error__code="rate_limit.exceeded") == 1
    assert seen.count("sepsms.provider.errors", http__response__status_code=503) == 1
    assert seen.count("sepsms.recipients", sepsms__status="pending") == 2
    assert seen.count("sepsms.recipients", sepsms__status="unconfirmed") == 1
    assert seen.count("sepsms.messages", sepsms__status="pending") == 1
    assert seen.count("sepsms.messages", sepsms__status="unconfirmed") == 1


def test_webhooks(client: Client, seen: Seen, sms_outbox: list[Any]) -> None:
    with override_settings(SEPSMS=LOCMEM):
        webhooks(client)
    outcomes = [
        (s.attributes["sepsms.webhook.event"], s.attributes["sepsms.outcome"])
        for s in seen.finished("sepsms.webhook")
    ]
    assert outcomes == [
        ("dr.success", "applied"),
        ("dr.success", "duplicate"),
        ("unverified", "refused"),
        ("unverified", "too_large"),
    ]
    assert seen.count("sepsms.webhooks", sepsms__outcome="applied") == 1
    assert seen.count("sepsms.webhooks", sepsms__webhook__event="unverified") == 2
    assert seen.count("sepsms.recipients", sepsms__status="success") == 1


def test_codes(seen: Seen, sms_outbox: list[Any]) -> None:
    with override_settings(SEPSMS=LOCMEM):
        codes(sms_outbox)
    requested = "sepsms.otp.requested"
    assert seen.count(requested, sepsms__outcome="sent", sepsms__otp__mode="local") == 3
    assert seen.count(requested, sepsms__outcome="decoy", sepsms__otp__purpose="login") == 1
    assert seen.count("sepsms.otp.failed", sepsms__otp__reason="wrong") == 6
    assert seen.count("sepsms.otp.verified", sepsms__otp__purpose="any") == 1
    locked = "sepsms.otp.locked"
    assert seen.count(locked, sepsms__otp__lock="attempts", sepsms__otp__step="verify") == 1
    assert seen.count(locked, sepsms__otp__lock="otp_resend_cooldown") == 1
    assert seen.count(locked, sepsms__otp__lock="otp_verify_phone") == 1


def test_throttle_waits_and_pumping_episodes(seen: Seen) -> None:
    waits()
    (point,) = seen.points("sepsms.provider.throttle.waits")
    assert point == ({"sepsms.limit": "send"}, 1)
    telemetry.record_pumping_episode("6681")
    telemetry.record_pumping_episode("prefix:6681")
    telemetry.on_pumping_suspected(None, scope="site", sent=40, verified=1)
    telemetry.record_pumping_episode("+66 81")
    assert seen.points("sepsms.pumping.episodes") == [
        ({"sepsms.pumping.scope": "prefix"}, 2),
        ({"sepsms.pumping.scope": "site"}, 1),
        ({"sepsms.pumping.scope": "other"}, 1),
    ]


def test_the_pumping_guards_signal_counts_an_episode(seen: Seen) -> None:
    from django_sepsms import signals

    signal = getattr(signals, "pumping_suspected", None)
    if signal is None:
        pytest.skip("no pumping guard here")
    signal.send(None, scope="6681", sent=40, verified=1)
    assert seen.points("sepsms.pumping.episodes") == [({"sepsms.pumping.scope": "prefix"}, 1)]


def test_one_run_shows_every_documented_name_and_no_number_code_or_key(
    sim: Simulator, client: Client, seen: Seen, sms_outbox: list[Any]
) -> None:
    secrets = [provider_calls(sim), KEY, SECRET, *sim.messages]
    with override_settings(SEPSMS={**LOCMEM, "API_KEY": KEY}):
        webhooks(client)
        secrets += codes(sms_outbox)
    waits()
    telemetry.record_pumping_episode("6681")
    assert {s.name for s in seen.spans.get_finished_spans()} == set(documented("Spans"))
    assert seen.metric_names() == documented("Metrics")
    numbers = ["812345678", "912345678", "861112222", "898765432", "6681234", "tx-9"]
    texts = seen.texts()
    leaked = [(s, t) for s in [*numbers, *secrets] for t in texts if s and s in t]
    assert leaked == []


# -- cost -------------------------------------------------------------------------------


def test_telemetry_adds_no_query_and_no_cache_round_trip(client: Client) -> None:
    def costs(n: int) -> tuple[int, int]:
        """A send, its delivery report and a code request, each new (number ``n``)."""
        with queries() as sent, cache_round_trips() as send_trips:
            msg = send_sms("Hi", [f"08123456{n:02d}"])
        body = webhook_body(
            {"smsUuid": msg.batches.get().provider_uuid, "msisdn": f"668123456{n:02d}"}
        )
        headers = sign_webhook(body, SECRET)
        with queries() as made, cache_round_trips() as trips:
            client.post("/sepsms/webhook/", body, content_type="application/json", **headers)
            flows.request_code(None, f"08987654{n:02d}", "login")
        return len(sent) + len(made), len(send_trips) + len(trips)

    with override_settings(SEPSMS=LOCMEM), counting_caches():
        costs(1)  # warm: what a site's first request loads once
        off = costs(2)
        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        telemetry.use(tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]))
        try:
            on = costs(3)
        finally:
            telemetry.use()
    assert spans.get_finished_spans()
    assert on == off


def test_without_the_api_every_hook_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry" or m.startswith("opentelemetry.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails
    monkeypatch.setattr(core, "_state", core._State())
    assert not telemetry.enabled()
    with override_settings(SEPSMS=LOCMEM):
        assert send_sms("Hi", ["0812345678"]).pk
    started = time.perf_counter()
    for _ in range(100_000):
        hooks.recipients_reached("success")
    per_call = (time.perf_counter() - started) / 100_000
    print(f"\na disabled hook: {per_call * 1e9:.0f} ns a call")
    assert per_call < 5e-6


def test_the_api_is_imported_on_first_use_only() -> None:
    code = "import sys, django_sepsms.telemetry; print('opentelemetry' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=DOC.parents[1],
    )
    assert out.stdout.strip() == "False"
    assert django_sepsms.telemetry.enabled()
