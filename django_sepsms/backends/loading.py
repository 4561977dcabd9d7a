"""Loading the configured backend (``SEPSMS["BACKEND"]``), as Django loads email backends."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from ..conf import sepsms_settings
from ..exceptions import ConfigurationError
from .base import BaseBackend


def get_backend(path: str | None = None, **kwargs: Any) -> BaseBackend:
    """Return an instance of the backend at ``path`` (default: ``SEPSMS["BACKEND"]``)."""
    dotted = path or sepsms_settings.BACKEND
    try:
        klass = import_string(dotted)
    except ImportError as exc:
        raise ConfigurationError(f"Cannot import SMS backend {dotted!r}: {exc}") from exc
    backend: BaseBackend = klass(**kwargs)
    return backend
