"""The base of the admin's logs: records of what happened, viewed and searched, never edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .changelists import CappedPaginator
from .columns import ADMIN_CSS, can_see_full_phone, text_column


class LogAdmin(admin.ModelAdmin):
    """Records of what happened: viewable and searchable, never edited by hand."""

    paginator = CappedPaginator
    show_full_result_count = False
    list_per_page = 50

    class Media:
        css = {"all": [ADMIN_CSS]}

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    #: Text fields that may hold a number: shown with the numbers masked to
    #: viewers without ``sepsms.view_full_phone``.
    masked_fields: tuple[str, ...] = ()

    def masked_columns(self, request: HttpRequest) -> dict[str, Any]:
        """``masked_fields`` → their masked columns; none for viewers who see numbers."""
        if can_see_full_phone(request):
            return {}
        return {
            name: text_column(request, name, self.model._meta.get_field(name).verbose_name)
            for name in self.masked_fields
        }

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        exclude = list(super().get_exclude(request, obj) or [])
        return exclude + [name for name in self.masked_columns(request) if name not in exclude]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        masked = self.masked_columns(request)
        fields = [masked.pop(f, f) for f in super().get_readonly_fields(request, obj)]
        return fields + list(masked.values())

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        masked: dict[Any, Any] = self.masked_columns(request)
        fields: list[Any] = list(super().get_fields(request, obj))

        # Explicit fields keep their order, each masked one in its place.
        def swap(field: Any) -> Any:
            if isinstance(field, list | tuple):
                return type(field)(masked.get(name, name) for name in field)
            return masked.get(field, field)

        return [swap(field) for field in fields]
