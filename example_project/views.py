from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from django_sepsms import send_sms
from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message


class SendForm(forms.Form):
    recipients = forms.CharField(
        label="Recipients",
        help_text="One or more numbers, separated by commas or new lines.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "example/home.html")


@staff_member_required
def send(request: HttpRequest) -> HttpResponse:
    form = SendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        numbers = form.cleaned_data["recipients"].replace(",", "\n").split()
        try:
            msg = send_sms(form.cleaned_data["message"], numbers)
        except ValidationError as exc:
            form.add_error("recipients", exc)
        except SepsmsError as exc:
            messages.error(request, f"Not sent: {exc}")
        else:
            messages.success(request, f"Message #{msg.pk}: {msg.get_status_display()}")
            return redirect("send")
    recent = Message.objects.all()[:10]
    return render(request, "example/send.html", {"form": form, "recent": recent})
