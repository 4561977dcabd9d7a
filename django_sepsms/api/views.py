"""The JSON API views: the same two steps as the HTML pages, for apps and scripts.

``POST api/otp/`` sends a code (``{"phone": ..., "purpose": ...}``) and answers
the reference, its expiry, the wait before a resend and a *flow token*;
``POST api/otp/verify/`` checks it (``{"reference", "pin", "flow_token"}``)
and answers a short-lived *verification token* (see :mod:`django_sepsms.api.tokens`).

Every limit, decoy and generic answer of the HTML flow applies: unknown numbers
at login get the same answer as known ones (and no SMS), every failed check gets
one answer whatever its reason, a limit answers 429 with ``Retry-After``.

Authentication is the project's (``DEFAULT_AUTHENTICATION_CLASSES``); only the
purpose ``"phone"`` needs a signed-in user. DRF's ``SessionAuthentication``
checks CSRF for signed-in session users; the views accept JSON bodies only, so
a cross-site HTML form cannot post to them at all.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, ClassVar

from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..contract import normalise_reference
from ..exceptions import CodeUnavailable, OtpRateLimited
from ..models import OtpChallenge, PhoneNumber
from ..otp import limits
from ..otp.flows import check_code, request_code
from ..otp.purposes import Purpose
from ..otp.sessions import readable_session
from ..otp.timing import pause_like, samples_source
from ..phone import mask_phone
from ..redaction import hide_sensitive_values
from . import responses
from .parsers import RequestTooLarge, StrictJSONParser, body_limit
from .schema import OneOf, openapi
from .serializers import (
    OtpRequestSerializer,
    OtpSentSerializer,
    OtpVerifiedSerializer,
    OtpVerifySerializer,
    PhoneLoginSerializer,
    SepsmsErrorSerializer,
    SepsmsInvalidFieldSerializer,
    SepsmsInvalidRequestSerializer,
    SepsmsInvalidTokenSerializer,
    SepsmsParseErrorSerializer,
    SepsmsRateLimitedSerializer,
    SepsmsVerifyFailedSerializer,
    TokenLoginSerializer,
)
from .tokens import (
    InvalidToken,
    login_user_from_token,
    make_flow_token,
    make_verification_token,
    read_flow_token,
    user_from_token,
)

NOT_SIGNED_IN = _("Sign in to add a phone number.")

#: Body fields that hold a code or a token: hidden from Django's error reports.
SENSITIVE_FIELDS = ("pin", "token", "flow_token")

# The answers every API view can give besides its own 200 and 400.
_REFUSALS: dict[int, Any] = {
    401: SepsmsErrorSerializer,
    403: SepsmsErrorSerializer,
    413: SepsmsErrorSerializer,
    415: SepsmsErrorSerializer,
    429: SepsmsRateLimitedSerializer,
}


class SepsmsAPIView(APIView):
    """Base of the API views: JSON in and out, never cached, one error shape.

    Anyone may call them (``AllowAny``): each view decides who may do what.
    DRF's own refusals (not signed in, bad JSON, throttled, …) get the same
    ``{"code", "detail"}`` shape as ours, ``code`` being DRF's error code.
    Bodies are read by :class:`~django_sepsms.api.parsers.StrictJSONParser`;
    one larger than it reads, or than Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
    answers 413 ``request_too_large``.
    """

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    permission_classes = [AllowAny]

    def setup(self, request: Any, *args: Any, **kwargs: Any) -> None:
        hide_sensitive_values(request)
        readable_session(request)
        super().setup(request, *args, **kwargs)

    @method_decorator(sensitive_post_parameters(*SENSITIVE_FIELDS))
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        # Refused before anything reads the body, when its announced length is too much.
        if _content_length(request) > body_limit():
            raise RequestTooLarge()
        # DRF's BasicAuthentication would look the decoded name up in the database,
        # where a NUL is an error (PostgreSQL), not a wrong name.
        if _nul_in_credentials(request.headers.get("authorization", "")):
            raise exceptions.AuthenticationFailed()
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, RequestDataTooBig):
            exc = RequestTooLarge()
        elif isinstance(exc, Http404):  # DRF's answer to an unknown ?format=
            exc = exceptions.NotFound()
        response = super().handle_exception(exc)
        data = getattr(response, "data", None)
        if isinstance(exc, exceptions.APIException) and isinstance(data, dict):
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else "invalid_request"
            detail = data.get("detail", responses.INVALID_REQUEST)
            extra: dict[str, Any] = {}
            if isinstance(exc, exceptions.Throttled):
                code = "rate_limited"
                extra["retry_after"] = max(1, math.ceil(getattr(exc, "wait", None) or 1))
            response.data = {"code": code, "detail": str(detail), **extra}
        return response

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


@sensitive_variables()
def _nul_in_credentials(header: str) -> bool:
    """Whether an ``Authorization`` header holds a NUL, as such or base64-encoded (Basic)."""
    if "\x00" in header:
        return True
    parts = header.split()  # as BasicAuthentication splits it: any white space
    if len(parts) != 2 or parts[0].lower() != "basic":
        return False
    try:
        return b"\x00" in base64.b64decode(parts[1])
    except (binascii.Error, ValueError):
        return False  # not base64: BasicAuthentication refuses it itself


def _content_length(request: Any) -> int:
    try:
        return int(request.headers.get("content-length") or 0)
    except ValueError:
        return 0


class OtpRequestView(SepsmsAPIView):
    """``POST api/otp/`` (``sepsms:api-otp``): send a code.

    Body ``{"phone": "081 234 5678", "purpose": "verify"}``; ``purpose`` is
    ``"verify"`` (default), ``"login"`` or ``"phone"`` (signed-in users adding
    a number). 200 ``{"reference", "expires_at", "resend_after", "flow_token"}``
    — the same for numbers that get no SMS (unknown at login). Refusals:
    400 ``invalid_phone`` / ``invalid_purpose``, 401/403 ``not_authenticated``,
    429 ``rate_limited`` (``Retry-After``), 503 ``unavailable``.
    """

    @openapi(
        request=OtpRequestSerializer,
        responses={
            200: OtpSentSerializer,
            400: OneOf(
                "OtpRequestRefused",
                SepsmsInvalidFieldSerializer,
                SepsmsInvalidRequestSerializer,
                SepsmsParseErrorSerializer,
            ),
            **_REFUSALS,
            503: SepsmsErrorSerializer,
        },
        request_examples={
            "A code to prove a number": {"phone": "081 234 5678"},
            "A code to log in": {"phone": "+66 81 234 5678", "purpose": "login"},
        },
        summary="Send a one-time code by SMS",
        description=(
            "Sends a code to the number (the same answer for numbers that get none). "
            "Keep flow_token and send it back with the code."
        ),
        operation_id="sepsms_otp_request",
        tags=["sepsms"],
    )
    @sensitive_variables()
    def post(self, request: Any) -> Response:
        serializer = OtpRequestSerializer(data=request.data)
        if not serializer.is_valid():
            return responses.invalid_request_response(
                serializer.errors, {"purpose": "invalid_purpose", "phone": "invalid_phone"}
            )
        phone: str = serializer.validated_data["phone"]
        purpose: str = serializer.validated_data["purpose"]
        signed_in = bool(request.user and request.user.is_authenticated)
        if purpose == Purpose.ADD_PHONE and not signed_in:
            self.permission_denied(request, message=str(NOT_SIGNED_IN), code="not_authenticated")
        try:
            sent = request_code(
                request._request, phone, purpose, user=request.user if signed_in else None
            )
        except ValidationError as exc:
            if exc.code != "invalid_phone":
                raise
            return responses.error_response(400, "invalid_phone", exc.messages[0])
        except OtpRateLimited as exc:
            return responses.rate_limited_response(exc)
        except CodeUnavailable:
            return responses.unavailable_response()
        wait = math.ceil((sent.resend_at - timezone.now()).total_seconds())
        body = {
            "reference": sent.reference,
            "expires_at": sent.expires_at,
            "resend_after": max(0, wait),
            "flow_token": make_flow_token(sent),
        }
        return Response(OtpSentSerializer(body).data)


class OtpVerifyView(SepsmsAPIView):
    """``POST api/otp/verify/`` (``sepsms:api-otp-verify``): check a code.

    Body ``{"reference", "pin", "flow_token"}``. With the flow token of the
    code request (recommended) the code verifies only for that request's
    number and purpose; without it, for the newest challenge of the reference
    — except login codes, which verify only with their flow token.
    200 ``{"verified": true, "token", "phone"}`` where ``token`` is a
    verification token (:func:`django_sepsms.api.tokens.read_verification_token`)
    and ``phone`` is masked. For the purpose ``"phone"`` the number is also
    added to the signed-in user's numbers, as the HTML page does.

    Any failure (wrong, expired, used, unknown, exhausted, foreign) answers
    400 ``{"verified": false, "code": "invalid_code", "detail"}``; locked
    out: 429 ``rate_limited``; provider trouble: 503 ``unavailable``.
    """

    @openapi(
        request=OtpVerifySerializer,
        responses={
            200: OtpVerifiedSerializer,
            400: OneOf(
                "OtpVerifyRefused",
                SepsmsVerifyFailedSerializer,
                SepsmsInvalidRequestSerializer,
                SepsmsParseErrorSerializer,
            ),
            **_REFUSALS,
            503: SepsmsErrorSerializer,
        },
        request_examples={
            "A code and its flow token": {
                "reference": "4RXDMS",
                "pin": "920225",
                "flow_token": "eyJwaG9uZSI6IjY2ODEyMzQ1Njc4Ii...:1xVwuj:SmIoKfi9_51d6qXj",
            },
        },
        summary="Check a one-time code",
        description=(
            "Checks the code of a reference. A right code answers a short-lived verification "
            "token; every failure answers the same invalid_code. Send the flow_token of the "
            "code request: login codes verify only with it."
        ),
        operation_id="sepsms_otp_verify",
        tags=["sepsms"],
    )
    @sensitive_variables()
    def post(self, request: Any) -> Response:
        serializer = OtpVerifySerializer(data=request.data)
        if not serializer.is_valid():
            return responses.invalid_request_response(serializer.errors, {})
        data = serializer.validated_data
        reference = normalise_reference(data["reference"])
        signed_in = bool(request.user and request.user.is_authenticated)
        if data.get("flow_token"):
            try:
                flow = read_flow_token(data["flow_token"])
            except InvalidToken:
                return self.unknown(request)
            if normalise_reference(flow.reference) != reference:
                return self.unknown(request)
            phone, purpose = flow.phone, flow.purpose
            if purpose == Purpose.ADD_PHONE and not signed_in:
                self.permission_denied(
                    request, message=str(NOT_SIGNED_IN), code="not_authenticated"
                )
        else:
            found = (
                OtpChallenge.objects.filter(reference=reference)
                .exclude(reference="")
                .order_by("-created_at", "-id")
                .values_list("phone", "purpose")
                .first()
            )
            # Login codes verify only for the client that asked for them (its flow token).
            if (
                found is None
                or found[1] == Purpose.LOGIN
                or (found[1] == Purpose.ADD_PHONE and not signed_in)
            ):
                return self.unknown(request)
            phone, purpose = found
        try:
            result = check_code(
                request._request,
                phone=phone,
                purpose=purpose,
                reference=reference,
                pin=data["pin"],
            )
        except OtpRateLimited as exc:
            return responses.rate_limited_response(exc)
        except CodeUnavailable:
            return responses.unavailable_response()
        challenge = result.challenge
        if not result.verified or challenge is None:
            return responses.invalid_code_response()
        if purpose == Purpose.ADD_PHONE and not self.add_phone(request, challenge):
            return responses.invalid_code_response()
        body = {
            "verified": True,
            "token": make_verification_token(challenge),
            "phone": mask_phone(challenge.phone),
        }
        return Response(OtpVerifiedSerializer(body).data)

    def unknown(self, request: Any) -> Response:
        """The generic failure for a reference no check can be made for.

        Counts the attempt against the client's address and takes as long as
        a real check, so it looks like any other wrong code.
        """
        try:
            attempt = limits.check_verify(
                "", limits.client_ip(request._request), read=samples_source("verify")
            )
        except OtpRateLimited as exc:
            return responses.rate_limited_response(exc)
        pause_like("verify", attempt.recent)
        return responses.invalid_code_response()

    def add_phone(self, request: Any, challenge: OtpChallenge) -> bool:
        """Add the verified number to the signed-in user who asked for the code.

        Returns ``False`` (the generic failure) when the user is not the one
        who asked, or another account took the number a moment ago.
        """
        user = request.user
        if not getattr(user, "is_authenticated", False) or challenge.user_id != user.pk:
            return False
        try:
            with transaction.atomic():
                PhoneNumber.objects.filter(user=user).update(is_primary=False)
                PhoneNumber.objects.update_or_create(
                    phone=challenge.phone,
                    user=user,
                    defaults={"verified_at": timezone.now(), "is_primary": True},
                )
        except IntegrityError:
            return False
        return True


class PhoneTokenLoginView(SepsmsAPIView):
    """Exchange a login verification token for a login. Not routed: route it yourself.

    ``POST {"token": "<token from api/otp/verify/>"}`` for a code asked with
    ``purpose="login"``. By default it logs the user in with a Django session
    (:func:`django_sepsms.api.tokens.login_user_from_token`) and answers
    ``{"user_id": "..."}``; a bad, expired or foreign token answers 400
    ``invalid_token``. To hand out an API token instead, subclass it::

        from rest_framework.authtoken.models import Token

        class AppLoginView(PhoneTokenLoginView):
            session_login = False

            def get_response_data(self, request, user):
                token, _ = Token.objects.get_or_create(user=user)
                return {"token": token.key}

        urlpatterns += [path("api/login/phone/", AppLoginView.as_view())]

    A verification token is valid for ``SEPSMS["API_TOKEN_MAX_AGE"]`` seconds
    and logs in once: presented again, it answers 400 ``invalid_token``.
    """

    #: Log the user in with a Django session (``False``: only find the user).
    session_login: ClassVar[bool] = True

    @openapi(
        request=TokenLoginSerializer,
        responses={
            200: PhoneLoginSerializer,
            400: OneOf(
                "PhoneTokenLoginRefused",
                SepsmsInvalidTokenSerializer,
                SepsmsInvalidRequestSerializer,
                SepsmsParseErrorSerializer,
            ),
            **_REFUSALS,
        },
        summary="Log in with a phone verification token",
        operation_id="sepsms_phone_token_login",
        tags=["sepsms"],
    )
    @sensitive_variables()
    def post(self, request: Any) -> Response:
        serializer = TokenLoginSerializer(data=request.data)
        if not serializer.is_valid():
            return responses.invalid_request_response(serializer.errors, {})
        token = serializer.validated_data["token"]
        try:
            if self.session_login:
                user = login_user_from_token(request._request, token)
            else:
                user = user_from_token(request._request, token)
        except InvalidToken:
            return responses.error_response(
                status.HTTP_400_BAD_REQUEST, "invalid_token", responses.INVALID_TOKEN
            )
        return Response(self.get_response_data(request, user))

    def get_response_data(self, request: Any, user: Any) -> dict[str, Any]:
        """The body of a successful login; override to add an API token."""
        return {"user_id": str(user.pk)}
