"""Hypothesis against the webhook endpoint, the way a stranger and a faulty provider would.

Unsigned or badly signed input is refused (400/413) and changes no row; signed
input is answered 200, 400 or 413 only, and exactly 200 when the body is an
RFC 8259 JSON object that nests no deeper than the limit. Never a 5xx.

``SEPSMS_FUZZ_EXAMPLES`` is the number of inputs of one run, shared among the
tests below (default 2,500; CI runs several legs with random seeds), e.g.::

    SEPSMS_FUZZ_EXAMPLES=16000 python -m pytest -q tests/webhooks/test_webhooks_fuzz.py
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_sepsms import contract, send_sms
from django_sepsms.models import Message, Recipient, WebhookEvent
from django_sepsms.webhooks.payload import MAX_DEPTH
from django_sepsms.webhooks.signature import compute_signature
from tests.backends import FixedUuidBackend

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_current"
URL = "/sepsms/webhook/"
LIMIT = 16 * 1024
TOLERANCE = 300
SEPSMS = {
    "BACKEND": "tests.backends.FixedUuidBackend",
    "ORIGIN": "TESTSHOP",
    "WEBHOOK_SECRETS": [SECRET, "whsec_test_previous"],
    "WEBHOOK_MAX_BODY_SIZE": LIMIT,
    "WEBHOOK_TOLERANCE": TOLERANCE,
}
BUDGET = int(os.environ.get("SEPSMS_FUZZ_EXAMPLES", "2500"))
#: Every answer of this run, by status.
ANSWERS: Counter[int] = Counter()


def examples(share: float) -> Any:
    """Hypothesis settings for a test that takes ``share`` of the budget.

    Random inputs even under ``CI``, whose Hypothesis profile would derandomize
    them: each leg then tries inputs of its own, not the same ones again.
    """
    return settings(
        max_examples=max(20, round(BUDGET * share)),
        derandomize=False,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


@pytest.fixture(scope="module", autouse=True)
def _summary(request: pytest.FixtureRequest) -> Iterator[None]:
    ANSWERS.clear()
    yield
    plugins = request.config.pluginmanager
    reporter, capture = (
        plugins.get_plugin("terminalreporter"),
        plugins.get_plugin("capturemanager"),
    )
    five = sum(n for status, n in ANSWERS.items() if status >= 500)
    line = (
        f"webhook fuzz: {sum(ANSWERS.values())} inputs, {five} x 5xx, "
        f"answers {dict(sorted(ANSWERS.items()))}"
    )
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\n" + line)


@pytest.fixture
def message(sms_outbox: list[Any]) -> Iterator[Message]:
    """A message to 0812345678 and 0912345678, provider message ``sms-1``."""
    FixedUuidBackend.next_uuid = "sms-1"
    with override_settings(SEPSMS=SEPSMS):
        yield send_sms("Hi", ["0812345678", "0912345678"])


def _state() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Row counts of every model of the app, and the recipients' statuses."""
    counts = {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("sepsms").get_models()
    }
    return counts, list(Recipient.objects.order_by("pk").values_list("phone", "status"))


def _post(body: bytes, meta: dict[str, Any]) -> int:
    response = Client().generic("POST", URL, body, content_type="application/json", **meta)
    ANSWERS[response.status_code] += 1
    return int(response.status_code)


class _Rollback:
    """Each example starts from the same rows and cache: everything it wrote is undone.

    The cache remembers the event name of each signed delivery: an example must
    not find the name of an earlier one with the same body.
    """

    def __enter__(self) -> None:
        self._atomic = transaction.atomic()
        self._atomic.__enter__()

    def __exit__(self, *exc: object) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=cache.make_key("sepsms:webhook:signed:*")))
        if keys:
            client.delete(*keys)


def _refused_without_a_trace(body: bytes, meta: dict[str, Any]) -> None:
    with _Rollback():
        before = _state()
        status = _post(body, meta)
        assert status in {400, 413}, status
        assert _state() == before


# --- Strategies -----------------------------------------------------------------------------

