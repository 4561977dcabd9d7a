"""Pages of the example site: home, account, sending (for staff)."""

from __future__ import annotations

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
from django.views.decorators.http import require_POST

from django_sepsms import send_bulk, send_sms
from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message
from django_sepsms.phone import mask_phone


def demo_context(request: HttpRequest) -> dict[str, Any]:
    return {"simulator_inbox": settings.SIMULATOR_INBOX_URL}


class SendForm(forms.Form):
    recipients = forms.CharField(
        label="Recipients",
        help_text="Numbers separated by commas or new lines. More than one makes a campaign.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    message = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="สวัสดีครับ DemoShop ลด 10% วันนี้",
    )


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "example/home.html")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    numbers = [
        {"phone": mask_phone(n.phone), "primary": n.is_primary, "verified": n.verified_at}
        for n in request.user.sepsms_phone_numbers.all()  # type: ignore[union-attr]
    ]
    return render(request, "example/account.html", {"numbers": numbers})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")


@staff_member_required
def send(request: HttpRequest) -> HttpResponse:
    form = SendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        numbers = form.cleaned_data["recipients"].replace(",", "\n").split()
        text = form.cleaned_data["message"]
        try:
            if len(numbers) > 1:
                report = send_bulk(text, numbers)
                msg = report.message
                note = f", {report.refused_count} refused" if report.refused_count else ""
            else:
                msg, note = send_sms(text, numbers), ""
        except ValidationError as exc:
            form.add_error("recipients", exc)
        except SepsmsError as exc:
            messages.error(request, f"Not sent: {exc}")
        else:
            msg.refresh_from_db()
            messages.success(request, f"Message #{msg.pk}: {msg.get_status_display()}{note}")
            return redirect("send")
    recent = Message.objects.all()[:10]
    return render(request, "example/send.html", {"form": form, "recent": recent})
