"""The ASGI application of tests/test_asgi.py: the app's URLs, and async views that
await the async twins, as a site's own async views would.

Run with ``DJANGO_SETTINGS_MODULE=tests.asgi_settings``.
"""

from __future__ import annotations

import json
import os

from django.core.asgi import get_asgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

import django_sepsms

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi_settings")
application = get_asgi_application()  # before the URLs below import the app's models


def _json(request: HttpRequest) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(request.body or b"{}").items()}


@csrf_exempt
async def send_view(request: HttpRequest) -> JsonResponse:
    data = _json(request)
    msg = await django_sepsms.asend_sms(data["text"], [data["phone"]])
    return JsonResponse({"status": msg.status, "recipients": msg.recipient_count})


@csrf_exempt
async def bulk_view(request: HttpRequest) -> JsonResponse:
    data = _json(request)
    report = await django_sepsms.asend_bulk(data["text"], data["phones"].split(","))
    return JsonResponse({"recorded": report.recorded, "refused": report.refused_count})


@csrf_exempt
async def otp_view(request: HttpRequest) -> JsonResponse:
    challenge = await django_sepsms.asend_otp(_json(request)["phone"], request=request)
    return JsonResponse({"reference": challenge.reference})


@csrf_exempt
async def verify_view(request: HttpRequest) -> JsonResponse:
    data = _json(request)
    result = await django_sepsms.averify_otp(data["reference"], data["pin"], request=request)
    return JsonResponse({"verified": bool(result), "reason": result.reason})


async def balance_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"balance": await django_sepsms.aget_balance()})


urlpatterns = [
    path("sepsms/", include("django_sepsms.urls")),
    path("async/sms/", send_view),
    path("async/bulk/", bulk_view),
    path("async/otp/", otp_view),
    path("async/otp/verify/", verify_view),
    path("async/balance/", balance_view),
]
