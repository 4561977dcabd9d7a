"""The JSON parser of the API: RFC 8259 and nothing a stranger could turn into a 5xx.

DRF's own ``JSONParser`` recurses once per nesting level (a body of 2,000
``[`` raises ``RecursionError``), decodes whatever charset the request names
and hands NUL characters and lone surrogates to the views. This one:

- reads at most :func:`body_limit` bytes: :data:`MAX_BODY_BYTES`, or Django's
  ``DATA_UPLOAD_MAX_MEMORY_SIZE`` if smaller (413 ``request_too_large`` past it);
- takes UTF-8 only (RFC 8259 §8.1): any other ``charset`` answers 415;
- refuses a body nested deeper than :data:`MAX_DEPTH`, before parsing it;
- refuses ``NaN``, ``Infinity`` and numbers too large for a float (``1e999``);
- refuses NUL (``\\u0000``) and lone surrogates (``\\ud800``) anywhere, keys
  included, so neither reaches the database nor a phone normaliser;
- refuses a name given twice in one object.

Every refusal is a :class:`~rest_framework.exceptions.ParseError`
(400 ``parse_error``) or :class:`RequestTooLarge` (413), answered in the API's
``{"code", "detail"}`` shape.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from ..webhooks.payload import nests_deeper_than

#: The largest body the API reads, in bytes. Its largest real body is about 4 KB.
MAX_BODY_BYTES = 64 * 1024

#: The deepest nesting of arrays and objects accepted. The API's bodies are flat objects.
MAX_DEPTH = 32

INVALID_JSON = _("The body is not valid JSON.")
TOO_DEEP = _("The body is nested too deeply.")
NOT_FINITE = _("The body holds a number that is not finite (NaN, Infinity or too large).")
BAD_CHARACTER = _("The body holds a character that is not allowed (NUL or a lone surrogate).")
DUPLICATE_NAME = _("The body gives the same name twice.")
TOO_LARGE = _("The body is too large.")

# NUL and U+D800..U+DFFF: a well-formed pair of surrogates decodes to one code point above
# U+FFFF, so any surrogate left in a decoded string is a lone one.
_FORBIDDEN = re.compile("[\x00\ud800-\udfff]")


def body_limit() -> int:
    """The most bytes of body the API reads: :data:`MAX_BODY_BYTES`, or Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` when that is smaller."""
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return MAX_BODY_BYTES if django_limit is None else min(MAX_BODY_BYTES, django_limit)


class RequestTooLarge(exceptions.APIException):
    """413: the body is larger than the API reads."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = TOO_LARGE
    default_code = "request_too_large"


class StrictJSONParser(BaseParser):
    """``application/json`` parsed by RFC 8259, bounded in size and depth."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    @sensitive_variables()
    def parse(
        self,
        stream: IO[bytes] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """The body, decoded; raises ``ParseError``, ``RequestTooLarge`` or
        ``UnsupportedMediaType``."""
        charset = _charset(media_type or "")
        if charset not in (None, "utf-8", "utf8"):
            raise exceptions.UnsupportedMediaType(media_type or "")
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge()
        return loads(raw)


@sensitive_variables()
def loads(raw: bytes) -> Any:
    """``raw`` parsed strictly (see the module's description); raises ``ParseError``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.ParseError(INVALID_JSON) from exc
    if _too_deep(text):
        raise exceptions.ParseError(TOO_DEEP)
    try:
        data = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_object,
        )
    except _Refused as exc:
        raise exceptions.ParseError(exc.detail) from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers past Python's digit limit.
        raise exceptions.ParseError(INVALID_JSON) from exc
    if _has_forbidden_character(data):
        raise exceptions.ParseError(BAD_CHARACTER)
    return data


class _Refused(ValueError):
    def __init__(self, detail: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail


def _charset(media_type: str) -> str | None:
    for parameter in media_type.split(";")[1:]:
        name, _sep, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _too_deep(text: str) -> bool:
    return nests_deeper_than(text, MAX_DEPTH)


def _refuse_constant(name: str) -> Any:
    raise _Refused(NOT_FINITE)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Refused(NOT_FINITE)
    return value


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _Refused(DUPLICATE_NAME)
    return data


def _has_forbidden_character(value: Any) -> bool:
    # Recursion is bounded: the body was refused above if nested past MAX_DEPTH.
    if isinstance(value, str):
        return _FORBIDDEN.search(value) is not None
    if isinstance(value, dict):
        return any(
            _has_forbidden_character(key) or _has_forbidden_character(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_forbidden_character(item) for item in value)
    return False
