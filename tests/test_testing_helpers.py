from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import django_sepsms
from django_sepsms import send_sms
from django_sepsms.testing import sign_webhook, webhook_body, webhook_headers
from django_sepsms.webhooks.signature import (
    compute_signature,
    parse_signature_header,
    signature_matches,
)


@pytest.mark.django_db
def test_sms_outbox_fixture_starts_empty(sms_outbox: list[Any]) -> None:
    assert sms_outbox == []
    send_sms("Hi", ["0812345678"])
    assert sms_outbox is django_sepsms.outbox
    assert len(sms_outbox) == 1


def test_sign_webhook_returns_test_client_keys() -> None:
    headers = sign_webhook(b'{"a":1}', "whsec_x", timestamp=1737020405)
    assert headers == {
        "HTTP_X_WEBHOOK_EVENT": "dr.success",
        "HTTP_X_WEBHOOK_TIMESTAMP": "1737020405",
        "HTTP_X_WEBHOOK_SIGNATURE": "t=1737020405,v1="
        + compute_signature("whsec_x", 1737020405, b'{"a":1}'),
    }


def test_webhook_headers_plain_names_and_body_forms() -> None:
    body = {"smsUuid": "u", "msisdn": "66812345678", "status": "success"}
    headers = webhook_headers(body, "s", event="dr.failed")
    assert headers["X-Webhook-Event"] == "dr.failed"
    parsed = parse_signature_header(headers["X-Webhook-Signature"])
    assert parsed is not None
    assert parsed.timestamp == int(headers["X-Webhook-Timestamp"])
    assert signature_matches(parsed, webhook_body(body), ["other", "s"])
    assert json.loads(webhook_body(body)) == body
    assert webhook_body("ก") == "ก".encode()


# -- the pytest plugin and the TestCase mixin, in a project of their own ---------------

ROOT = Path(__file__).resolve().parent.parent
HTTP = "django_sepsms.backends.sepsms.SepsmsBackend"

#: A site whose settings name the real provider: no test may reach it.
PROJECT_SETTINGS = f'''
SECRET_KEY = "tests-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_sepsms"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}}
SEPSMS = {{
    "BACKEND": "{HTTP}",
    "API_KEY": "sk_sep_never_used",
    "BASE_URL": "http://127.0.0.1:9/api/v2",
    "ORIGIN": "SHOP",
}}
'''

PLUGIN_TESTS = f'''
import pytest
from django.conf import settings
from django.test import SimpleTestCase, override_settings

import django_sepsms
from django_sepsms import send_sms
from django_sepsms.conf import sepsms_settings

LOCMEM = "django_sepsms.backends.locmem.LocmemBackend"
CONSOLE = "django_sepsms.backends.console.ConsoleBackend"


@pytest.mark.django_db
def test_a_test_sends_into_the_outbox():
    assert sepsms_settings.BACKEND == LOCMEM
    assert sepsms_settings.ORIGIN == "SHOP"  # the other settings are kept
    send_sms("Hi", ["0812345678"])
    assert [m.recipients for m in django_sepsms.outbox] == [["66812345678"]]


def test_the_next_test_starts_with_an_empty_outbox():
    assert django_sepsms.outbox == []


@pytest.mark.sepsms_real_backend
def test_the_marker_keeps_the_settings_backend():
    assert sepsms_settings.BACKEND == "{HTTP}"


@pytest.mark.sepsms_real_backend
class TestAMarkedClass:
    def test_in_it(self):
        assert sepsms_settings.BACKEND == "{HTTP}"


def test_the_settings_fixture_wins(settings):
    settings.SEPSMS = {{"BACKEND": CONSOLE}}
    assert sepsms_settings.BACKEND == CONSOLE


@override_settings(SEPSMS={{"BACKEND": CONSOLE}})
def test_a_decorator_wins():
    assert sepsms_settings.BACKEND == CONSOLE


@override_settings(SEPSMS={{"BACKEND": CONSOLE}})
class ClassOverrideTests(SimpleTestCase):
    def test_the_class_override_wins(self):
        assert sepsms_settings.BACKEND == CONSOLE


@pytest.mark.sepsms_real_backend
@override_settings(SEPSMS={{"BACKEND": CONSOLE}})
class MarkedClassOverrideTests(SimpleTestCase):
    def test_the_marker_leaves_the_class_override_alone(self):
        assert sepsms_settings.BACKEND == CONSOLE
'''

OFF_TESTS = f'''
from django_sepsms.conf import sepsms_settings


def test_the_run_keeps_the_settings_backend():
    assert sepsms_settings.BACKEND == "{HTTP}"
'''


def code_blocks_of_the_testing_page(section: str) -> list[str]:
    """The Python code blocks of docs/testing.rst's ``section``, as written."""
    text = (ROOT / "docs" / "testing.rst").read_text(encoding="utf-8")
    body = text.split(f"\n{section}\n", 1)[1]
    body = re.split(r"\n[^\n]+\n(?:-{3,}|~{3,})\n", body, maxsplit=1)[0]  # to the next title
    blocks = []
    for chunk in body.split(".. code-block:: python\n")[1:]:
        lines = itertools.takewhile(
            lambda line: not line or line.startswith("   "), chunk[1:].splitlines()
        )
        blocks.append(textwrap.dedent("\n".join(lines)))
    return blocks


def project(path: Path, **files: str) -> Path:
    (path / "project_settings.py").write_text(PROJECT_SETTINGS, encoding="utf-8")
    (path / "pytest.ini").write_text(
        "[pytest]\nDJANGO_SETTINGS_MODULE = project_settings\naddopts = -p no:cacheprovider\n",
        encoding="utf-8",
    )
    for name, source in files.items():
        (path / f"{name}.py").write_text(source, encoding="utf-8")
    return path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(ROOT)])
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_docs_show_what_these_tests_run() -> None:
    (fixture_examples,) = code_blocks_of_the_testing_page("With pytest")
    assert "def test_shipping_notice(sms_outbox):" in fixture_examples
    (mixin_example,) = code_blocks_of_the_testing_page("With Django's TestCase")
    assert "class ShippingNoticeTests(SmsOutboxMixin, TestCase):" in mixin_example


@pytest.mark.slow
def test_the_plugin_gives_every_test_the_locmem_backend(tmp_path: Path) -> None:
    (fixture_examples,) = code_blocks_of_the_testing_page("With pytest")
    path = project(tmp_path, test_plugin=PLUGIN_TESTS, test_doc_fixture=fixture_examples)
    done = run(path, "-m", "pytest", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b10 passed\b", done.stdout), done.stdout


@pytest.mark.slow
def test_the_documented_mixin_without_the_plugin(tmp_path: Path) -> None:
    (mixin_example,) = code_blocks_of_the_testing_page("With Django's TestCase")
    path = project(tmp_path, test_off=OFF_TESTS, test_doc_mixin=mixin_example)
    done = run(path, "-m", "pytest", "-q", "-o", "sepsms_locmem=false")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b3 passed\b", done.stdout), done.stdout
    # And under Django's own test runner.
    django = run(path, "-m", "django", "test", "test_doc_mixin", "--settings", "project_settings")
    assert django.returncode == 0, django.stdout + django.stderr
    assert "Ran 2 tests" in django.stderr