#: Any code point, surrogates and controls included.
ANY_CHAR = st.characters(exclude_categories=())
ANY_TEXT = st.text(ANY_CHAR, max_size=80)
ODD_DIGITS = st.sampled_from(
    ["²", "\u0661\u0667", "\uff11\uff17", "\u00b9", "\u2460", "\U0001d7d9", "\u0e51"]
)
#: What a server can hand Django as a header value (PEP 3333: bytes read as latin-1).
WIRE_TEXT = st.one_of(st.binary(max_size=80), st.binary(min_size=1_000, max_size=3_000)).map(
    lambda b: b.decode("latin-1")
)
#: Our own headers also get any text at all, as a test client may send.
OUR_HEADERS = st.sampled_from(
    ["HTTP_X_WEBHOOK_SIGNATURE", "HTTP_X_WEBHOOK_TIMESTAMP", "HTTP_X_WEBHOOK_EVENT"]
)
OTHER_HEADERS = st.sampled_from(
    ["CONTENT_TYPE", "HTTP_CONTENT_ENCODING", "HTTP_TRANSFER_ENCODING", "HTTP_X_OTHER"]
)
EVENTS = st.sampled_from([*contract.WEBHOOK_EVENTS, "x.unknown", " dr.success", "dr.failed\t"])
ODD_EVENTS = st.one_of(
    ANY_TEXT,
    st.sampled_from(["dr.success\x00", "dr.\u0455uccess", "d" * 65, "dr success", "", "\u3000"]),
)

# JSON text, hostile leaves first: written as text, since NaN, lone surrogate
# escapes, huge numbers and deep nesting are what json.dumps never produces.
HOSTILE_STRINGS = st.sampled_from(
    [
        r'"\u0000"',
        r'"\ud800"',
        r'"\udfff"',
        r'"\udc00\ud800"',
        r'"\ud83d\ude00"',
        r'"a\u0000b\ud9ffc"',
        r'"\\u0000"',
        r'"\""',
        '"\u202e\u200b\ufeff\ufffe"',
        '"\U0010ffff"',
        '"สวัสดี"',
        '""',
    ]
)
NUMBERS = st.one_of(
    st.sampled_from(
        ["1e999", "-1E+999", "1e-999", "-0", "0.0", "1.0e308", "2e308", "1" * 30, "0." + "3" * 500]
    ),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
)
#: Integers past Python's 4,300-digit limit (rare: two of them fill a body).
HUGE = st.sampled_from(["9" * 4_400, "-" + "1" * 5_000])
#: Tokens Python's json reads (or not) and RFC 8259 does not have.
NOT_JSON = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "nul",
        "tru",
        "'x'",
        "0x10",
        "+1",
        ".5",
        "01",
        "1.",
        '"\\x41"',
        '"\\u12"',
        "undefined",
        "\x00",
        '"\t"',
    ]
)


@st.composite
def json_strings(draw: st.DrawFn) -> str:
    """A JSON string: hostile, or any text escaped as ASCII or written as it is."""
    if draw(st.integers(0, 2)) == 0:
        return draw(HOSTILE_STRINGS)
    return json.dumps(draw(ANY_TEXT), ensure_ascii=draw(st.booleans()))


VALID_LEAVES = st.one_of(json_strings(), NUMBERS, st.sampled_from(["true", "false", "null"]))
#: JSON whitespace, and (rarely) white space that is not JSON's.
SPACE = st.one_of(
    st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n"]),
    st.sampled_from([""] * 20 + ["\u00a0", "\x0b", "\u3000", "\x0c"]),
)


def _join(parts: list[str], space: str) -> str:
    return ("," + space).join(parts)


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.tuples(st.lists(children, max_size=4), SPACE).map(
        lambda t: "[" + t[1] + _join(t[0], t[1]) + "]"
    )
    members = st.tuples(json_strings(), SPACE, children).map(lambda t: f"{t[0]}{t[1]}:{t[2]}")
    objects = st.tuples(st.lists(members, max_size=4), SPACE).map(
        lambda t: "{" + t[1] + _join(t[0], t[1]) + "}"
    )
    return st.one_of(arrays, objects)


#: Valid JSON values of any shape, hostile strings and numbers included.
VALID_VALUES = st.recursive(VALID_LEAVES, _containers, max_leaves=8)
#: The same, with tokens that are not JSON among the leaves.
VALUES = st.recursive(st.one_of(VALID_LEAVES, NOT_JSON), _containers, max_leaves=8)
#: 1 to 5,000 levels: arrays, or objects and arrays in turn (two levels a step).
DEEP = st.one_of(
    st.integers(1, 5_000).map(lambda n: "[" * n + "1" + "]" * n),
    st.integers(1, 1_200).map(lambda n: '{"a":[' * n + "1" + "]}" * n),
)
UNBALANCED = st.integers(1, 5_000).map(lambda n: '{"a":' + "[" * n)

#: Right values for the fields the events read (contract.py, sepsms-api-v2.md).
FIELD_VALUES = {
    "smsUuid": ['"sms-1"', '"sms-2"'],
    "msisdn": ['"66812345678"', '"0812345678"', '"+66 81-234-5678"', '"66912345678"'],
    "txId": ['"tx-1"', '"8f3a1c9d"'],
    "status": [json.dumps(s) for s in (*contract.DELIVERY_STATUSES, "delivered", "completed")],
    "reference": ['"A3K9X2"'],
    "destination": ['"66812345678"'],
    "balance": ["100", "0", "-1"],
    "orderId": ['"ord-1"'],
}


