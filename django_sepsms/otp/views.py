"""Phone login and adding a phone number: two steps each, no JavaScript needed.

The code page tells people where they stand (a wrong code and the tries left,
a locked or expired code, a wait before a new code, a limit), read from the
flow in the session alone (:mod:`.sessions`), so decoys show the very same
states. ``django_sepsms/countdown.js`` only counts the waits down and unlocks
the buttons when they are over; the server enforces every one of them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import get_script_prefix
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import conditional_escape, format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from ..conf import sepsms_settings
from ..exceptions import CodeUnavailable, OtpRateLimited
from ..models import PhoneNumber
from ..phone import format_local
from ..redaction import hide_sensitive_values
from .flows import CodeRequest, check_code, request_code
from .forms import CodeForm, PhoneForm
from .limits import COOLDOWN, VERIFY_LIMITS
from .purposes import Purpose
from .sessions import (
    SESSION_KEY,
    FlowStatus,
    count_wrong_code,
    flow_status,
    hold,
    readable_session,
)
from .waits import countdown


def _safe_next(request: HttpRequest, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a phone page; ``site_url`` (the site's root) is its way back to the site."""
    context.setdefault("site_url", get_script_prefix())
    return render(request, template, context, status=status)


def _waiting(message: str, seconds: int, done: str) -> SafeString:
    """``message`` with its ``%(wait)s`` as a count that the page's script ticks down;
    when it reaches 0 the script shows ``done`` instead."""
    counter = countdown(seconds, role="timer")
    text = mark_safe(conditional_escape(message) % {"wait": counter})  # noqa: S308
    return format_html('<span data-sepsms-done="{}">{}</span>', done, text)


