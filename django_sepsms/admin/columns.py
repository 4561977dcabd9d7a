"""Columns that may show a phone number, masked unless the viewer has
``sepsms.view_full_phone``; the status badge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..phone import format_local, mask_phone, mask_phones_in, normalize_phone

FULL_PHONE_PERMISSION = "sepsms.view_full_phone"


def can_see_full_phone(request: HttpRequest) -> bool:
    """Whether the viewer has ``sepsms.view_full_phone``, and so sees numbers unmasked."""
    return bool(getattr(request, "user", None) and request.user.has_perm(FULL_PHONE_PERMISSION))


def _per_request(request: HttpRequest, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """One column per request and key: a change form's fields, its read-only
    fields and its exclusions must name the very same callables."""
    columns: dict[tuple[Any, ...], Any] = request.__dict__.setdefault("_sepsms_columns", {})
    if key not in columns:
        columns[key] = make()
    return columns[key]


def phone_column(request: HttpRequest, field: str = "phone") -> Callable[[Any], str]:
    """A list column showing ``field`` in full or masked, by the viewer's permission."""
    full = can_see_full_phone(request)

    def make() -> Callable[[Any], str]:
        @admin.display(description=_("phone number"), ordering=field)
        def phone(obj: Any) -> str:
            value = getattr(obj, field) or ""
            return format_local(value, masked=not full)

        return phone

    return _per_request(request, ("phone", field), make)


def user_column(
    request: HttpRequest, field: str = "user", phone_field: str = "phone"
) -> Callable[[Any], str | None]:
    """A column showing the account in ``field``, its label masked for viewers
    who may not see numbers: accounts named by their number exist."""
    full = can_see_full_phone(request)

    def make() -> Callable[[Any], str | None]:
        @admin.display(description=_("user"), ordering=field)
        def user(obj: Any) -> str | None:
            account = getattr(obj, field)
            if account is None:
                return None
            label = str(account)
            return (
                label
                if full
                else mask_phones_in(label, getattr(obj, phone_field) or "", local=True)
            )

        return user

    return _per_request(request, ("user", field, phone_field), make)


def text_column(
    request: HttpRequest, field: str, description: Any, phone_field: str | None = None
) -> Callable[[Any], str]:
    """A read-only ``field`` with the numbers in it masked, unless the viewer may see them."""
    full = can_see_full_phone(request)

    def make() -> Callable[[Any], str]:
        @admin.display(description=description)
        def text(obj: Any) -> str:
            value = str(getattr(obj, field) or "")
            if full:
                return value
            phones = [getattr(obj, phone_field) or ""] if phone_field else []
            return mask_phones_in(value, *phones)

        text.__name__ = field
        return text

    return _per_request(request, ("text", field, str(description), phone_field), make)


_PHONE_KEYS = frozenset({"msisdn", "destination", "phone", "recipient", "recipients", "to"})


def mask_payload(value: Any, key: str = "") -> Any:
    """A JSON value with every number in it masked: in texts, in keys, and
    integers that are mobile numbers or sit under a number's key."""
    if isinstance(value, dict):
        return {mask_phones_in(str(k)): mask_payload(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_payload(item, key) for item in value]
    if isinstance(value, str):
        return mask_phones_in(value)
    is_number = isinstance(value, int) and not isinstance(value, bool)
    if is_number and (key.lower() in _PHONE_KEYS or _is_phone(str(value))):
        return mask_phone(str(value))
    return value


def _is_phone(text: str) -> bool:
    try:
        normalize_phone(text)
    except ValidationError:
        return False
    return True


def payload_column(request: HttpRequest, field: str = "payload") -> Callable[[Any], str]:
    """``field`` as indented JSON, its numbers masked unless the viewer may see them."""
    full = can_see_full_phone(request)

    def make() -> Callable[[Any], str]:
        @admin.display(description=_("payload"))
        def pretty_payload(obj: Any) -> str:
            payload = getattr(obj, field)
            shown = payload if full else mask_payload(payload)
            text = json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True)
            return format_html('<pre class="sepsms-payload">{}</pre>', text)

        return pretty_payload

    return _per_request(request, ("payload", field), make)


#: The colour group of each status's pill (classes of ``django_sepsms/admin.css``);
#: any other status is blue.
STATUS_GROUPS = {
    "success": "done",
    "completed": "done",
    "verified": "done",
    "applied": "done",
    "failed": "failed",
    "expired": "failed",
    "exhausted": "failed",
    "send_failed": "failed",
    "unconfirmed": "waiting",
    "waiting": "waiting",
    "refunded": "void",
    "cancelled": "void",
}


def badge(value: str, label: str) -> str:
    """``label`` as a pill coloured for the status ``value`` (green done, red failed).

    Styled by ``django_sepsms/admin.css`` (see :data:`ADMIN_CSS`): no inline style.
    """
    group = STATUS_GROUPS.get(value)
    classes = f"sepsms-pill sepsms-pill-{group}" if group else "sepsms-pill"
    return format_html('<span class="{}">{}</span>', classes, label)


#: The stylesheet of the pills, payloads and dashboard, for a ``Media`` class.
ADMIN_CSS = "django_sepsms/admin.css"
