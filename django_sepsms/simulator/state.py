"""The simulated provider's in-memory state.

Everything here is guarded by :attr:`SimulatorState.lock`; the HTTP handlers,
the delivery thread and the test thread all go through it. Nothing in this
module knows about HTTP except :class:`ApiError`, which carries the status the
provider would answer with.
"""

from __future__ import annotations

import copy
import hmac
import secrets
import string
import threading
import uuid as uuid_lib
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from typing import TypeVar

from .. import contract
from ..segments import count_segments
from .records import (
    ApiKey,
    Delay,
    Fault,
    InboxEntry,
    Otp,
    RecordedRequest,
    SimMessage,
    SimRecipient,
    Switches,
)
from .wire import (
    ERROR_MESSAGE_NOT_FOUND,
    ERROR_OTP_ALREADY_VERIFIED,
    ApiError,
    Event,
    from_timestamp,
    normalise_msisdn,
    normalised_set,
)

#: [assumed] wrong pins allowed per OTP reference before it is locked.
OTP_MAX_ATTEMPTS = 5


class RateLimiter:
    """Sliding-window counters: a bucket holds the times of its accepted requests."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}

    def acquire(self, checks: Iterable[tuple[str, str, int, float]], now: float) -> float | None:
        """Count one request in every ``(name, subject, limit, window)`` bucket.

        Returns ``None`` when all have room (and records the hit in each), else
        the seconds until the fullest one frees a slot (recording nothing).
        """
        buckets = []
        wait = 0.0
        for name, subject, limit, window in checks:
            hits = self._hits.setdefault((name, subject), deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                wait = max(wait, hits[0] + window - now) if hits else max(wait, window)
            buckets.append(hits)
        if wait > 0:
            return wait
        for hits in buckets:
            hits.append(now)
        return None


def _new_tx_id() -> str:
    return uuid_lib.uuid4().hex


class SimulatorState:
    """Keys, credits, messages, OTPs, the inbox and the fault switches."""

    def __init__(
        self, *, api_keys: Mapping[str, Iterable[str]], credits: int, switches: Switches
    ) -> None:
        self.lock = threading.RLock()
        self._initial_keys = {key: frozenset(scopes) for key, scopes in api_keys.items()}
        self._initial_credits = credits
        self._default_switches = copy.deepcopy(switches)
        self.switches = switches
        self._clear()

    def _clear(self) -> None:
        self.api_keys = {k: ApiKey(k, scopes) for k, scopes in self._initial_keys.items()}
        self.credits = self._initial_credits
        self.messages: dict[str, SimMessage] = {}
        self.active: dict[str, SimMessage] = {}
        self.otps: dict[str, Otp] = {}
        self.inbox: list[InboxEntry] = []
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.delays: list[Delay] = []
        self.limiter = RateLimiter()
        self.credit_low_sent = False
        self._ref_counter = 0

    def reset(self) -> None:
        """Forget everything and restore the switches given at construction."""
        with self.lock:
            for f in fields(Switches):
                value = copy.deepcopy(getattr(self._default_switches, f.name))
                setattr(self.switches, f.name, value)
            self._clear()

    # -- requests, faults, limits ---------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def take_fault(self, path: str) -> Fault | None:
        """The first armed fault matching ``path``, consuming one of its uses."""
        with self.lock:
            return _take(self.faults, path)

    def take_delay(self, path: str) -> Delay | None:
        with self.lock:
            return _take(self.delays, path)

    def rate_limit_wait(self, checks: Iterable[tuple[str, str]], now: float) -> float | None:
        """Seconds to wait if any ``(limit name, subject)`` is exhausted, else ``None``."""
        with self.lock:
            if not self.switches.rate_limits_enabled:
                return None
            limits = self.switches.rate_limits
            resolved = [
                (name, subject, *limits[name]) for name, subject in checks if name in limits
            ]
            return self.limiter.acquire(resolved, now)

    # -- credits ---------------------------------------------------------------

    def find_key(self, supplied: str) -> ApiKey | None:
        with self.lock:
            return self.api_keys.get(supplied) if supplied else None

    def add_key(self, key: str, scopes: Iterable[str], allowed_ips: Iterable[str] | None) -> None:
        ips = frozenset(allowed_ips) if allowed_ips is not None else None
        with self.lock:
            self.api_keys[key] = ApiKey(key, frozenset(scopes), ips)

    def set_credits(self, value: int) -> None:
        with self.lock:
            self.credits = int(value)
            if self.credits >= self.switches.credit_low_threshold:
                self.credit_low_sent = False

    def _charge(self, amount: int) -> list[Event]:
        """Take ``amount`` credits; a ``credit.low`` event when this crosses the threshold."""
        if amount > self.credits:
            raise ApiError(
                402,
                contract.ERROR_INSUFFICIENT_CREDIT,
                f"Not enough credit: {amount} needed, {self.credits} available.",
            )
        self.credits -= amount
        if self.credits < self.switches.credit_low_threshold and not self.credit_low_sent:
            self.credit_low_sent = True
            return [("credit.low", {"balance": self.credits})]
        return []

    # -- messages --------------------------------------------------------------

    def create_message(
        self,
        *,
        origin: str,
        text: str,
        recipients: Mapping[str, str],
        blocked_count: int,
        scheduled_at: datetime | None,
        now: float,
    ) -> tuple[SimMessage, list[Event]]:
        """Charge for and store a message; ``recipients`` maps msisdn -> rendered text."""
        cost = sum(count_segments(rendered) for rendered in recipients.values())
        with self.lock:
            events = self._charge(cost)
            self._ref_counter += 1
            created = from_timestamp(now)
            scheduled = scheduled_at is not None and scheduled_at.timestamp() > now
            message = SimMessage(
                uuid=str(uuid_lib.uuid4()),
                ref_no=f"SP{created:%y%m%d}{self._ref_counter:06d}",
                origin=origin,
                text=text,
                recipients=[
                    SimRecipient(msisdn, rendered, _new_tx_id(), updated_at=created)
                    for msisdn, rendered in recipients.items()
                ],
                status="scheduled" if scheduled else "pending",
                created_at=created,
                send_at=scheduled_at.timestamp() if scheduled and scheduled_at else now,
                scheduled_at=scheduled_at,
                total_credit=cost,
                blocked_count=blocked_count,
            )
            self.messages[message.uuid] = message
            self.active[message.uuid] = message
            return message, events

    def get_message(self, uuid: str) -> SimMessage:
        with self.lock:
            message = self.messages.get(uuid)
        if message is None:
            raise ApiError(404, ERROR_MESSAGE_NOT_FOUND, f"No message with uuid {uuid!r}.")
        return message

    def advance(self, now: float, *, only: str | None = None, force: bool = False) -> list[Event]:
        """Move messages along pending -> processing -> completed/failed.

        ``force`` ignores the delivery delay (and, with ``only``, the schedule).
        Returns the webhook events to send, in order.
        """
        with self.lock:
            if only is not None:
                if only not in self.messages:
                    raise KeyError(f"No message with uuid {only!r}.")
                targets = [self.active[only]] if only in self.active else []
            else:
                targets = list(self.active.values())
            events: list[Event] = []
            for message in targets:
                events += self._advance_message(
                    message, now, force=force, ignore_schedule=force and only is not None
                )
            return events

    def _advance_message(
        self, message: SimMessage, now: float, *, force: bool, ignore_schedule: bool
    ) -> list[Event]:
        step: list[Event] = []
        if message.status in ("pending", "scheduled") and (
            ignore_schedule or now >= message.send_at
        ):
            message.status = "processing"
            message.handed_off_at = now
            step.append(("sms.sent", {"smsUuid": message.uuid, "status": "processing"}))
        final = False
        if message.status == "processing" and message.handed_off_at is not None:
            due = message.handed_off_at + self.switches.delivery_delay
            if force or now >= due:
                step += self._deliver(message, now)
                final = True
        message.held_events.extend(step)
        if final:
            del self.active[message.uuid]
        if self.switches.webhook_reverse and not final:
            return []
        out = message.held_events[::-1] if self.switches.webhook_reverse else message.held_events
        message.held_events = []
        return out

    def _deliver(self, message: SimMessage, now: float) -> list[Event]:
        failing = normalised_set(self.switches.failing_numbers)
        delivered_at = from_timestamp(now)
        events: list[Event] = []
        for recipient in message.recipients:
            status = "failed" if recipient.msisdn in failing else "success"
            recipient.dr_status, recipient.updated_at = status, delivered_at
            self.inbox.append(
                InboxEntry(
                    recipient.msisdn,
                    message.origin,
                    recipient.text,
                    message.uuid,
                    recipient.tx_id,
                    status,
                    delivered_at,
                )
            )
            payload = {
                "smsUuid": message.uuid,
                "msisdn": recipient.msisdn,
                "txId": recipient.tx_id,
                "status": status,
            }
            events.append((f"dr.{status}", payload))
        succeeded = any(r.dr_status == "success" for r in message.recipients)
        message.status = "completed" if succeeded else "failed"
        events.append(
            (f"sms.{message.status}", {"smsUuid": message.uuid, "status": message.status})
        )
        return events

    # -- OTP -------------------------------------------------------------------

    def create_otp(
        self,
        *,
        destination: str,
        origin: str,
        template: str,
        ttl_seconds: int,
        code_length: int,
        now: float,
    ) -> tuple[Otp, list[Event]]:
        """Generate, charge for and "deliver" an OTP; the code goes to the inbox only."""
        code = "".join(secrets.choice(string.digits) for _ in range(code_length))
        with self.lock:
            reference = self._new_reference()
            text = template.replace(contract.OTP_CODE_PLACEHOLDER, code).replace(
                contract.OTP_REF_PLACEHOLDER, reference
            )
            events = self._charge(count_segments(text))
            sent_at = from_timestamp(now)
            otp = Otp(
                reference=reference,
                uuid=str(uuid_lib.uuid4()),
                destination=destination,
                code=code,
                expires_at=sent_at + timedelta(seconds=ttl_seconds),
                ttl_seconds=ttl_seconds,
            )
            self.otps[reference] = otp
            failing = destination in normalised_set(self.switches.failing_numbers)
            self.inbox.append(
                InboxEntry(
                    destination,
                    origin,
                    text,
                    otp.uuid,
                    _new_tx_id(),
                    "failed" if failing else "success",
                    sent_at,
                    otp_reference=reference,
                )
            )
            return otp, events

    def _new_reference(self) -> str:
        while True:
            reference = "".join(
                secrets.choice(contract.PROVIDER_REFERENCE_ALPHABET)
                for _ in range(contract.PROVIDER_REFERENCE_LENGTH)
            )
            if reference not in self.otps:
                return reference

    def verify_otp(self, reference: str, pin: str, now: float) -> Otp | None:
        """The OTP when ``pin`` is right, ``None`` when wrong; errors for unusable references."""
        with self.lock:
            otp = self.otps.get(reference)
            if otp is None:
                raise ApiError(404, contract.ERROR_OTP_NOT_FOUND, "Unknown OTP reference.")
            if otp.verified:
                raise ApiError(400, ERROR_OTP_ALREADY_VERIFIED, "This OTP was already verified.")
            if otp.attempts >= OTP_MAX_ATTEMPTS:
                raise ApiError(
                    400, contract.ERROR_OTP_TOO_MANY_ATTEMPTS, "Too many wrong attempts."
                )
            if from_timestamp(now) >= otp.expires_at:
                raise ApiError(400, contract.ERROR_OTP_EXPIRED, "This OTP has expired.")
            if hmac.compare_digest(otp.code.encode(), pin.encode()):
                otp.verified = True
                return otp
            otp.attempts += 1
            return None

    def last_otp_code(self, msisdn: str) -> str | None:
        number = normalise_msisdn(msisdn) or msisdn
        with self.lock:
            for otp in reversed(self.otps.values()):
                if otp.destination == number:
                    return otp.code
        return None


_Armed = TypeVar("_Armed", Fault, Delay)


def _take(armed: list[_Armed], path: str) -> _Armed | None:
    for index, item in enumerate(armed):
        if path.startswith(item.prefix):
            item.remaining -= 1
            if item.remaining <= 0:
                del armed[index]
            return item
    return None
