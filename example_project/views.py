"""Pages of the example site: home, account, sending (for staff)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from django_sepsms import send_bulk, send_sms
from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message
from django_sepsms.phone import mask_phones_in

#: Between two numbers: a comma or a line break. A space belongs to the number
#: (``081 234 5678``).
_BETWEEN_NUMBERS = re.compile(r"[,\r\n]+")


def demo_context(request: HttpRequest) -> dict[str, Any]:
    return {"simulator_inbox": settings.SIMULATOR_INBOX_URL}


def split_numbers(text: str) -> list[str]:
    """The numbers typed in ``text``: separated by commas or line breaks, spaces kept."""
    return [part.strip() for part in _BETWEEN_NUMBERS.split(text) if part.strip()]


class SendForm(forms.Form):
    recipients = forms.CharField(
        label=gettext_lazy("Recipients"),
        help_text=gettext_lazy(
            "Numbers separated by commas or new lines. More than one makes a campaign."
        ),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    message = forms.CharField(
        label=gettext_lazy("Message"),
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="สวัสดีครับ DemoShop ลด 10% วันนี้",
    )

    def clean_recipients(self) -> list[str]:
        numbers = split_numbers(self.cleaned_data["recipients"])
        if not numbers:
            raise ValidationError(_("Enter at least one number."), code="required")
        return numbers


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "example/home.html")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    numbers = list(request.user.sepsms_phone_numbers.all())  # type: ignore[union-attr]
    # Accounts of earlier versions are named by their number: masked like the list below.
    name = mask_phones_in(request.user.get_username(), *(n.phone for n in numbers), local=True)
    return render(request, "example/account.html", {"numbers": numbers, "greeting_name": name})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")


@staff_member_required
def send(request: HttpRequest) -> HttpResponse:
    form = SendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        numbers = form.cleaned_data["recipients"]
        text = form.cleaned_data["message"]
        refused: list[tuple[str, str]] = []
        refused_count = 0
        try:
            if len(numbers) > 1:
                report = send_bulk(text, numbers)
                msg, refused, refused_count = report.message, report.refused, report.refused_count
            else:
                msg = send_sms(text, numbers)
        except ValidationError as exc:
            form.add_error("recipients", exc)
        except SepsmsError as exc:
            messages.error(request, _("Not sent: %(error)s") % {"error": exc})
        else:
            msg.refresh_from_db()
            status = {"pk": msg.pk, "status": msg.get_status_display()}
            messages.success(request, _("Message #%(pk)s: %(status)s") % status)
            if refused_count:
                messages.warning(request, refused_note(refused, refused_count))
            return redirect("send")
    recent = Message.objects.all()[:10]
    return render(request, "example/send.html", {"form": form, "recent": recent})


def refused_note(refused: list[tuple[str, str]], count: int) -> str:
    """The warning that lists each refused number (as typed) with its reason."""
    heading = ngettext(
        "%(count)d number was refused:", "%(count)d numbers were refused:", count
    ) % {"count": count}
    items = format_html_join("", "<li>{}: {}</li>", refused)
    more = count - len(refused)
    rest = (
        format_html(
            "<li>{}</li>",
            ngettext("and %(more)d more.", "and %(more)d more.", more) % {"more": more},
        )
        if more > 0
        else ""
    )
    return format_html("{}<ul>{}{}</ul>", heading, items, rest)
