"""Users' verified phone numbers: the one model staff may add and change here.

A number typed by staff is normalized and validated, one account per number,
and counts as verified when it is saved (added, or changed). Staff who may not
see numbers in full see the number and its account masked, and may change only
whether it is primary.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import PhoneNumber
from ..phone import normalize_phone
from .changelists import CappedPaginator, search_term_kind
from .columns import can_see_full_phone, phone_column, user_column


class PhoneNumberForm(ModelForm):
    """Numbers typed by staff are stored as every lookup expects them (``66xxxxxxxxx``),
    and a number already recorded is a form error that says whose it is."""

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        phone = cleaned.get("phone")
        if phone:
            others = PhoneNumber.objects.filter(phone=phone).exclude(pk=self.instance.pk)
            owner_id = others.values_list("user_id", flat=True).first()
            if owner_id is not None:
                user = cleaned.get("user")
                if user is not None and user.pk == owner_id:
                    self.add_error("phone", _("This account already has this number."))
                else:
                    self.add_error("phone", _("This number belongs to another account."))
        return cleaned

    @property
    def number_changed(self) -> bool:
        """Whether the number saved differs from the one the row had (always, for a new row)."""
        if self.instance._state.adding:
            return True
        return "phone" in self.cleaned_data and self.cleaned_data["phone"] != self.initial.get(
            "phone"
        )


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
    """Users' numbers; only viewers who may see numbers add them, change them or
    move them to another account (which decides who signs in as whom)."""

    form = PhoneNumberForm
    list_display = ["user", "is_primary", "verified_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["verified_at", "created_at"]
    search_fields = ["=phone"]
    paginator = CappedPaginator
    show_full_result_count = False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = [
            user_column(request) if c == "user" else c for c in super().get_list_display(request)
        ]
        return [phone_column(request), *columns]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields: list[Any] = list(super().get_readonly_fields(request, obj))
        if can_see_full_phone(request):
            return fields
        return [phone_column(request), user_column(request), *fields]

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Shown masked among the read-only fields instead.
        return [] if can_see_full_phone(request) else ["phone", "user"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PhoneNumber], search_term: str
    ) -> tuple[QuerySet[PhoneNumber], bool]:
        kind, value = search_term_kind(search_term) if search_term.strip() else ("", "")
        if kind == "phone":
            return queryset.filter(phone=value), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and can_see_full_phone(request)

    def save_model(
        self, request: HttpRequest, obj: PhoneNumber, form: PhoneNumberForm, change: bool
    ) -> None:
        if form.number_changed or obj.verified_at is None:  # staff vouch for the number
            obj.verified_at = timezone.now()
        super().save_model(request, obj, form, change)
