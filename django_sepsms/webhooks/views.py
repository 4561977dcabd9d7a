"""The webhook endpoint (``sepsms:webhook``)."""

from __future__ import annotations

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..conf import sepsms_settings
from ..exceptions import WebhookValidationError
from .events import receive
from .verify import verify_delivery

logger = logging.getLogger("django_sepsms.webhooks")


def _refused() -> JsonResponse:
    # One answer for every refusal: a prober learns nothing about why.
    return JsonResponse({"error": "invalid webhook"}, status=400)


@csrf_exempt
@login_not_required
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    """Receive one signed delivery from the provider.

    Answers 200 for every genuine delivery (new or repeated, known event or
    not), 400 for anything not genuine or not JSON, 413 for an oversized
    body, and 500 when the database fails, so that the provider retries.
    """
    limit = sepsms_settings.WEBHOOK_MAX_BODY_SIZE
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        logger.warning("Webhook refused: malformed Content-Length")
        return _refused()
    body = b"" if declared > limit else request.read(limit + 1)
    if declared > limit or len(body) > limit:
        logger.warning("Webhook refused: body larger than %d bytes", limit)
        return JsonResponse({"error": "body too large"}, status=413)
    try:
        delivery = verify_delivery(
            request.headers,
            body,
            secrets=sepsms_settings.WEBHOOK_SECRETS,
            tolerance=sepsms_settings.WEBHOOK_TOLERANCE,
        )
    except WebhookValidationError as exc:
        logger.warning("Webhook refused: %s", exc)
        return _refused()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        logger.warning("Webhook %s refused: the body is not JSON", delivery.event)
        return _refused()
    if not isinstance(payload, dict):
        logger.warning("Webhook %s refused: the body is not a JSON object", delivery.event)
        return _refused()
    try:
        outcome = receive(delivery.event, delivery.timestamp, payload, body)
    except DatabaseError:
        logger.exception("Webhook %s could not be stored; the provider will retry", delivery.event)
        return JsonResponse({"error": "temporarily unavailable"}, status=500)
    return JsonResponse({"status": "duplicate" if outcome.duplicate else "ok"})
