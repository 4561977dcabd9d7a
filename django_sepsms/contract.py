"""What this project knows about the SEPSMS REST API v2, in one place.

Everything here is either stated on the provider's developer page (marked
``[page]``) or a reading the page leaves open (marked ``[assumed]``). When the
provider documents one of the assumptions differently, this module is the only
one to change.
"""

from __future__ import annotations

import re
import string
from typing import Final

#: [page] The v2 base URL.
DEFAULT_BASE_URL: Final = "https://sepsms.com/api/v2"

#: [page] Header carrying the API key (``sk_sep_...``).
API_KEY_HEADER: Final = "X-API-Key"
API_KEY_PREFIX: Final = "sk_sep_"

# --- Endpoints [page] -------------------------------------------------------
PATH_SEND: Final = "/message/send"
PATH_MESSAGE: Final = "/message/{uuid}"
PATH_RECIPIENTS: Final = "/message/{uuid}/recipients"
PATH_BALANCE: Final = "/message/credit/balance"
PATH_OTP_SEND: Final = "/otp/send"
PATH_OTP_VERIFY: Final = "/otp/verify"
#: [page] ``sms:send`` covers cancelling, but no path is documented.
PATH_CANCEL: Final[str | None] = None
#: [assumed] the query parameter that asks ``PATH_RECIPIENTS`` for the page after
#: ``nextCursor``; each page is ``{"items": [...], "nextCursor": ...}``.
RECIPIENTS_CURSOR_PARAM: Final = "cursor"

# --- Scopes [page] ----------------------------------------------------------
SCOPES: Final = (
    "sms:send",
    "sms:read",
    "otp:send",
    "otp:verify",
    "credit:read",
    "webhooks:read",
    "webhooks:write",
)

# --- Phone numbers ----------------------------------------------------------
#: [page] Numbers travel as ``0xxxxxxxxx`` or ``66xxxxxxxxx``.
COUNTRY_CODE: Final = "66"
#: [assumed] Thai mobile numbers are 66 + one of these + 8 digits.
MOBILE_PREFIXES: Final = ("6", "8", "9")
NORMALISED_LENGTH: Final = 11

# --- Message statuses -------------------------------------------------------
#: [assumed] values of ``result.status`` for a message.
MESSAGE_STATUSES: Final = (
    "pending",
    "scheduled",
    "processing",
    "completed",
    "failed",
    "cancelled",
)
#: [assumed] values of ``drStatus`` for a recipient.
DELIVERY_STATUSES: Final = ("pending", "success", "failed", "expired", "refunded")

#: [assumed] how many recipients one ``/message/send`` request may carry.
DEFAULT_BATCH_SIZE: Final = 1000

# --- OTP [page] -------------------------------------------------------------
OTP_TTL_RANGE: Final = (60, 600)
OTP_TTL_DEFAULT: Final = 300
OTP_CODE_LENGTH_RANGE: Final = (4, 8)
OTP_CODE_PLACEHOLDER: Final = "{code}"
OTP_REF_PLACEHOLDER: Final = "{ref}"

# --- Segments [assumed] -----------------------------------------------------
#: Characters in one SMS / in each part of a long SMS.
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

# --- Rate limits [page] -----------------------------------------------------
#: (requests, seconds)
LIMIT_SEND: Final = (120, 60)
LIMIT_OTP_SEND_PER_IP: Final = (5, 60)
LIMIT_ALL: Final = (2400, 60)
HEADER_RETRY_AFTER: Final = "Retry-After"
HEADER_RATELIMIT_REMAINING: Final = "RateLimit-Remaining"


def post_was_refused(status: int) -> bool:
    """Whether an error answer to a POST proves the provider did nothing.

    [assumed] The page documents no idempotency key and no meaning of a 5xx.
    A 4xx is a refusal (bad key, scope, content or credit; 429 over the
    limit), so the request may be corrected or sent again. A 5xx may come
    from a gateway after the provider did the work, so it is treated like a
    lost answer: never sent again blindly.
    """
    return 400 <= status < 500


# --- Errors -----------------------------------------------------------------
#: [page] the one documented code; [assumed] the rest share its dotted form.
ERROR_INVALID_CREDENTIALS: Final = "auth.invalid_credentials"
ERROR_FORBIDDEN_SCOPE: Final = "auth.forbidden_scope"
ERROR_IP_NOT_ALLOWED: Final = "auth.ip_not_allowed"
ERROR_VALIDATION: Final = "validation.invalid"
ERROR_INSUFFICIENT_CREDIT: Final = "credit.insufficient"
ERROR_OTP_EXPIRED: Final = "otp.expired"
ERROR_OTP_NOT_FOUND: Final = "otp.not_found"
ERROR_OTP_TOO_MANY_ATTEMPTS: Final = "otp.too_many_attempts"
ERROR_RATE_LIMITED: Final = "rate_limit.exceeded"
ERROR_SERVER: Final = "server.error"
ERROR_NOT_FOUND: Final = "resource.not_found"

# --- Webhooks ---------------------------------------------------------------
#: [page] header names and events.
HEADER_WEBHOOK_EVENT: Final = "X-Webhook-Event"
HEADER_WEBHOOK_TIMESTAMP: Final = "X-Webhook-Timestamp"
HEADER_WEBHOOK_SIGNATURE: Final = "X-Webhook-Signature"
WEBHOOK_EVENTS: Final = (
    "sms.sent",
    "sms.failed",
    "sms.completed",
    "dr.success",
    "dr.failed",
    "otp.verified",
    "credit.low",
    "order.completed",
)
#: [assumed] Stripe-like scheme: ``v1`` = hex HMAC-SHA256 of ``"{t}.{body}"``.
SIGNATURE_SCHEME: Final = "v1"
DEFAULT_WEBHOOK_TOLERANCE: Final = 300

# --- Personalisation [assumed] ----------------------------------------------
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render_variables(text: str, values: dict[str, object] | None) -> str:
    """Fill ``{name}`` placeholders of ``text`` from one recipient's ``values``.

    [assumed] The provider substitutes ``variables[msisdn][name]`` for
    ``{name}``; unknown placeholders are left as they are.
    """
    if not values:
        return text
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text
    )


# --- OTP references [assumed] -----------------------------------------------
#: The longest reference stored (``OtpChallenge.reference``).
OTP_REFERENCE_MAX_LENGTH: Final = 32
#: The provider's references: six of A-Z and 0-9 (its page's example is
#: ``A3K9X2``; the simulator makes them so). Decoys in provider mode are drawn so.
PROVIDER_REFERENCE_ALPHABET: Final = string.ascii_uppercase + string.digits
PROVIDER_REFERENCE_LENGTH: Final = 6


def normalise_reference(value: object) -> str:
    """An OTP reference as the app stores it and looks it up.

    [assumed] References are not case-sensitive: the page's only example is
    ``A3K9X2`` and no case rule is stated. Surrounding spaces are dropped, the
    rest is upper-cased and cut to the stored length, both for the reference
    the provider answers and for every reference a client submits.
    """
    return str(value or "").strip().upper()[:OTP_REFERENCE_MAX_LENGTH]
