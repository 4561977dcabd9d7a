"""The delivery log: messages, their recipients and their batches, searchable by
number, provider uuid or reference; the dashboard hangs off the messages' list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..models import Message, MessageBatch, Recipient
from ..phone import format_local, mask_phones_in
from .actions import export_csv, mark_not_sent, refresh_status, resend_failed
from .base import LogAdmin
from .changelists import OriginFilter, search_term_kind
from .columns import badge, can_see_full_phone, phone_column, text_column
from .dashboard import context as dashboard_context
from .failures import failure_reason

RECIPIENTS_PER_PAGE = 50
#: Pages of recipients a message's own page shows; the rest are in the recipients' list.
RECIPIENT_PAGES = 20


class _KnownCountPaginator(Paginator):
    """A paginator told its count, so it never counts the rows."""

    def __init__(self, object_list: Any, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


@admin.display(description=_("text"))
def _masked_preview(obj: Message) -> str:
    return Truncator(mask_phones_in(obj.text)).chars(50)


# The column keeps its name (and its ``field-preview`` class) for every viewer.
_masked_preview.__name__ = "preview"


@admin.display(description=_("message"), ordering="message_id")
def message_link(obj: Recipient | MessageBatch) -> str:
    """The row's message, as a link, from its id alone (no join, at any number of rows)."""
    return format_html('<a href="../message/{}/change/">#{}</a>', obj.message_id, obj.message_id)


@admin.register(Message)
class MessageAdmin(LogAdmin):
    """Send requests, newest first, with their recipients paged on each one's page."""

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

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Message | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.recipients_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def recipients_context(self, request: HttpRequest, msg: Message) -> dict[str, Any]:
        """The first pages of ``msg``'s recipients, at most ``RECIPIENT_PAGES`` of them.

        The total is the message's own ``recipient_count`` (no ``COUNT`` over its
        recipients), and only one page of rows is read: the page costs the same for
        a message of 10 recipients as for one of a million. The rest are a link
        away, in the recipients' list filtered by the message.
        """
        rows = Recipient.objects.filter(message_id=msg.pk).order_by("id")
        shown = min(msg.recipient_count, RECIPIENTS_PER_PAGE * RECIPIENT_PAGES)
        page = _KnownCountPaginator(
            rows.only("id", "phone", "status", "tx_id", "error_code", "status_changed_at"),
            RECIPIENTS_PER_PAGE,
            count=shown,
        ).get_page(request.GET.get("recipients"))
        full = can_see_full_phone(request)
        return {
            "recipient_page": page,
            "recipient_total": msg.recipient_count,
            "recipients_beyond": msg.recipient_count > shown,
            "recipients_url": (
                reverse("admin:sepsms_recipient_changelist") + f"?message__id__exact={msg.pk}"
            ),
            "recipient_rows": [
                {
                    "phone": format_local(r.phone, masked=not full),
                    "status": badge(r.status, r.get_status_display()),
                    "tx_id": r.tx_id,
                    "error_code": r.error_code if full else mask_phones_in(r.error_code),
                    "reason": failure_reason(r.status, r.error_code),
                    "changed": r.status_changed_at,
                }
                for r in page.object_list
            ],
        }

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
            **dashboard_context(full_phones=can_see_full_phone(request)),
        }
        return TemplateResponse(request, "admin/sepsms/dashboard.html", context)

    def has_send_permission(self, request: HttpRequest) -> bool:
        """Actions that talk to the provider (and may spend credit) need "change message"."""
        return request.user.has_perm("sepsms.change_message")


@admin.register(Recipient)
class RecipientAdmin(LogAdmin):
    """Each number of each message, with its delivery status."""

    list_display = [
        "id",
        message_link,
        "status_badge",
        "tx_id",
        "error_code",
        "reason",
        "status_changed_at",
    ]
    list_filter = ["status"]
    search_fields = ["tx_id"]
    search_help_text = _("A phone number in any format, or a transaction id.")
    ordering = ["-id"]
    exclude = ["phone", "variables"]
    raw_id_fields = ["message", "batch"]
    masked_fields = ("error_code",)

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns: list[Any] = list(super().get_list_display(request))
        columns.insert(2, phone_column(request))
        if not can_see_full_phone(request):
            error_code = text_column(request, "error_code", _("error code"), "phone")
            columns = [error_code if c == "error_code" else c for c in columns]
        return columns

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return [phone_column(request), *super().get_readonly_fields(request, obj), "reason"]

    @admin.display(description=_("reason"))
    def reason(self, obj: Recipient) -> str | None:
        return failure_reason(obj.status, obj.error_code) or None

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
    """Each request sent to the provider for a message, with the provider's uuid."""

    list_display = [
        "id",
        message_link,
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
