"""The webhook endpoint (``sepsms:webhook``)."""

from __future__ import annotations

import hashlib
import logging
import re

from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from ..conf import redis_client, sepsms_settings
from ..exceptions import WebhookValidationError
from ..redaction import hide_sensitive_values
from ..telemetry import hooks as telemetry
from .payload import MalformedBody, parse_payload
from .storage import receive
from .verify import verify_delivery

logger = logging.getLogger("django_sepsms.webhooks")

#: A Content-Length, as ASCII digits (``int()`` would also take ``" 12"`` or ``"١٢"``).
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}", re.ASCII)


class _BodyTooLarge(Exception):
    pass


def _answer(body: bytes, status: int = 200) -> HttpResponse:
    """A JSON answer from its bytes, written once (each is a constant)."""
    return HttpResponse(body, status=status, content_type="application/json")


# The bytes JsonResponse would write for each answer.
_OK = b'{"status": "ok"}'
_DUPLICATE = b'{"status": "duplicate"}'
_INVALID = b'{"error": "invalid webhook"}'


def _refused() -> HttpResponse:
    # One answer for every refusal: a prober learns nothing about why.
    return _answer(_INVALID, 400)


@csrf_exempt
@login_not_required
@require_POST
@sensitive_variables()
@telemetry.webhook_view
def webhook(request: HttpRequest) -> HttpResponse:
    """Receive one signed delivery from the provider.

    Answers 200 for every genuine delivery (new or repeated, known event or
    not), 400 for anything not genuine or not a JSON object, 413 for an
    oversized body, and 500 when the database fails, so that the provider
    retries.

    An error page or report of this view (and of what it calls) shows no local
    value: they are secrets, bodies and phone numbers.
    """
    hide_sensitive_values(request)
    declared = request.headers.get("content-length") or ""
    if declared and not _CONTENT_LENGTH.fullmatch(declared):
        logger.warning("Webhook refused: malformed Content-Length")
        return _refused()
    limit = sepsms_settings.WEBHOOK_MAX_BODY_SIZE
    try:
        body = _read_body(request, declared, limit)
    except _BodyTooLarge:
        logger.warning("Webhook refused: body larger than %d bytes", limit)
        return JsonResponse({"error": "body too large"}, status=413)
    secrets = sepsms_settings.WEBHOOK_SECRETS
    tolerance = sepsms_settings.WEBHOOK_TOLERANCE
    try:
        delivery = verify_delivery(request.headers, body, secrets=secrets, tolerance=tolerance)
    except WebhookValidationError as exc:
        logger.warning("Webhook refused: %s", exc)
        return _refused()
    if not _first_name_of(delivery.timestamp, body, delivery.event, tolerance):
        logger.warning(
            "Webhook %s refused: signed before under another event name", delivery.event
        )
        return _refused()
    try:
        payload = parse_payload(body)
    except MalformedBody as exc:
        logger.warning("Webhook %s refused: %s", delivery.event, exc)
        return _refused()
    try:
        outcome = receive(delivery.event, delivery.timestamp, payload, body)
    except DatabaseError as exc:
        # The class only: a database's message can quote the payload, numbers included.
        logger.error(
            "Webhook %s could not be stored (%s); the provider will retry",
            delivery.event,
            type(exc).__name__,
        )
        return JsonResponse({"error": "temporarily unavailable"}, status=500)
    telemetry.note_webhook(delivery.event, outcome.outcome)
    return _answer(_DUPLICATE if outcome.duplicate else _OK)


def _first_name_of(timestamp: int, body: bytes, event: str, tolerance: int) -> bool:
    """Whether ``event`` is the name this signed timestamp and body first came with.

    The signature covers the timestamp and the body, not ``X-Webhook-Event``:
    without this, one captured delivery replayed within the tolerance window
    under other names would be stored, signalled and applied once per name. The
    first name is kept in the cache as long as the signed timestamp is accepted.
    If the cache fails, the delivery goes on (the stored key still deduplicates).
    """
    digest = hashlib.sha256(str(timestamp).encode("ascii") + b"." + body).hexdigest()
    key = f"sepsms:webhook:signed:{digest}"
    timeout = 2 * tolerance + 60
    try:
        cache = caches[sepsms_settings.CACHE]
        client = redis_client(cache)
        if client is None:
            if cache.add(key, event, timeout=timeout):
                return True
            return cache.get(key) in (event, None)
        # cache.add() and cache.get(), on one client made once (see conf.redis_client).
        key = cache.make_key(key)
        serializer = cache._cache._serializer  # type: ignore[attr-defined]
        if client.set(key, serializer.dumps(event), ex=timeout, nx=True):
            return True
        found = client.get(key)
        return found is None or serializer.loads(found) == event
    except Exception as exc:  # a cache outage must not refuse genuine deliveries
        logger.warning(
            "Webhook event names not checked: the cache failed (%s)", type(exc).__name__
        )
        return True


def _read_body(request: HttpRequest, declared: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the body, or :class:`_BodyTooLarge`.

    Without a Content-Length (``Transfer-Encoding: chunked``) Django's request
    stream reads nothing under WSGI; the server's own input is read instead when
    it marks the end of the body (``wsgi.input_terminated``, as gunicorn does).
    """
    if declared and int(declared) > limit:
        raise _BodyTooLarge
    stream = request
    if not declared and request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise _BodyTooLarge
    return b"".join(chunks)
