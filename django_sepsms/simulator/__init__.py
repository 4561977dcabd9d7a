"""A local simulator of the SEPSMS REST API v2, for development and tests.

``python manage.py sepsms_simulator`` runs it from a Django project; tests use
:class:`Simulator` directly. It must never be exposed publicly: its control
endpoints (``/_sim/...``) and its inbox need no API key and show OTP codes.
"""

from __future__ import annotations

from .server import Simulator

__all__ = ["Simulator"]