def _one_in(n: int) -> st.SearchStrategy[bool]:
    # Not integers(): Hypothesis draws their bounds far more often than 1 in n.
    return st.sampled_from([False] * (n - 1) + [True])


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A body as the provider might write it, with hostile values in any field."""
    if draw(_one_in(10)):
        text = draw(st.one_of(DEEP, UNBALANCED, VALUES))
    else:
        members = []
        for name, right in FIELD_VALUES.items():
            if draw(st.booleans()):
                kind = draw(st.integers(0, 9))
                value = draw(
                    st.sampled_from(right) if kind < 6 else VALID_VALUES if kind < 9 else VALUES
                )
                members.append(f'"{name}":{value}')
        extras = st.tuples(json_strings(), st.one_of(VALID_VALUES, VALID_VALUES, VALUES))
        members += [f"{k}:{v}" for k, v in draw(st.lists(extras, max_size=3))]
        if draw(_one_in(25)):
            members.append(f'"n":{draw(HUGE)}')
        members = draw(st.permutations(members))
        space = draw(SPACE)
        text = "{" + space + _join(members, space) + space + "}"
    if draw(_one_in(30)):
        text = draw(st.sampled_from(["\ufeff", " ", "\n"])) + text
        text += draw(st.sampled_from(["", " x", "{}"]))
    if draw(_one_in(40)):
        text = text[:-1] + ',"padding":"' + "x" * LIMIT + '"}'
    return text.encode("utf-8", "surrogatepass")


def _expected_answer(body: bytes, event: str) -> int:
    """The answer the contract promises a signed body: an independent reading of it."""
    if len(body) > LIMIT:
        return 413
    if not contract_event(event):
        return 400
    try:
        value = json.loads(
            body.decode("utf-8"),
            parse_constant=_not_json,
            parse_int=lambda s: 0,
            parse_float=lambda s: 0.0,
        )
    except (ValueError, RecursionError):
        return 400
    return 200 if isinstance(value, dict) and _depth(value) <= MAX_DEPTH else 400


def contract_event(name: str) -> bool:
    stripped = name.strip(" \t")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")
    return 0 < len(stripped) <= 64 and set(stripped) <= allowed


def _not_json(name: str) -> Any:
    raise ValueError(name)


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (without recursing)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _signed(body: bytes, event: str, t: int | None = None) -> dict[str, str]:
    t = int(time.time()) if t is None else t
    return {
        "HTTP_X_WEBHOOK_EVENT": event,
        "HTTP_X_WEBHOOK_TIMESTAMP": str(t),
        "HTTP_X_WEBHOOK_SIGNATURE": f"t={t},v1={compute_signature(SECRET, t, body)}",
    }


REPORT = json.dumps(
    {"smsUuid": "sms-1", "msisdn": "66812345678", "txId": "tx-1", "status": "success"}
).encode()


# --- Unsigned and badly signed: refused, nothing written ------------------------------------


@examples(0.2)
@given(
    ours=st.dictionaries(OUR_HEADERS, st.one_of(WIRE_TEXT, ANY_TEXT)),
    others=st.dictionaries(OTHER_HEADERS, WIRE_TEXT),
    body=st.one_of(st.binary(max_size=2_000), st.just(REPORT), bodies()),
)
def test_garbage_is_refused_and_changes_nothing(
    message: Message, ours: dict[str, str], others: dict[str, str], body: bytes
) -> None:
    _refused_without_a_trace(body, ours | others)


FLAWS = (
    "wrong secret",
    "stale",
    "future",
    "other body",
    "other time",
    "timestamp header differs",
    "no event",
    "odd event",
    "odd digits in t",
    "mangled mac",
    "no v1",
    "two t",
    "short mac",
    "non-hex mac",
)


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A delivery that is right in every way but one (``FLAWS``)."""
    body = draw(st.one_of(st.just(REPORT), bodies()))
    flaw = draw(st.sampled_from(FLAWS))
    now = int(time.time())
    t = now
    if flaw == "stale":
        t = now - TOLERANCE - draw(st.integers(5, 10**6))
    elif flaw == "future":
        t = now + TOLERANCE + draw(st.integers(5, 10**6))
    secret = SECRET
    if flaw == "wrong secret":
        secret = draw(
            st.sampled_from(["whsec_attacker", "", SECRET.upper(), SECRET + " ", SECRET[:-1]])
        )
    signed_body, signed_t = body, t
    if flaw == "other body":
        signed_body = body + draw(st.sampled_from([b" ", b"\n", b"x", b"\x00"]))
    elif flaw == "other time":
        signed_t = t + draw(st.sampled_from([-1, 1, 60, -3600]))
    mac = compute_signature(secret, signed_t, signed_body)
    if flaw == "mangled mac":
        at = draw(st.integers(0, 63))
        mac = (
            mac[:at]
            + draw(st.sampled_from([c for c in "0123456789abcdef" if c != mac[at]]))
            + mac[at + 1 :]
        )
    elif flaw == "short mac":
        mac = mac[: draw(st.integers(0, 63))]
    elif flaw == "non-hex mac":
        at = draw(st.integers(0, 63))
        mac = (
            mac[:at]
            + draw(st.sampled_from(["g", "\uff41", "\u0660", " ", "\x00"]))
            + mac[at + 1 :]
        )
    t_text = str(t)
    if flaw == "odd digits in t":
        at = draw(st.integers(0, len(t_text) - 1))
        t_text = t_text[:at] + draw(ODD_DIGITS) + t_text[at + 1 :]
    items = [f"t={t_text}"] + ([] if flaw == "no v1" else [f"v1={mac}"])
    if flaw == "two t":
        items.append(f"t={t_text}")
    items += draw(st.lists(st.sampled_from(["v0=abc", "v2=" + "0" * 64, "x=1"]), max_size=2))
    items = draw(st.permutations(items))
    header = draw(st.sampled_from([",", ", ", " ,\t"])).join(items)
    event = draw(EVENTS)
    if flaw == "odd event":
        event = draw(ODD_EVENTS.filter(lambda e: not contract_event(e)))
    meta = {"HTTP_X_WEBHOOK_SIGNATURE": header}
    if flaw != "no event":
        meta["HTTP_X_WEBHOOK_EVENT"] = event
    if flaw == "timestamp header differs":
        meta["HTTP_X_WEBHOOK_TIMESTAMP"] = draw(
            st.one_of(
                st.sampled_from([str(t - 1), str(t + 1), "0" + str(t), f"{t}.0", f"\u00a0{t}"]),
                ODD_DIGITS.map(lambda d: str(t)[:-1] + d),
            )
        )
    elif draw(st.booleans()):
        meta["HTTP_X_WEBHOOK_TIMESTAMP"] = t_text
    return body, meta


