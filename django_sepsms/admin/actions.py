"""What staff may do with chosen messages: refresh their status, resend them to
the failed recipients, record unconfirmed sends as never sent, export recipients."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import Message, MessageBatch, Recipient
from ..phone import format_local, mask_phones_in
from ..sending import mark_unconfirmed_not_sent
from ..sending.resend import resend_to_failed
from ..tracking.sync import sync_messages
from .columns import can_see_full_phone
from .failures import failure_reason


def _shown(request: HttpRequest, error: str) -> str:
    """A provider's error message, which may quote a number, as the viewer may see it."""
    return error if can_see_full_phone(request) else mask_phones_in(error)


@admin.action(description=_("Refresh delivery status from the provider"), permissions=["send"])
def refresh_status(
    modeladmin: ModelAdmin[Message], request: HttpRequest, queryset: QuerySet[Message]
) -> None:
    """Ask the provider for the chosen messages' delivery status."""
    report = sync_messages(queryset.iterator())
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d message checked, %(changed)d recipient status changed.",
            "%(count)d messages checked, %(changed)d recipient statuses changed.",
            report.messages,
        )
        % {"count": report.messages, "changed": report.recipients_changed},
    )
    for pk, error in report.errors:
        modeladmin.message_user(request, f"#{pk}: {_shown(request, error)}", level=messages.ERROR)


@admin.action(description=_("Resend to the failed recipients"), permissions=["send"])
def resend_failed(
    modeladmin: ModelAdmin[Message], request: HttpRequest, queryset: QuerySet[Message]
) -> None:
    """Send each chosen SMS again to the recipients it failed to reach."""
    sent = 0
    for original in queryset.filter(kind=Message.Kind.SMS):
        resent = resend_to_failed(original)
        if resent is None:
            continue
        if resent.error is not None:
            error = _shown(request, str(resent.error))
            modeladmin.message_user(
                request, f"#{resent.message.pk}: {error}", level=messages.ERROR
            )
        sent += 1
    modeladmin.message_user(
        request,
        ngettext("%(count)d message resent.", "%(count)d messages resent.", sent)
        % {"count": sent},
    )


@admin.action(description=_("Record unconfirmed sends as never sent"), permissions=["send"])
def mark_not_sent(
    modeladmin: ModelAdmin[Message], request: HttpRequest, queryset: QuerySet[Message]
) -> TemplateResponse | None:
    """After a confirmation page, fail the sends the provider never confirmed receiving."""
    unconfirmed = MessageBatch.objects.filter(
        message=OuterRef("pk"), status=Message.Status.UNCONFIRMED, provider_uuid__isnull=True
    )
    targets = list(queryset.filter(Exists(unconfirmed)).order_by("pk"))
    if request.POST.get("post") != "yes":
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": _("Record unconfirmed sends as never sent?"),
            "opts": modeladmin.model._meta,
            "targets": targets,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/sepsms/message/mark_not_sent.html", context)
    recipients = 0
    for msg in targets:
        changed = mark_unconfirmed_not_sent(msg)
        recipients += changed
        modeladmin.log_change(
            request, msg, f"Unconfirmed sends recorded as never sent ({changed})."
        )
    modeladmin.message_user(
        request,
        ngettext(
            "%(count)d recipient recorded as never sent.",
            "%(count)d recipients recorded as never sent.",
            recipients,
        )
        % {"count": recipients},
    )
    return None


def _label(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    return capfirst(str(getattr(field, "verbose_name", name)))


def export_headings() -> list[str]:
    """The CSV export's column headings: the admin's labels, in the active language."""
    return [
        _label(Recipient, "message"),
        _label(Message, "created_at"),
        _label(Message, "origin"),
        _label(Recipient, "phone"),
        _label(Recipient, "status"),
        _label(Recipient, "tx_id"),
        _label(Recipient, "error_code"),
        str(capfirst(_("reason"))),
    ]


@admin.action(description=_("Export the recipients as CSV"))
def export_csv(
    modeladmin: ModelAdmin[Message], request: HttpRequest, queryset: QuerySet[Message]
) -> StreamingHttpResponse:
    """Stream the chosen messages' recipients as CSV, as the admin shows them.

    The headings and statuses are the admin's labels; numbers are written as
    people read them (``081-234-5678``), masked as the viewer sees them.
    """
    full = can_see_full_phone(request)
    # The rows are written after the view returns: in the language of the request.
    language = translation.get_language()

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def rows() -> Any:
        with translation.override(language):
            headings = writer.writerow(export_headings())
            statuses = {value: str(label) for value, label in Recipient.Status.choices}
        yield headings
        reasons: dict[tuple[str, str], str] = {}
        recipients = (
            Recipient.objects.filter(message__in=queryset)
            .select_related("message")
            .order_by("message_id", "id")
        )
        for r in recipients.iterator(chunk_size=2000):
            if (r.status, r.error_code) not in reasons:
                with translation.override(language):
                    reasons[r.status, r.error_code] = failure_reason(r.status, r.error_code)
            yield writer.writerow(
                [
                    r.message_id,
                    r.message.created_at.isoformat(),
                    r.message.origin,
                    format_local(r.phone, masked=not full),
                    str(statuses.get(r.status, r.status)),
                    r.tx_id,
                    r.error_code if full else mask_phones_in(r.error_code),
                    reasons[r.status, r.error_code],
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="sms-recipients.csv"'
    return response
