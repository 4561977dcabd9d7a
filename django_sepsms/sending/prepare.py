"""Checking a message before anything is recorded: text, numbers, sender name, variables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from ..backends.base import OutgoingSms
from ..conf import sepsms_settings
from ..exceptions import ConfigurationError
from ..models import Message, MessageBatch
from ..phone import PhoneInput, format_local, normalize_many, normalize_phone
from ..segments import count_segments

_MAX_TEXT_LENGTH = 2000


class PreparedMessage:
    """A validated message, ready to be recorded."""

    def __init__(
        self,
        text: str,
        phones: list[str],
        origin: str,
        scheduled_at: datetime | None,
        variables: dict[str, dict[str, Any]] | None,
        kind: str = Message.Kind.SMS,
    ) -> None:
        self.text = text
        self.phones = phones
        self.origin = origin
        self.scheduled_at = scheduled_at
        self.variables = variables
        self.kind = kind
        #: The numbers of each recorded batch, by batch id (set by :func:`record_message`).
        self.batch_phones: dict[int, list[str]] = {}
        #: The recorded batches, in order (set by :func:`record_message`).
        self.batches: list[MessageBatch] = []

    def estimated_credit(self) -> int:
        if not self.variables:
            return count_segments(self.text) * len(self.phones)
        return sum(
            count_segments(text)
            for _, text in OutgoingSms(
                self.text, self.phones, self.origin, None, self.variables
            ).rendered()
        )


def resolve_origin(origin: str | None) -> str:
    value = (origin or sepsms_settings.ORIGIN).strip()
    if not value:
        raise ConfigurationError(
            'No sender name: pass origin= or set SEPSMS["ORIGIN"] to a name the provider approved.'
        )
    return value


def prepare_message(
    message: str,
    recipients: PhoneInput | Iterable[PhoneInput],
    *,
    origin: str | None = None,
    scheduled_at: datetime | None = None,
    variables: Mapping[str, Mapping[str, Any]] | None = None,
) -> PreparedMessage:
    """Validate everything about a message before anything is recorded."""
    text = str(message or "")
    if not text.strip():
        raise ValidationError(_("The message is empty."), code="empty_message")
    if len(text) > _MAX_TEXT_LENGTH:
        raise ValidationError(
            _("The message is longer than %(max)d characters."),
            code="message_too_long",
            params={"max": _MAX_TEXT_LENGTH},
        )
    if isinstance(recipients, PhoneInput):
        recipients = [recipients]
    phones = normalize_many(recipients)
    if not phones:
        raise ValidationError(_("There are no recipients."), code="no_recipients")
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        raise ValidationError(
            _("The scheduled time must include a time zone."), code="naive_datetime"
        )
    return PreparedMessage(
        text, phones, resolve_origin(origin), scheduled_at, _clean_variables(variables, phones)
    )


def _clean_variables(
    variables: Mapping[str, Mapping[str, Any]] | None, phones: list[str]
) -> dict[str, dict[str, Any]] | None:
    if not variables:
        return None
    known = set(phones)
    cleaned: dict[str, dict[str, Any]] = {}
    for raw, values in variables.items():
        phone = normalize_phone(raw)
        if phone not in known:
            raise ValidationError(
                _("Variables are given for %(phone)s, which is not a recipient."),
                code="unknown_variables_recipient",
                params={"phone": format_local(phone)},
            )
        if not isinstance(values, Mapping):
            raise ValidationError(
                _("The variables of %(phone)s must be a mapping of names to values."),
                code="invalid_variables",
                params={"phone": format_local(phone)},
            )
        cleaned[phone] = {str(k): v for k, v in values.items()}
    return cleaned
