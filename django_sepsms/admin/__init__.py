"""The delivery log in the Django admin: read-only, searchable, fast at millions of rows.

Phone numbers are masked (``66*******78``) unless the viewer has the
``sepsms.view_full_phone`` permission: in their own columns, and wherever else
one may appear (texts, errors, webhook payloads and keys, the labels of
accounts named by their number). Codes, code hashes and API keys are never
shown at all.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, ForeignKey, OuterRef, QuerySet
from django.forms import ModelChoiceField, ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..models import (
    Message,
    MessageBatch,
    OtpChallenge,
    PhoneNumber,
    Recipient,
    WebhookEvent,
)
from ..phone import mask_phone, mask_phones_in, normalize_phone
from . import dashboard
from .actions import export_csv, mark_not_sent, refresh_status, resend_failed
from .base import LogAdmin
from .changelists import CappedPaginator, OriginFilter, search_term_kind
from .columns import (
    MaskedRawIdWidget,
    badge,
    can_see_full_phone,
    payload_column,
    phone_column,
    user_column,
)

RECIPIENTS_PER_PAGE = 50


@admin.display(description=_("text"))
def _masked_preview(obj: Message) -> str:
    return Truncator(mask_phones_in(obj.text)).chars(50)


# The column keeps its name (and its ``field-preview`` class) for every viewer.
_masked_preview.__name__ = "preview"


@admin.register(Message)
class MessageAdmin(LogAdmin):
    list_display = [
        "created_at",
        "origin",
        "preview",
        "status_badge",
        "recipient_count",
        "delivered_count",
        "failed_count",
        "total_credit",
    ]
    list_filter = ["status", "kind", OriginFilter, ("created_at", admin.DateFieldListFilter)]
    # Newest first by id: the (status, id) index then serves filtered pages too.
    ordering = ["-id"]
    search_fields = ["ref_no"]  # the search box; get_search_results does the real work
    search_help_text = _("A phone number in any format, a provider uuid or a reference number.")
    fields = (
        "kind",
        "origin",
        "text",
        "status",
        "scheduled_at",
        "recipient_count",
        "estimated_credit",
        "total_credit",
        "blocked_count",
        "delivered_count",
        "failed_count",
        "error_code",
        "error_message",
        "resent_from",
        "created_at",
        "sent_at",
        "updated_at",
    )
    readonly_fields = fields
    masked_fields = ("text", "error_message")
    change_form_template = "admin/sepsms/message/change_form.html"
    change_list_template = "admin/sepsms/message/change_list.html"
    actions = [refresh_status, resend_failed, mark_not_sent, export_csv]

    @admin.display(description=_("text"))
    def preview(self, obj: Message) -> str:
        return Truncator(obj.text).chars(50)

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        if can_see_full_phone(request):
            return columns
        return [_masked_preview if c == "preview" else c for c in columns]

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Message) -> str:
        return badge(obj.status, obj.get_status_display())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Message], search_term: str
    ) -> tuple[QuerySet[Message], bool]:
        if not search_term.strip():
            return queryset, False
        kind, value = search_term_kind(search_term)
        if kind == "phone":
            by_phone = Recipient.objects.filter(message=OuterRef("pk"), phone=value)
            return queryset.filter(Exists(by_phone)), False
        lookup = {"provider_uuid": value} if kind == "uuid" else {"ref_no": value}
        batches = MessageBatch.objects.filter(message=OuterRef("pk"), **lookup)
        return queryset.filter(Exists(batches)), False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        rows = Recipient.objects.filter(message_id=object_id).order_by("id")
        page = Paginator(
            rows.only("id", "phone", "status", "tx_id", "error_code", "status_changed_at"),
            RECIPIENTS_PER_PAGE,
        )
        current = page.get_page(request.GET.get("recipients"))
        full = can_see_full_phone(request)
        extra_context["recipient_page"] = current
        extra_context["recipient_rows"] = [
            {
                "phone": r.phone if full else mask_phone(r.phone),
                "status": badge(r.status, r.get_status_display()),
                "tx_id": r.tx_id,
                "error_code": r.error_code,
                "changed": r.status_changed_at,
            }
            for r in current.object_list
        ]
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.dashboard_view)
        return [path("dashboard/", view, name="sepsms_dashboard"), *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": _("SMS dashboard"),
            "opts": self.model._meta,
            **dashboard.context(full_phones=can_see_full_phone(request)),
        }
        return TemplateResponse(request, "admin/sepsms/dashboard.html", context)

    def has_send_permission(self, request: HttpRequest) -> bool:
        """Actions that talk to the provider (and may spend credit) need "change message"."""
        return request.user.has_perm("sepsms.change_message")


@admin.register(Recipient)
class RecipientAdmin(LogAdmin):
    list_display = ["id", "message_link", "status_badge", "tx_id", "status_changed_at"]
    list_filter = ["status"]
    search_fields = ["tx_id"]
    search_help_text = _("A phone number in any format, or a transaction id.")
    ordering = ["-id"]
    exclude = ["phone", "variables"]
    raw_id_fields = ["message", "batch"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        columns.insert(2, phone_column(request))
        return columns

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [phone_column(request)]

    @admin.display(description=_("message"), ordering="message_id")
    def message_link(self, obj: Recipient) -> str:
        return format_html(
            '<a href="../message/{}/change/">#{}</a>', obj.message_id, obj.message_id
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Recipient) -> str:
        return badge(obj.status, obj.get_status_display())

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Recipient], search_term: str
    ) -> tuple[QuerySet[Recipient], bool]:
        if not search_term.strip():
            return queryset, False
        kind, value = search_term_kind(search_term)
        if kind == "phone":
            return queryset.filter(phone=value), False
        return queryset.filter(tx_id=search_term.strip()), False


@admin.register(MessageBatch)
class MessageBatchAdmin(LogAdmin):
    list_display = [
        "id",
        "message_id",
        "position",
        "provider_uuid",
        "ref_no",
        "status",
        "recipient_count",
        "total_credit",
    ]
    list_filter = ["status"]
    search_fields = ["=provider_uuid", "=ref_no"]
    ordering = ["-id"]
    raw_id_fields = ["message"]
    masked_fields = ("error_message",)


@admin.register(OtpChallenge)
class OtpChallengeAdmin(LogAdmin):
    list_display = [
        "reference",
        "purpose",
        "mode",
        "status_badge",
        "attempts",
        "created_at",
        "expires_at",
    ]
    list_filter = ["status", "purpose", "mode"]
    search_fields = ["=reference"]
    exclude = ["code_hash", "phone"]
    raw_id_fields = ["user", "message"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        columns.insert(1, phone_column(request))
        return columns

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        exclude = super().get_exclude(request, obj)
        return exclude if can_see_full_phone(request) else [*exclude, "user"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = [phone_column(request), *super().get_readonly_fields(request, obj)]
        return fields if can_see_full_phone(request) else [*fields, user_column(request)]

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: OtpChallenge) -> str:
        return badge(obj.status, obj.get_status_display())


@admin.register(WebhookEvent)
class WebhookEventAdmin(LogAdmin):
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


class PhoneNumberForm(ModelForm):
    """Numbers typed by staff are stored as every lookup expects them: ``66xxxxxxxxx``."""

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


@admin.register(PhoneNumber)
class PhoneNumberAdmin(admin.ModelAdmin):
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
        if obj is not None and not self.has_change_permission(request, obj):
            fields.insert(0, user_column(request))
        return [phone_column(request), *fields]

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "user" and not can_see_full_phone(request):
            kwargs["widget"] = MaskedRawIdWidget(
                db_field.remote_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PhoneNumber], search_term: str
    ) -> tuple[QuerySet[PhoneNumber], bool]:
        kind, value = search_term_kind(search_term) if search_term.strip() else ("", "")
        if kind == "phone":
            return queryset.filter(phone=value), False
        return super().get_search_results(request, queryset, search_term)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if can_see_full_phone(request):
            return []
        # A change page the viewer may not save shows the account masked, not as a field.
        view_only = obj is not None and not self.has_change_permission(request, obj)
        return ["phone", "user"] if view_only else ["phone"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and can_see_full_phone(request)

    def save_model(self, request: HttpRequest, obj: PhoneNumber, form: Any, change: bool) -> None:
        if obj.verified_at is None:  # added by staff, who vouch for it
            obj.verified_at = timezone.now()
        super().save_model(request, obj, form, change)
