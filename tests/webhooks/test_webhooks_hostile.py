"""The webhook endpoint against a stranger's bytes, and a provider's odd ones.

Every case goes through the public surface: the test client, or real HTTP to
gunicorn. Anything a stranger sends gets a clean 4xx and writes nothing; a
genuine delivery is answered 200 and applied whatever odd characters it holds.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import DataError, connection
from django.test import Client, override_settings

from django_sepsms import send_sms
from django_sepsms.models import Message, Recipient, WebhookEvent
from django_sepsms.testing import sign_webhook, webhook_body, webhook_headers
from django_sepsms.webhooks.signature import compute_signature
from tests.backends import FixedUuidBackend

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
URL = "/sepsms/webhook/"
REFUSED = {"error": "invalid webhook"}


@pytest.fixture
def message(sms_outbox: list[Any]) -> Iterator[Message]:
    """A message to 0812345678 and 0912345678, sent as provider message ``sms-1``."""
    FixedUuidBackend.next_uuid = "sms-1"
    with override_settings(
        SEPSMS={
            "BACKEND": "tests.backends.FixedUuidBackend",
            "ORIGIN": "TESTSHOP",
            "WEBHOOK_SECRETS": [SECRET, OLD_SECRET],
        }
    ):
        yield send_sms("Hi", ["0812345678", "0912345678"])


def rows() -> dict[str, int]:
    """How many rows every model of the app holds."""
    return {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("sepsms").get_models()
    }


def post_raw(client: Client, body: bytes, **meta: Any) -> Any:
    return client.generic("POST", URL, body, content_type="application/json", **meta)


def post_signed(client: Client, body: bytes, event: str = "dr.success", **meta: Any) -> Any:
    headers = sign_webhook(body, SECRET, event=event)
    headers.update(meta)
    return post_raw(client, body, **headers)


def dr_body() -> dict[str, str]:
    return {"smsUuid": "sms-1", "msisdn": "66812345678", "txId": "tx-1", "status": "success"}


# --- Headers --------------------------------------------------------------------------------


#: Digits that ``str.isdigit()`` accepts (and ``int()`` reads), and full-width hex letters.
_ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x660 + i) for i in range(10)))
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + i) for i in range(10)))
_FULLWIDTH_HEX = str.maketrans(
    "0123456789abcdef",
    "".join(chr(0xFF10 + i) for i in range(10)) + "\uff41\uff42\uff43\uff44\uff45\uff46",
)


def _odd_signature_headers() -> dict[str, str]:
    body = webhook_body(dr_body())
    now = int(time.time())
    good = compute_signature(SECRET, now, body)
    arabic = str(now).translate(_ARABIC_INDIC)
    fullwidth = str(now).translate(_FULLWIDTH)
    return {
        "superscript digit": "t=²,v1=00",
        "superscript digit, good mac": f"t=²,v1={good}",
        # int() reads these digits as the signed time: the grammar must not.
        "arabic-indic digits, good mac": f"t={arabic},v1={good}",
        "full-width digits, good mac": f"t={fullwidth},v1={good}",
        "full-width hex": f"t={now},v1=" + good.translate(_FULLWIDTH_HEX),
        "negative time": f"t=-{now},v1={good}",
        "time with a sign": f"t=+{now},v1={good}",
        "time with an underscore": f"t={now // 1000}_{now % 1000:03d},v1={good}",
        "non-breaking space": f"t={now},\u00a0v1={good}",
        "ideographic space": f"t={now}\u3000,v1={good}",
        "NUL": f"t={now}\x00,v1={good}",
        "non-hex v1": f"t={now},v1={'z' * 64}",
        "short v1": f"t={now},v1={good[:-1]}",
        "long v1": f"t={now},v1={good}0",
        "latin-1 letter": f"t={now},v1=\u00e9{good}",
        "an emoji": f"t={now},v1={good}\U0001f600",
        "a lone surrogate": f"t={now},v1={good}\ud800",
        "empty item": f"t={now},,v1={good}",
        "two timestamps": f"t={now},t={now},v1={good}",
        "huge header": f"t={now},v1={good}," + "v0=" + "a" * 100_000,
        "many v1 values": f"t={now}," + ",".join(f"v1={good}" for _ in range(2000)),
    }


@pytest.mark.parametrize("case", list(_odd_signature_headers()))
def test_odd_signature_headers_are_refused_cleanly(
    client: Client, message: Message, case: str
) -> None:
    before = rows()
    body = webhook_body(dr_body())
    response = post_raw(
        client,
        body,
        HTTP_X_WEBHOOK_SIGNATURE=_odd_signature_headers()[case],
        HTTP_X_WEBHOOK_EVENT="dr.success",
    )
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert rows() == before
    assert set(message.recipients.values_list("status", flat=True)) == {"pending"}


@pytest.mark.parametrize(
    "stated",
    ["{t}\u3000", "\u00a0{t}", "\u0660{t}", "{t}\x00", "0{t}", "{t}.0", "-{t}", "{t}" * 500],
)
def test_odd_timestamp_headers_are_refused(client: Client, message: Message, stated: str) -> None:
    before = rows()
    body = webhook_body(dr_body())
    t = int(time.time())
    response = post_signed(client, body, HTTP_X_WEBHOOK_TIMESTAMP=stated.format(t=t))
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert rows() == before


@pytest.mark.parametrize(
    "event",
    [
        "dr.success\x00",
        "dr.\u0455uccess",
        "dr.success\ud800",
        "dr success",
        "",
        "d" * 65,
        "\u3000",
    ],
)
def test_odd_event_headers_are_refused(client: Client, message: Message, event: str) -> None:
    before = rows()
    response = post_signed(client, webhook_body(dr_body()), event=event)
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert rows() == before


def test_spaces_and_tabs_around_items_are_still_accepted(client: Client, message: Message) -> None:
    body = webhook_body(dr_body())
    t = int(time.time())
    header = f"t={t} ,\tv1={compute_signature(SECRET, t, body).upper()} , v0=old"
    response = post_raw(
        client,
        body,
        HTTP_X_WEBHOOK_SIGNATURE=header,
        HTTP_X_WEBHOOK_TIMESTAMP=f" {t}",
        HTTP_X_WEBHOOK_EVENT=" dr.success ",
    )
    assert response.json() == {"status": "ok"}
    assert message.recipients.get(phone="66812345678").status == Recipient.Status.SUCCESS


@pytest.mark.parametrize("length", ["²", "-1", "1e3", "\uff11\uff12", "12 ", "0x10", "9" * 40])
def test_odd_content_lengths_are_refused(client: Client, message: Message, length: str) -> None:
    before = rows()
    body = webhook_body(dr_body())
    response = post_signed(client, body, CONTENT_LENGTH=length)
    assert response.status_code in {400, 413}
    assert rows() == before


def test_without_a_length_or_an_end_marker_the_body_is_not_read(
    client: Client, message: Message
) -> None:
    """A WSGI server that does not end the input could block a read forever."""
    before = rows()
    body = webhook_body(dr_body())
    response = post_signed(client, body, CONTENT_LENGTH="")
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert rows() == before


# --- Bodies that are signed but are not RFC 8259 JSON ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"balance": NaN}',
        b'{"balance": Infinity}',
        b'{"balance": -Infinity}',
        b'{"a": [' * 2_000 + b"]}" * 2_000,
        b"[" * 20_000,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b'{"msisdn": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes: not UTF-8
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        b'{"a": "\x00"}',  # a raw control character inside a string
        b'{"a": 1} {"b": 2}',
    ],
)
def test_signed_bodies_that_are_not_json_are_refused(
    client: Client, message: Message, body: bytes
) -> None:
    before = rows()
    response = post_signed(client, body, event="credit.low")
    assert (response.status_code, response.json()) == (400, REFUSED)
    assert rows() == before


@pytest.mark.parametrize(
    ("body", "stored"),
    [
        (b'{"balance": 1e999}', {"balance": "1e999"}),
        (b'{"balance": -1E+999}', {"balance": "-1E+999"}),
        (b'{"balance": 1e-999}', {"balance": 0.0}),
        (b'{"balance": 12345678901234567890123}', {"balance": 12345678901234567890123}),
        (b'{"balance": ' + b"9" * 5_000 + b"}", {"balance": "9" * 5_000}),
        (b'{"note": "a\\u0000b"}', {"note": "a\ufffdb"}),
        (b'{"note": "\\ud800"}', {"note": "\ufffd"}),
        (b'{"note": "\\udfff\\ud800x"}', {"note": "\ufffd\ufffdx"}),
        (b'{"note": "\\ud83d\\ude00"}', {"note": "\U0001f600"}),  # a real pair stays
        (
            b'{"k\\u0000": ["\\u0000", {"\\ud800": "\\udc00"}]}',
            {"k\ufffd": ["\ufffd", {"\ufffd": "\ufffd"}]},
        ),
        ('{"note": "สวัสดี \u200b\u202e\ufeff"}'.encode(), {"note": "สวัสดี \u200b\u202e\ufeff"}),
    ],
)
def test_valid_json_that_a_database_refuses_is_stored_sanitised(
    client: Client, body: bytes, stored: dict[str, Any]
) -> None:
    response = post_signed(client, body, event="credit.low")
    assert response.json() == {"status": "ok"}
    event = WebhookEvent.objects.get()
    assert event.payload == stored


@pytest.mark.parametrize(
    "extra",
    [
        '"note":"\\u0000"',
        '"note":"\\ud800"',
        '"\\u0000":"x"',
        '"note":1e999',
        '"n":' + "9" * 5_000,
        '"nested":[[[["\\udbff", {"\\ud800": null}]]]]',
    ],
)
def test_a_genuine_report_with_odd_characters_is_applied(
    client: Client, message: Message, extra: str
) -> None:
    body = webhook_body(dr_body())[:-1] + b"," + extra.encode() + b"}"
    response = post_signed(client, body)
    assert response.json() == {"status": "ok"}
    recipient = message.recipients.get(phone="66812345678")
    assert (recipient.status, recipient.tx_id) == (Recipient.Status.SUCCESS, "tx-1")
    assert WebhookEvent.objects.get().outcome == WebhookEvent.Outcome.APPLIED


@pytest.mark.parametrize("field", ["txId", "smsUuid", "status", "msisdn"])
@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udc00\\u0000"])
def test_odd_characters_in_the_known_fields_never_give_a_5xx(
    client: Client, message: Message, field: str, escape: str
) -> None:
    fields = dr_body()
    body = webhook_body(fields).replace(
        f'"{field}":"{fields[field]}"'.encode(), f'"{field}":"{fields[field]}{escape}"'.encode()
    )
    assert escape.encode() in body
    response = post_signed(client, body)
    assert response.json() == {"status": "ok"}
    event = WebhookEvent.objects.get()
    assert "\x00" not in json.dumps(event.payload, ensure_ascii=False)
    assert "\ufffd" in event.payload[field]
    # The event is stored whatever it did; with a txId that is not the provider's own,
    # the recipient still moves (txId is recorded as received, sanitised).
    if field == "txId":
        recipient = message.recipients.get(phone="66812345678")
        assert recipient.status == Recipient.Status.SUCCESS
        assert recipient.tx_id.startswith("tx-1\ufffd")


# --- Logs and error pages -------------------------------------------------------------------


def test_a_data_error_log_line_carries_no_payload_and_no_number(
    client: Client, message: Message, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def refuses(*args: Any, **kwargs: Any) -> Any:
        raise DataError(
            'invalid input syntax for type json DETAIL: {"msisdn": "66812345678", "x": "\\u0000"}'
        )

    monkeypatch.setattr("django_sepsms.webhooks.views.receive", refuses)
    with caplog.at_level(logging.DEBUG, logger="django_sepsms"):
        response = post_signed(client, webhook_body(dr_body()))
    assert (response.status_code, response.json()) == (500, {"error": "temporarily unavailable"})
    records = [r for r in caplog.records if r.name.startswith("django_sepsms")]
    assert records
    for record in records:
        rendered = logging.Formatter().format(record)
        assert "812345678" not in rendered
        assert "msisdn" not in rendered
        assert record.exc_info is None
        assert record.exc_text is None
        assert "812345678" not in repr(record.args)
    assert any("DataError" in r.getMessage() and "dr.success" in r.getMessage() for r in records)


def _debug_page(monkeypatch: pytest.MonkeyPatch, target: str, body: bytes, **meta: Any) -> str:
    """The ``DEBUG = True`` 500 page of a delivery whose handling fails at ``target``."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("forced")

    headers = sign_webhook(body, SECRET)
    monkeypatch.setattr(target, broken)
    with override_settings(DEBUG=True):
        response = Client(raise_request_exception=False).generic(
            "POST", URL, body, content_type="application/json", **headers, **meta
        )
    monkeypatch.undo()
    assert response.status_code == 500
    return response.content.decode()


