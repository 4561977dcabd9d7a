"""URLs of django-sepsms; include them under any prefix (namespace ``sepsms``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from .webhooks.views import webhook

app_name = "sepsms"

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhook/", webhook, name="webhook"),
]
