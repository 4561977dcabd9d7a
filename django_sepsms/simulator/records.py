"""What the simulator keeps: its switches, keys, recorded requests, messages,
codes, inbox entries and armed faults, as plain data classes.

:class:`~.state.SimulatorState` holds them and guards them with its lock; the
HTTP side and the :class:`~django_sepsms.simulator.Simulator` hand them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import contract
from .wire import Event, utcnow

#: Rate-limit names used in :attr:`Switches.rate_limits`.
LIMIT_SEND, LIMIT_OTP_PER_IP, LIMIT_ALL = "send", "otp_per_ip", "all"


def default_rate_limits() -> dict[str, tuple[int, int]]:
    """The provider's documented limits: name -> (requests, seconds)."""
    return {
        LIMIT_SEND: contract.LIMIT_SEND,
        LIMIT_OTP_PER_IP: contract.LIMIT_OTP_SEND_PER_IP,
        LIMIT_ALL: contract.LIMIT_ALL,
    }


@dataclass
class Switches:
    """Behaviour settings a test may change at any time; ``reset()`` restores them."""

    delivery_delay: float = 0.0
    webhook_url: str | None = None
    webhook_secrets: list[str] = field(default_factory=list)
    webhook_retries: int = 3
    webhook_retry_delay: float = 0.2
    webhook_duplicates: bool = False
    webhook_reverse: bool = False
    failing_numbers: set[str] = field(default_factory=set)
    blocked_numbers: set[str] = field(default_factory=set)
    rate_limits: dict[str, tuple[int, int]] = field(default_factory=default_rate_limits)
    rate_limits_enabled: bool = True
    credit_low_threshold: int = 100
    max_recipients_per_request: int = contract.DEFAULT_BATCH_SIZE


@dataclass
class ApiKey:
    """An API key with its scopes and optional client-IP allow-list."""

    key: str = field(repr=False)
    scopes: frozenset[str]
    allowed_ips: frozenset[str] | None = None


@dataclass
class RecordedRequest:
    """One request the simulator received under ``/api/``."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    json: Any
    client_ip: str
    #: The client's TCP port: one per connection, so tests can count connections.
    client_port: int
    time: datetime


@dataclass
class SimRecipient:
    """One number of a :class:`SimMessage`, with its text and delivery report.

    The simulator's record, not :class:`django_sepsms.models.Recipient`.
    """

    msisdn: str
    text: str
    tx_id: str
    dr_status: str = "pending"
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class SimMessage:
    """A message accepted by ``/message/send``.

    The simulator's record, not :class:`django_sepsms.models.Message`.
    """

    uuid: str
    ref_no: str
    origin: str
    text: str
    recipients: list[SimRecipient]
    status: str
    created_at: datetime
    send_at: float
    scheduled_at: datetime | None
    total_credit: int
    blocked_count: int
    refunded_count: int = 0
    handed_off_at: float | None = None
    held_events: list[Event] = field(default_factory=list, repr=False)

    @property
    def total_msisdn(self) -> int:
        return len(self.recipients)

    def dr_counts(self) -> dict[str, int]:
        """Recipients per ``drStatus``, in the contract's order, zero counts left out."""
        counts = dict.fromkeys(contract.DELIVERY_STATUSES, 0)
        for recipient in self.recipients:
            counts[recipient.dr_status] = counts.get(recipient.dr_status, 0) + 1
        return {status: count for status, count in counts.items() if count}


@dataclass
class InboxEntry:
    """An SMS as it reached (or failed to reach) a phone."""

    msisdn: str
    origin: str
    text: str
    sms_uuid: str
    tx_id: str
    status: str
    time: datetime
    otp_reference: str | None = None


@dataclass
class Otp:
    """A code sent by ``/otp/send``, by its reference."""

    reference: str
    uuid: str
    destination: str
    code: str = field(repr=False)
    expires_at: datetime
    ttl_seconds: int
    attempts: int = 0
    verified: bool = False


@dataclass
class Fault:
    """An error armed by ``fail_next()`` for the requests under ``prefix``."""

    prefix: str
    status: int
    code: str
    remaining: int
    retry_after: int | None
    #: The request takes effect before the fault (an answer lost after the work was done).
    process: bool = False
    #: Close the connection without answering instead of sending an error.
    drop: bool = False


@dataclass
class Delay:
    """A wait armed by ``delay_next()`` for the requests under ``prefix``."""

    prefix: str
    seconds: float
    remaining: int
    process: bool
