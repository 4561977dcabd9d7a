"""Admin for the delivery log. Logs are read-only; codes and keys are never shown."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Message, MessageBatch, OtpChallenge, PhoneNumber, Recipient, WebhookEvent
from .phone import mask_phone


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MaskedPhoneMixin:
    """Shows ``66******78`` in place of the number."""

    @admin.display(description=_("phone number"), ordering="phone")
    def masked_phone(self, obj: Any) -> str:
        return mask_phone(obj.phone)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "origin",
        "kind",
        "status",
        "recipient_count",
        "delivered_count",
        "failed_count",
        "total_credit",
    ]
    list_filter = ["status", "kind", "origin"]
    date_hierarchy = "created_at"
    exclude = ["variables"]
    show_full_result_count = False


@admin.register(MessageBatch)
class MessageBatchAdmin(ReadOnlyAdmin):
    list_display = ["message", "position", "provider_uuid", "ref_no", "status", "total_credit"]
    list_filter = ["status"]
    search_fields = ["=provider_uuid", "=ref_no"]
    list_select_related = ["message"]
    raw_id_fields = ["message"]
    show_full_result_count = False


@admin.register(Recipient)
class RecipientAdmin(MaskedPhoneMixin, ReadOnlyAdmin):
    list_display = ["message", "masked_phone", "status", "tx_id", "status_changed_at"]
    list_filter = ["status"]
    exclude = ["phone", "variables"]
    readonly_fields = ["masked_phone"]
    raw_id_fields = ["message", "batch"]
    show_full_result_count = False


@admin.register(OtpChallenge)
class OtpChallengeAdmin(MaskedPhoneMixin, ReadOnlyAdmin):
    list_display = [
        "reference",
        "masked_phone",
        "purpose",
        "mode",
        "status",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "purpose", "mode"]
    search_fields = ["=reference"]
    exclude = ["code_hash", "phone"]
    readonly_fields = ["masked_phone"]
    raw_id_fields = ["user", "message"]
    show_full_result_count = False


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["event", "outcome", "signed_at", "received_at", "sms_uuid"]
    list_filter = ["event", "outcome"]
    search_fields = ["=sms_uuid", "=tx_id"]
    show_full_result_count = False


@admin.register(PhoneNumber)
class PhoneNumberAdmin(MaskedPhoneMixin, admin.ModelAdmin):
    list_display = ["masked_phone", "user", "is_primary", "verified_at"]
    raw_id_fields = ["user"]
    readonly_fields = ["verified_at", "created_at"]
