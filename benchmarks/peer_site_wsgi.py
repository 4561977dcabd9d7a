"""WSGI entry point of the site bench_peer.py serves: this app and django-phone-verify."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.peer_site")
application = get_wsgi_application()
