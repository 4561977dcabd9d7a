"""What a one-time code is for: the purposes of the built-in flows.

A project may pass any other string as ``purpose`` for flows of its own; a
code is only ever checked for the purpose it was sent for.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Purpose(models.TextChoices):
    """The purposes the app's own pages, API views and backends know."""

    #: Prove a number (``send_otp()``'s default; the API's too).
    VERIFY = "verify", _("verify a phone number")
    #: Log in by phone (the ``sepsms:login`` pages, ``PhoneBackend``).
    LOGIN = "login", _("log in")
    #: A signed-in user adds a number (the ``sepsms:phone`` pages).
    ADD_PHONE = "phone", _("add a phone number")


def purpose_label(value: str) -> str:
    """The translated label of the purpose ``value``; a project's own purpose as it is."""
    try:
        return str(Purpose(value).label)
    except ValueError:
        return value
