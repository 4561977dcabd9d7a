"""WSGI entry point of the webhook benchmark site."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.webhook_site")
application = get_wsgi_application()
