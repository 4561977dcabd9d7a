"""The phone flows' place in the session, and a guard against unreadable session keys.

What the code page shows (wrong code with tries left, locked, expired, a wait
before a new code) is read from the flow kept here, never from the challenge:
a decoy has no challenge, so anything the challenge alone knew would tell the
two apart. For a real code the flow and the challenge agree: each check that
fails counts one try in both, and both expire at the same second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

#: The session key under which a flow keeps its step-2 state (number, purpose, reference).
SESSION_KEY = "sepsms_flow"


def readable_session(request: HttpRequest) -> None:
    """Give ``request`` a new, empty session if its cookie names one no database can look up.

    The key is whatever the client sends: ``sessionid="abcdefgh\\000..."`` (an
    octal escape in a quoted cookie, printable on the wire) unquotes to a key
    holding a NUL, which PostgreSQL refuses with an error: a 500 wherever the
    session is read. Call it before anything reads the session or the user.
    """
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if session is not None and isinstance(key, str) and "\x00" in key:
        request.session = type(session)()


@dataclass(frozen=True)
class FlowStatus:
    """Where a flow stands at one moment, as the code page shows it."""

    #: Checks the code may still get (0 when it is locked).
    tries_left: int
    #: As many wrong codes as the code allows were entered: only a new code helps.
    locked: bool
    #: The code's life is over: only a new code helps.
    expired: bool
    #: Seconds until a new code may be asked for (0: now).
    resend_wait: int
    #: Seconds until a code may be checked again after a limit refused one (0: now).
    verify_wait: int

    @property
    def can_verify(self) -> bool:
        """Whether the code may be checked at all (it may still have to wait)."""
        return not (self.locked or self.expired)


def seconds_until(moment: str | None, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment`` (an ISO time), rounded up; 0 if past."""
    if not moment:
        return 0
    try:
        until = datetime.fromisoformat(moment)
    except (TypeError, ValueError):
        return 0
    if (until.tzinfo is None) != (now.tzinfo is None):
        # Written before USE_TZ changed: read in the current time zone.
        until = timezone.make_aware(until) if until.tzinfo is None else timezone.make_naive(until)
    if until <= now:
        return 0
    return int((until - now).total_seconds()) + 1


def flow_status(flow: dict[str, Any], now: datetime) -> FlowStatus:
    """The state of ``flow`` (a session's step-2 state) at ``now``."""
    max_tries = _int(flow.get("max_tries"), 0)
    tries = _int(flow.get("tries"), 0)
    tries_left = max(0, max_tries - tries) if max_tries > 0 else 1
    expires_at = flow.get("expires_at")
    return FlowStatus(
        tries_left=tries_left,
        locked=max_tries > 0 and tries_left == 0,
        expired=bool(expires_at) and seconds_until(expires_at, now) == 0,
        resend_wait=seconds_until(flow.get("resend_at"), now),
        verify_wait=seconds_until(flow.get("verify_at"), now),
    )


def count_wrong_code(flow: dict[str, Any]) -> None:
    """One more check of the flow's code failed (whatever the reason)."""
    flow["tries"] = _int(flow.get("tries"), 0) + 1


def hold(flow: dict[str, Any], name: str, seconds: int, now: datetime) -> None:
    """Keep ``name`` (``"resend_at"`` or ``"verify_at"``) at least ``seconds`` from ``now``:
    a limit said to wait that long."""
    until = now + timedelta(seconds=seconds)
    if seconds_until(flow.get(name), now) < seconds:
        flow[name] = until.isoformat()


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return default