@examples(0.25)
@given(case=near_misses())
def test_near_misses_are_refused_and_change_nothing(
    message: Message, case: tuple[bytes, dict[str, str]]
) -> None:
    body, meta = case
    _refused_without_a_trace(body, meta)


# --- Signed: 200 for every JSON object, 400 or 413 for the rest, never a 5xx ----------------


@examples(0.4)
@given(body=bodies(), event=st.one_of(EVENTS, EVENTS, ODD_EVENTS))
def test_signed_hostile_bodies_get_the_answer_the_contract_promises(
    message: Message, body: bytes, event: str
) -> None:
    with _Rollback():
        before = WebhookEvent.objects.count()
        status = _post(body, _signed(body, event))
        assert status == _expected_answer(body, event), (status, body[:200])
        stored = WebhookEvent.objects.count() - before
        assert stored == (1 if status == 200 else 0)
        if stored:
            payload = WebhookEvent.objects.latest("id").payload
            text = json.dumps(payload, ensure_ascii=False)
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate is left


def _not_a_report_field(key: str) -> bool:
    try:
        return json.loads(key) not in {"smsUuid", "msisdn", "txId", "status"}
    except ValueError:
        return True


@examples(0.15)
@given(
    extras=st.lists(
        st.tuples(json_strings().filter(_not_a_report_field), VALID_VALUES), min_size=1, max_size=4
    ),
    first=st.booleans(),
)
def test_a_genuine_report_with_hostile_extras_is_applied(
    message: Message, extras: list[tuple[str, str]], first: bool
) -> None:
    core = REPORT.decode()[1:-1]
    members = [f"{k}:{v}" for k, v in extras]
    inner = ",".join([*members, core] if first else [core, *members])
    body = ("{" + inner + "}").encode("utf-8", "surrogatepass")
    expected = _expected_answer(body, "dr.success")
    with _Rollback():
        status = _post(body, _signed(body, "dr.success"))
        assert status == expected
        recipient = Recipient.objects.get(message=message, phone="66812345678")
        if expected == 200:
            assert recipient.status == Recipient.Status.SUCCESS
        else:
            assert recipient.status == Recipient.Status.PENDING
