"""A backend that sends nothing and reports success."""

from __future__ import annotations

from .base import LocalBackend


class DummyBackend(LocalBackend):
    """Accepts every message and does nothing with it."""