def _refused(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    exc: OtpRateLimited,
    *,
    code_page: bool = True,
) -> HttpResponse:
    """A limit said no (nothing was sent or checked): ``429``, how long to wait, and why.

    The resend cooldown is not a fault: a code was just sent, so the answer says
    so (``code_page``: and that it may be entered). Any other limit is "too
    many requests". Decoys are counted alike, so neither tells them apart.
    """
    if exc.limit != COOLDOWN:
        message = _("Too many requests: please wait %(wait)s and try again.")
        done = _("You can try again now.")
    elif code_page:
        message = _(
            "A code was just sent to this number: enter it, or wait %(wait)s to ask for a new one."
        )
        done = _("You can ask for a new code now.")
    else:
        message = _("A code was just sent to this number: wait %(wait)s to ask for a new one.")
        done = _("You can ask for a new code now.")
    context["error"] = _waiting(message, exc.retry_after, done)
    # Not a fault: shown as a notice, not as an error.
    context["notice"] = exc.limit == COOLDOWN
    response = _page(request, template, context, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


def _unavailable(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    context["error"] = _("We could not send or check the code just now. Please try again later.")
    response = _page(request, template, context, status=503)
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
        return _page(request, self.template_name, self.context(request, PhoneForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = PhoneForm(request.POST)
        context = self.context(request, form)
        if not form.is_valid():
            return _page(request, self.template_name, context, status=400)
        try:
            sent = request_code(
                request, form.cleaned_data["phone"], self.purpose, user=request.user
            )
        except OtpRateLimited as exc:
            return self.refused(request, context, form.cleaned_data["phone"], exc)
        except CodeUnavailable:
            return _unavailable(request, self.template_name, context)
        request.session[SESSION_KEY] = _flow_state(sent, context["next"])
        return redirect(self.verify_url)

    def refused(
        self, request: HttpRequest, context: dict[str, Any], phone: str, exc: OtpRateLimited
    ) -> HttpResponse:
        """Asked again too soon: a session that has this number's code page is sent
        back to it; the page then waits as long as the limit says."""
        flow = request.session.get(SESSION_KEY)
        ours = isinstance(flow, dict) and (flow.get("purpose"), flow.get("phone")) == (
            self.purpose,
            phone,
        )
        if ours:
            assert isinstance(flow, dict)
            hold(flow, "resend_at", exc.retry_after, timezone.now())
            request.session[SESSION_KEY] = flow
            context["code_url"] = resolve_url(self.verify_url)
        return _refused(request, self.template_name, context, exc, code_page=ours)


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
        status = flow_status(flow, timezone.now())
        if not status.can_verify:
            form.fields["code"].widget.attrs.update(disabled=True, autofocus=False)
        return {
            "form": form,
            "masked_phone": format_local(flow["phone"], masked=True),
            "reference": flow["reference"],
            "resend_wait": status.resend_wait,
            "verify_wait": status.verify_wait,
            "resend_countdown": countdown(status.resend_wait) if status.resend_wait else "",
            "verify_countdown": countdown(status.verify_wait) if status.verify_wait else "",
            "can_verify": status.can_verify,
            "locked": status.locked,
            "expired": status.expired,
            "tries_left": status.tries_left,
            "start_url": resolve_url(self.start_url)
            + (f"?{urlencode({'next': flow['next']})}" if flow.get("next") else ""),
            "purpose": self.purpose,
            "error": _state_message(status),
            "notice": False,
        }

    def get(self, request: HttpRequest) -> HttpResponse:
        flow = self.flow(request)
        if flow is None:
            return redirect(self.start_url)
        return _page(request, self.template_name, self.context(request, flow, CodeForm()))

    def post(self, request: HttpRequest) -> HttpResponse:
        flow = self.flow(request)
        if flow is None:
            return redirect(self.start_url)
        if "resend" in request.POST:
            return self.resend(request, flow)
        if not flow_status(flow, timezone.now()).can_verify:
            # Locked or expired: nothing is checked (for a real code it could only fail).
            context = self.context(request, flow, CodeForm())
            return _page(request, self.template_name, context, status=400)
        form = CodeForm(request.POST)
        if not form.is_valid():
            return _page(request, self.template_name, self.context(request, flow, form), 400)
        try:
            result = check_code(
                request,
                phone=flow["phone"],
                purpose=self.purpose,
                reference=flow["reference"],
                pin=form.cleaned_data["code"],
            )
        except OtpRateLimited as exc:
            if exc.limit in VERIFY_LIMITS:
                hold(flow, "verify_at", exc.retry_after, timezone.now())
                request.session[SESSION_KEY] = flow
            return _refused(request, self.template_name, self.context(request, flow, form), exc)
        except CodeUnavailable:
            return _unavailable(request, self.template_name, self.context(request, flow, form))
        if not result.verified:
            # The reason is never shown (a decoy could not fail otherwise): the page
            # tells only what the flow knows, the tries used and the code's life.
            count_wrong_code(flow)
            request.session[SESSION_KEY] = flow
            context = self.context(request, flow, CodeForm())  # an empty field for the next try
            if context["error"] is None:
                left = context["tries_left"]
                context["error"] = ngettext(
                    "That code is not right. You have %(count)d try left.",
                    "That code is not right. You have %(count)d tries left.",
                    left,
                ) % {"count": left}
            return _page(request, self.template_name, context, status=400)
        return self.done(request, flow, result.challenge)

    def resend(self, request: HttpRequest, flow: dict[str, Any]) -> HttpResponse:
        try:
            sent = request_code(request, flow["phone"], self.purpose, user=request.user)
        except OtpRateLimited as exc:
            # The code already sent stays the flow's code; the button waits as long as the limit.
            hold(flow, "resend_at", exc.retry_after, timezone.now())
            request.session[SESSION_KEY] = flow
            context = self.context(request, flow, CodeForm())
            return _refused(request, self.template_name, context, exc)
        except CodeUnavailable:
            context = self.context(request, flow, CodeForm())
            return _unavailable(request, self.template_name, context)
        request.session[SESSION_KEY] = _flow_state(sent, flow.get("next", ""))
        return redirect(request.path)

    def done(self, request: HttpRequest, flow: dict[str, Any], challenge: Any) -> HttpResponse:
        user = authenticate(request, otp_challenge=challenge)
        if user is None:
            context = self.context(request, flow, CodeForm())
            context["error"] = _("That code is not right, or it has expired.")
            return _page(request, self.template_name, context, status=400)
        request.session.pop(SESSION_KEY, None)
        login(request, user)  # rotates the session; user.backend names the backend used
        return HttpResponseRedirect(flow.get("next") or resolve_url(settings.LOGIN_REDIRECT_URL))


def _state_message(status: FlowStatus) -> str | None:
    """What the page says about the code itself, on every answer, when only a new one helps."""
    if status.locked:
        return _("This code is locked after too many wrong tries: request a new one.")
    if status.expired:
        return _("This code has expired: request a new one.")
    return None


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
            return _page(request, self.template_name, context, status=400)
        request.session.pop(SESSION_KEY, None)
        if flow.get("next"):
            return HttpResponseRedirect(flow["next"])
        return _page(
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
        "expires_at": sent.expires_at.isoformat(),
        "tries": 0,
        "max_tries": sepsms_settings.OTP_MAX_ATTEMPTS,
        "next": next_url,
    }
