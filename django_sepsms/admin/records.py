"""The other logs: one-time code challenges and received webhook deliveries,
read-only, their numbers (and accounts named by them) masked as the viewer may see them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import OtpChallenge, WebhookEvent
from ..otp.purposes import purpose_label
from .base import LogAdmin
from .columns import badge, can_see_full_phone, payload_column, phone_column, user_column


class PurposeFilter(admin.SimpleListFilter):
    """The purposes recorded, by their translated labels."""

    title = _("purpose")
    parameter_name = "purpose"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        values = OtpChallenge.objects.order_by("purpose").values_list("purpose", flat=True)
        return [(value, purpose_label(value)) for value in values.distinct()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(purpose=value) if value else queryset


@admin.register(OtpChallenge)
class OtpChallengeAdmin(LogAdmin):
    """One-time code references; never the code or its hash."""

    list_display = [
        "reference",
        "purpose_label",
        "mode",
        "status_badge",
        "attempts",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", PurposeFilter, "mode"]
    search_fields = ["=reference"]
    exclude = ["code_hash", "phone", "purpose"]
    raw_id_fields = ["user", "message"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        columns.insert(1, phone_column(request))
        return columns

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        exclude = super().get_exclude(request, obj)
        return exclude if can_see_full_phone(request) else [*exclude, "user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = [
            phone_column(request),
            "purpose_label",
            *super().get_readonly_fields(request, obj),
        ]
        return fields if can_see_full_phone(request) else [*fields, user_column(request)]

    @admin.display(description=_("purpose"), ordering="purpose")
    def purpose_label(self, obj: OtpChallenge) -> str:
        return purpose_label(obj.purpose)

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: OtpChallenge) -> str:
        return badge(obj.status, obj.get_status_display())


@admin.register(WebhookEvent)
class WebhookEventAdmin(LogAdmin):
    """Webhook deliveries as received, with what applying them did."""

    list_display = ["event", "outcome_badge", "signed_at", "received_at", "sms_uuid"]
    list_filter = ["event", "outcome"]
    search_fields = ["=sms_uuid", "=tx_id"]
    exclude = ["payload", "msisdn"]
    masked_fields = ("dedupe_key", "error")

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, obj: WebhookEvent) -> str:
        return badge(obj.outcome, obj.get_outcome_display())

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [*super().get_readonly_fields(request, obj), payload_column(request)]