@pytest.mark.parametrize(
    "target",
    [
        "hmac.compare_digest",  # inside signature_matches, with every secret and MAC at hand
        "hmac.new",  # inside compute_signature, with the secret as its argument
        "django_sepsms.webhooks.verify.signature_matches",
        "django_sepsms.webhooks.views.receive",
    ],
)
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_the_debug_page_never_shows_a_webhook_secret(
    message: Message, monkeypatch: pytest.MonkeyPatch, target: str, accept: str
) -> None:
    body = webhook_body(dr_body())
    t = int(time.time())
    page = _debug_page(monkeypatch, target, body, HTTP_ACCEPT=accept)
    assert "forced" in page
    for secret in (SECRET, OLD_SECRET):
        assert secret not in page
        assert repr(secret.encode())[2:-1] not in page
    # Nor the MAC the body should carry, which would forge it; nor the numbers.
    for mac in (
        compute_signature(s, t + d, body) for s in (SECRET, OLD_SECRET) for d in (-1, 0, 1)
    ):
        assert mac not in page
    assert "812345678" not in page


# --- Chunked bodies under a real server -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user, host, port = settings["USER"], settings["HOST"], settings["PORT"]
        return f"postgres://{user}@{host}:{port}/{settings['NAME']}"
    return f"sqlite://{settings['NAME']}"


