"""Phone login and adding a phone number: two steps each, no JavaScript needed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from ..exceptions import CodeUnavailable, OtpRateLimited
from ..models import PhoneNumber
from ..phone import format_local
from ..redaction import hide_sensitive_values
from .flows import CodeRequest, check_code, request_code
from .forms import CodeForm, PhoneForm
from .purposes import Purpose
from .sessions import SESSION_KEY, readable_session


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _rate_limited(
    request: HttpRequest, template: str, context: dict[str, Any], exc: OtpRateLimited
) -> HttpResponse:
    context["error"] = _("Too many attempts. Please wait %(seconds)s seconds and try again.") % {
        "seconds": exc.retry_after
    }
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def _unavailable(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    context["error"] = _("We could not send or check the code just now. Please try again later.")
    response = render(request, template, context, status=503)
    response["Retry-After"] = "30"
    return response


class _FlowView(View):
    """What both steps share: their purpose, and a request made safe before any use."""

    purpose: ClassVar[str] = Purpose.LOGIN

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        hide_sensitive_values(request)
        readable_session(request)
        super().setup(request, *args, **kwargs)


# No number in error reports: neither the posted field nor any local (the session's flow).
@method_decorator(
    [sensitive_post_parameters("phone"), sensitive_variables(), csrf_protect, never_cache],
    name="dispatch",
)
class StartView(_FlowView):
    """Step 1: ask for a number; a POST sends the code. A GET never sends anything."""

    template_name: ClassVar[str] = "sepsms/login.html"
    verify_url: ClassVar[str] = "sepsms:login-verify"

    def context(self, request: HttpRequest, form: PhoneForm) -> dict[str, Any]:
        return {
            "form": form,
            "next": _safe_next(request, request.GET.get("next") or request.POST.get("next")),
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, self.context(request, PhoneForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PhoneForm(request.POST)
        context = self.context(request, form)
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        try:
            sent = request_code(
                request, form.cleaned_data["phone"], self.purpose, user=request.user
            )
        except OtpRateLimited as exc:
            return _rate_limited(request, self.template_name, context, exc)
        except CodeUnavailable:
            return _unavailable(request, self.template_name, context)
        request.session[SESSION_KEY] = _flow_state(sent, context["next"])
        return redirect(self.verify_url)


@method_decorator(
    [sensitive_post_parameters("code"), sensitive_variables(), csrf_protect, never_cache],
    name="dispatch",
)
class VerifyView(_FlowView):
    """Step 2: enter the code (or ask for a new one, or change the number)."""

    template_name: ClassVar[str] = "sepsms/verify.html"
    start_url: ClassVar[str] = "sepsms:login"

    def flow(self, request: HttpRequest) -> dict[str, Any] | None:
        state = request.session.get(SESSION_KEY)
        if isinstance(state, dict) and state.get("purpose") == self.purpose:
            return state
        return None

    def context(
        self, request: HttpRequest, flow: dict[str, Any], form: CodeForm
    ) -> dict[str, Any]:
        resend_at = datetime.fromisoformat(flow["resend_at"])
        wait = max(0, int((resend_at - timezone.now()).total_seconds()) + 1)
        if resend_at <= timezone.now():
            wait = 0
        return {
            "form": form,
            "masked_phone": format_local(flow["phone"], masked=True),
            "reference": flow["reference"],
            "resend_wait": wait,
            "start_url": resolve_url(self.start_url)
            + (f"?{urlencode({'next': flow['next']})}" if flow.get("next") else ""),
            "purpose": self.purpose,
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        flow = self.flow(request)
        if flow is None:
            return redirect(self.start_url)
        return render(request, self.template_name, self.context(request, flow, CodeForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        flow = self.flow(request)
        if flow is None:
            return redirect(self.start_url)
        if "resend" in request.POST:
            return self.resend(request, flow)
        form = CodeForm(request.POST)
        context = self.context(request, flow, form)
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        try:
            result = check_code(
                request,
                phone=flow["phone"],
                purpose=self.purpose,
                reference=flow["reference"],
                pin=form.cleaned_data["code"],
            )
        except OtpRateLimited as exc:
            return _rate_limited(request, self.template_name, context, exc)
        except CodeUnavailable:
            return _unavailable(request, self.template_name, context)
        if not result.verified:
            # One message whatever the reason: wrong, expired, used or unknown.
            context["form"] = CodeForm()  # an empty field for the next try
            context["error"] = _("That code is not right, or it has expired.")
            return render(request, self.template_name, context, status=400)
        return self.done(request, flow, result.challenge)

    def resend(self, request: HttpRequest, flow: dict[str, Any]) -> HttpResponse:
        context = self.context(request, flow, CodeForm())
        try:
            sent = request_code(request, flow["phone"], self.purpose, user=request.user)
        except OtpRateLimited as exc:
            return _rate_limited(request, self.template_name, context, exc)
        except CodeUnavailable:
            return _unavailable(request, self.template_name, context)
        request.session[SESSION_KEY] = _flow_state(sent, flow.get("next", ""))
        return redirect(request.path)

    def done(self, request: HttpRequest, flow: dict[str, Any], challenge: Any) -> HttpResponse:
        user = authenticate(request, otp_challenge=challenge)
        if user is None:
            context = self.context(request, flow, CodeForm())
            context["error"] = _("That code is not right, or it has expired.")
            return render(request, self.template_name, context, status=400)
        request.session.pop(SESSION_KEY, None)
        login(request, user)  # rotates the session; user.backend names the backend used
        return HttpResponseRedirect(flow.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))


class PhoneStartView(LoginRequiredMixin, StartView):
    """A signed-in user adds a number, step 1."""

    purpose = Purpose.ADD_PHONE
    template_name = "sepsms/phone.html"
    verify_url = "sepsms:phone-verify"


class PhoneVerifyView(LoginRequiredMixin, VerifyView):
    """A signed-in user adds a number, step 2."""

    purpose = Purpose.ADD_PHONE
    template_name = "sepsms/verify.html"
    start_url = "sepsms:phone"

    def done(self, request: HttpRequest, flow: dict[str, Any], challenge: Any) -> HttpResponse:
        phone, user = flow["phone"], request.user
        assert user.is_authenticated  # LoginRequiredMixin
        try:
            with transaction.atomic():
                PhoneNumber.objects.filter(user=user).update(is_primary=False)
                PhoneNumber.objects.update_or_create(
                    phone=phone,
                    user=user,
                    defaults={"verified_at": timezone.now(), "is_primary": True},
                )
        except IntegrityError:  # taken by another account a moment ago
            context = self.context(request, flow, CodeForm())
            context["error"] = _("That code is not right, or it has expired.")
            return render(request, self.template_name, context, status=400)
        request.session.pop(SESSION_KEY, None)
        if flow.get("next"):
            return HttpResponseRedirect(flow["next"])
        return render(
            request,
            "sepsms/phone_done.html",
            {
                "masked_phone": format_local(phone, masked=True),
                "continue_url": resolve_url(settings.LOGIN_REDIRECT_URL),
            },
        )


def _flow_state(sent: CodeRequest, next_url: str) -> dict[str, Any]:
    return {
        "purpose": sent.purpose,
        "phone": sent.phone,
        "reference": sent.reference,
        "resend_at": sent.resend_at.isoformat(),
        "next": next_url,
    }
