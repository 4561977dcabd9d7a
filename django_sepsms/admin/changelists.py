"""What keeps the log's lists fast and findable at millions of rows: the
capped paginator, the search box's reading of a term, the sender-name filter."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from ..conf import sepsms_settings
from ..phone import normalize_phone

#: Pages count rows up to this many (20 pages of 50); past that the admin
#: offers the first pages and narrowing by search, filters and dates.
COUNT_CAP = 1_000
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
        """Whether there are more rows than were counted."""
        return self.count > COUNT_CAP


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