@pytest.fixture
def gunicorn() -> Iterator[tuple[str, int]]:
    """gunicorn serving the test project on this test's database, once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent.parent),
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
            "django.core.wsgi:get_wsgi_application()",
        ],
        env=env,
        cwd=env["PYTHONPATH"],
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "gunicorn exited"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.05)
        yield ("127.0.0.1", port)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _post_chunked(address: tuple[str, int], body: bytes, headers: dict[str, str]) -> Any:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
        conn.request(
            "POST",
            URL,
            body=iter(pieces),
            headers={"Content-Type": "application/json", **headers},
            encode_chunked=True,
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_chunked_delivery_under_gunicorn_is_read_and_applied(
    message: Message, gunicorn: tuple[str, int]
) -> None:
    body = webhook_body(dr_body())
    status, answer = _post_chunked(gunicorn, body, webhook_headers(body, SECRET))
    assert (status, answer) == (200, {"status": "ok"})
    assert message.recipients.get(phone="66812345678").status == Recipient.Status.SUCCESS

    # Oversized without a declared length: refused once the limit is passed, nothing stored.
    big = webhook_body({"padding": "x" * (64 * 1024)})
    status, answer = _post_chunked(gunicorn, big, webhook_headers(big, SECRET, event="x.big"))
    assert (status, answer) == (413, {"error": "body too large"})
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the handler closes old connections, as in production
def test_a_delivery_without_a_length_under_asgi_is_read_and_applied(message: Message) -> None:
    from asgiref.sync import async_to_sync
    from django.core.handlers.asgi import ASGIHandler

    body = webhook_body(dr_body())
    headers = [(k.lower().encode(), v.encode()) for k, v in webhook_headers(body, SECRET).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
    }
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # the client stays connected; cancelled after the answer
        return {"type": "http.disconnect"}

    async def send(event: Mapping[str, Any]) -> None:
        sent.append(event)

    async_to_sync(ASGIHandler())(scope, receive, send)
    start = next(e for e in sent if e["type"] == "http.response.start")
    assert start["status"] == 200
    assert message.recipients.get(phone="66812345678").status == Recipient.Status.SUCCESS
