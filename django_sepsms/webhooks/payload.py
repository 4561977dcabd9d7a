"""Reading a verified webhook body: strict JSON, and only values every database stores.

Python's ``json`` accepts more than RFC 8259 and yields values that a database
refuses: ``NaN`` and ``Infinity`` (not JSON; SQLite's JSON check refuses them),
``1e999`` (read as infinity), ``\\u0000`` (PostgreSQL text and ``jsonb`` refuse
it) and lone surrogates such as ``\\ud800`` (not encodable as UTF-8). A refusal
there would be a 500, which the provider retries forever. So:

- not JSON by RFC 8259 (not UTF-8, ``NaN``/``Infinity``, nested deeper than
  :data:`MAX_DEPTH`, trailing data) → :class:`MalformedBody`, answered 400;
- valid JSON that cannot be stored as it is → kept, made storable: a number
  too large for a float or an int is kept as its text (``"1e999"``), and every
  NUL or lone surrogate, in keys and values alike, becomes U+FFFD.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.views.decorators.debug import sensitive_variables

#: The deepest nesting of arrays and objects read. The provider's bodies are flat
#: objects; this leaves room for more and stays far below Python's recursion limit.
MAX_DEPTH = 32
#: What no database column takes: NUL and UTF-16 surrogates left unpaired by the parser.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: The characters that matter when measuring nesting.
_STRUCTURE = re.compile(r'[\[\]{}"\\]')


class MalformedBody(ValueError):
    """The body is not an RFC 8259 JSON object; the message says why (for logs)."""


@sensitive_variables()
def parse_payload(raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``, with every value storable; raises :class:`MalformedBody`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None
    if _too_deep(text):
        raise MalformedBody(f"the body is nested deeper than {MAX_DEPTH}")
    try:
        value = _DECODER.decode(text)
    except ValueError:
        raise MalformedBody("the body is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedBody("the body is not a JSON object")
    # NUL and surrogates can only come from \u escapes: a body without one is clean.
    return _storable(value) if "\\u" in text else value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text


def _integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:  # over Python's limit on digits (sys.get_int_max_str_digits)
        return text


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_number, parse_int=_integer
)


def _too_deep(text: str) -> bool:
    return nests_deeper_than(text, MAX_DEPTH)


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects in the JSON ``text`` nest deeper than ``limit``, strings aside.

    A linear scan that never recurses, so a body of 60,000 ``[`` is refused
    before the parser (which recurses) sees it, and never backtracks, so no
    arrangement of quotes and backslashes makes it slow.
    """
    depth = 0
    in_string = False
    escaped_at = -1
    for match in _STRUCTURE.finditer(text):
        char, at = match.group(), match.start()
        if at == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value
