"""Pieces the delivery-log admin is built from: paging, phone display, search."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .phone import mask_phone, mask_phones_in, normalize_phone

#: Pages count rows up to this many (20 pages of 50); past that the admin
#: offers the first pages and narrowing by search, filters and dates.
COUNT_CAP = 1_000
FULL_PHONE_PERMISSION = "sepsms.view_full_phone"
_UUID = re.compile(r"^[0-9a-fA-F-]{8,64}$")


class CappedPaginator(Paginator):
    """Counts at most ``COUNT_CAP + 1`` rows, so a page costs the same at 1,000
    rows as at 10,000,000 (an exact ``COUNT(*)`` of a huge table does not)."""

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        if isinstance(object_list, QuerySet):
            return object_list.order_by()[: COUNT_CAP + 1].count()
        return len(object_list)

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP


def can_see_full_phone(request: HttpRequest) -> bool:
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
            return value if full else mask_phone(value)

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
            return label if full else mask_phones_in(label, getattr(obj, phone_field) or "")

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
            return format_html('<pre style="margin:0">{}</pre>', text)

        return pretty_payload

    return _per_request(request, ("payload", field), make)


class MaskedRawIdWidget(ForeignKeyRawIdWidget):
    """The raw-id input with the chosen object's label masked: for viewers
    who may not see numbers, when the label may be one."""

    def label_and_url_for_value(self, value: Any) -> tuple[str, str]:
        label, url = super().label_and_url_for_value(value)
        return mask_phones_in(label), url


STATUS_COLOURS = {
    "success": "#15803d",
    "completed": "#15803d",
    "verified": "#15803d",
    "applied": "#15803d",
    "failed": "#b91c1c",
    "expired": "#b91c1c",
    "exhausted": "#b91c1c",
    "send_failed": "#b91c1c",
    "unconfirmed": "#b45309",
    "waiting": "#b45309",
    "refunded": "#6b7280",
    "cancelled": "#6b7280",
}


def badge(value: str, label: str) -> str:
    colour = STATUS_COLOURS.get(value, "#1d4ed8")
    return format_html(
        '<span style="display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;'
        'background:{};font-size:11px;font-weight:600">{}</span>',
        colour,
        label,
    )


def search_term_kind(term: str) -> tuple[str, str]:
    """Classify a search: ``("phone", 66…)``, ``("uuid", …)`` or ``("ref", …)``."""
    term = term.strip()
    try:
        return "phone", normalize_phone(term)
    except ValidationError:
        pass
    if _UUID.match(term) and "-" in term:
        return "uuid", term.lower()
    return "ref", term


class OriginFilter(admin.SimpleListFilter):
    """Sender names, listed from a short-lived cache: a DISTINCT over millions of
    messages on every page view is what makes big changelists slow."""

    title = _("sender name")
    parameter_name = "origin"
    cache_seconds = 300

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from django.core.cache import caches

        from .conf import sepsms_settings

        cache = caches[sepsms_settings.CACHE]
        key = "sepsms:admin:origins"
        origins = cache.get(key)
        if origins is None:
            origins = sorted(
                model_admin.model.objects.order_by().values_list("origin", flat=True).distinct()
            )
            cache.set(key, origins, self.cache_seconds)
        return [(o, o) for o in origins]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(origin=self.value()) if self.value() else queryset
