"""Schemathesis against the API's own OpenAPI schema: every answer is one the schema describes.

The schema is the test project's, made by drf-spectacular's ``spectacular``
command as a project would make it; the requests go to the test project's WSGI
application, in this process, against the test database. Every check of
schemathesis runs (a 5xx, a status or header or body the schema does not
describe, a wrong content type, valid data refused, invalid data accepted…),
in both positive and negative generation.

Two allowances, both answers the schema documents: ``positive_data_acceptance``
also accepts 400, since a well-formed number may still be no mobile number and a
well-formed code may be the wrong one (``invalid_phone``, ``invalid_code``);
``negative_data_rejection`` also accepts 413.

``SEPSMS_API_FUZZ_EXAMPLES`` sets the fuzzing examples per operation and mode
(default 650: about 2,100 requests in all over the three operations, with the
examples and coverage phases);
``SEPSMS_API_FUZZ_SEED`` fixes the seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import pytest
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("drf_spectacular")

from schemathesis import engine  # noqa: E402
from schemathesis.engine import Status, events  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("SEPSMS_API_FUZZ_EXAMPLES", "650"))
ROOT = Path(__file__).resolve().parent.parent.parent

# High enough that the limits rarely answer first (429 is still a documented answer).
OPEN_LIMITS = {
    "otp_send_phone": "100000/h",
    "otp_send_phone_daily": "100000/d",
    "otp_send_ip": "100000/h",
    "otp_send_global": "100000/h",
    "otp_verify_phone": "100000/h",
    "otp_verify_ip": "100000/h",
}

CONFIG: dict[str, Any] = {
    "generation": {"mode": "all", "max-examples": EXAMPLES, "no-shrink": True},
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "429"],
        },
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "405", "413", "415", "429"],
        },
    },
}


def spectacular_schema(tmp_path: Path) -> dict[str, Any]:
    """The test project's schema, from drf-spectacular's command, validated."""
    (tmp_path / "spectacular_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        'INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework", "drf_spectacular"]\n'
        'REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}\n'
    )
    out = tmp_path / "schema.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    command = [sys.executable, "-m", "django", "spectacular", "--settings=spectacular_settings"]
    command += ["--format=openapi-json", "--validate", "--fail-on-warn", f"--file={out}"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    schema: dict[str, Any] = json.loads(out.read_text())
    return schema


@pytest.fixture(scope="module")
def raw_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return spectacular_schema(tmp_path_factory.mktemp("openapi"))


@pytest.fixture
def quick_hypothesis(monkeypatch: pytest.MonkeyPatch) -> None:
    """No targeted search: schemathesis steers Hypothesis towards accepted requests with
    ``hypothesis.target``, and its hill-climbing costs more time here than all the requests."""
    monkeypatch.setattr(hypothesis, "target", lambda observation, *, label="": observation)


@pytest.fixture
def open_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The decoy pauses imitate a provider's timing, which this test does not measure.
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    sepsms = {**django_settings.SEPSMS, "RATELIMITS": OPEN_LIMITS, "OTP_RESEND_COOLDOWN": 0}
    with override_settings(SEPSMS=sepsms):
        yield


@dataclass
class Run:
    """What one schemathesis run did."""

    requests: int = 0
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_schemathesis(raw: dict[str, Any], examples: int, seed: int | None) -> Run:
    """Every phase and check of schemathesis' engine against the WSGI app, in this process."""
    config = {**CONFIG, "generation": {**CONFIG["generation"], "max-examples": examples}}
    if seed is not None:
        config["seed"] = seed
    loaded = schemathesis.openapi.from_dict(raw, config=schemathesis.Config.from_dict(config))
    loaded.app = WSGIHandler()
    run = Run()
    started = time.monotonic()
    for event in engine.from_schema(loaded).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                run.requests += 1
                if interaction.response is not None:
                    label = (
                        f"{interaction.request.method} {urlsplit(interaction.request.uri).path}"
                    )
                    run.statuses[(label, interaction.response.status_code)] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        body = recorder.cases[case_id].value.body
                        run.failures.append(f"{check.name}: {check.failure_info!r} body={body!r}")
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(repr(event))
    run.seconds = time.monotonic() - started
    return run


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_as_its_schema_says(
    raw_schema: dict[str, Any], open_limits: None, quick_hypothesis: None, sms_outbox: list[Any]
) -> None:
    seed = os.environ.get("SEPSMS_API_FUZZ_SEED")
    run = run_schemathesis(raw_schema, EXAMPLES, int(seed) if seed else None)
    print(
        f"\nschemathesis {schemathesis.__version__}: {run.requests} requests in "
        f"{run.seconds:.1f} s; by operation and status: {dict(run.statuses)}"
    )
    assert not run.errors, run.errors
    assert not run.failures, "\n".join(run.failures[:20])
    assert not [key for key in run.statuses if key[1] >= 500]
    assert run.requests >= 2 * EXAMPLES
    assert run.statuses[("POST /sepsms/api/otp/", 200)] > 0  # codes were sent, too
    assert run.statuses[("POST /sepsms/api/otp/", 400)] > 0
    assert run.statuses[("POST /sepsms/api/otp/verify/", 400)] > 0
    assert run.statuses[("POST /api/login/phone/", 400)] > 0


def test_the_schema_describes_what_the_views_enforce(raw_schema: dict[str, Any]) -> None:
    """Lengths, patterns and enums come from the serializers; 400s are a oneOf of shapes."""
    components = raw_schema["components"]["schemas"]
    phone = components["OtpRequest"]["properties"]["phone"]
    assert (phone["minLength"], phone["maxLength"]) == (1, 32)
    assert phone["pattern"]
    assert components["PurposeEnum"]["enum"] == ["verify", "login", "phone"]
    verify = components["OtpVerify"]["properties"]
    assert (verify["reference"]["minLength"], verify["reference"]["maxLength"]) == (1, 32)
    assert (verify["pin"]["minLength"], verify["pin"]["maxLength"]) == (1, 16)
    assert verify["flow_token"]["maxLength"] == 4096

    def body(path: str, status: str) -> Any:
        answer = raw_schema["paths"][path]["post"]["responses"][status]
        return answer, answer["content"]["application/json"]["schema"]

    _, refused = body("/sepsms/api/otp/verify/", "400")
    one_of = components[refused["$ref"].rsplit("/", 1)[1]]["oneOf"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in one_of}
    assert names == {"SepsmsVerifyFailed", "SepsmsInvalidRequest", "SepsmsParseError"}
    assert "verified" not in components["SepsmsInvalidRequest"]["required"]
    for path in ("/sepsms/api/otp/", "/sepsms/api/otp/verify/"):
        responses = raw_schema["paths"][path]["post"]["responses"]
        assert {"200", "400", "401", "403", "413", "415", "429", "503"} <= set(responses)
        for status in ("429", "503"):
            assert responses[status]["headers"]["Retry-After"]["required"] is True
