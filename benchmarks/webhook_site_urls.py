"""URLs of the webhook benchmark site: the receiver and a bare view."""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """The least a receiver could do: parse the JSON and run one indexed UPDATE."""
    payload = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sepsms_recipient SET status = %s WHERE tx_id = %s",
            [payload["status"], payload["txId"]],
        )
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("bare/", bare),
    path("sepsms/", include("django_sepsms.urls")),
]
