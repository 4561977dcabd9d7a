"""Why a recipient was not reached, in words: the reason shown next to its error code."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .. import contract
from ..models import Recipient
from ..sending import NOT_SENT_CODE
from ..tracking.sync import BLOCKED

#: Error codes the app records, and what each means for the recipient.
REASONS: dict[str, Promise] = {
    contract.ERROR_INVALID_CREDENTIALS: _("The provider refused the API key."),
    contract.ERROR_FORBIDDEN_SCOPE: _("The API key may not send SMS."),
    contract.ERROR_IP_NOT_ALLOWED: _("The provider refused this server's IP address."),
    contract.ERROR_VALIDATION: _("The provider refused the request as invalid."),
    contract.ERROR_INSUFFICIENT_CREDIT: _("There was not enough credit."),
    contract.ERROR_RATE_LIMITED: _("The provider's rate limit was reached."),
    contract.ERROR_SERVER: _("The provider failed."),
    contract.ERROR_NOT_FOUND: _("The provider does not know the message."),
    BLOCKED: _("The provider blocked the number."),
    NOT_SENT_CODE: _("Recorded as never sent: the provider never confirmed the send."),
    "NetworkError": _("No connection to the provider could be made."),
    "NetworkTimeoutError": _("No connection to the provider could be made in time."),
    "AmbiguousTimeoutError": _("The provider did not answer in time."),
    "ProviderUnavailableError": _("The provider failed."),
    "InsufficientCreditError": _("There was not enough credit."),
    "RateLimitedError": _("The provider's rate limit was reached."),
}

#: What a failed status says when no error code came with it.
_BY_STATUS: dict[str, Promise] = {
    Recipient.Status.FAILED: _("The provider reported the SMS as not delivered."),
    Recipient.Status.EXPIRED: _("The SMS could not be delivered in time."),
    Recipient.Status.REFUNDED: _("The SMS was not delivered; its credit was refunded."),
}


def failure_reason(status: str, error_code: str) -> str:
    """The reason a recipient in ``status`` with ``error_code`` was not reached; ``""`` if none.

    A code the app does not know has no reason of its own: the code is then
    all there is to show.
    """
    if error_code:
        reason = REASONS.get(error_code)
        return str(reason) if reason is not None else ""
    by_status = _BY_STATUS.get(status)
    return str(by_status) if by_status is not None else ""
