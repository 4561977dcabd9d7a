"""Backends for tests of the sending layer: they fail on demand. The package also holds the
tests of ``django_sepsms.backends`` (HTTP, TLS, the provider's errors, the throttle)."""

from __future__ import annotations

from typing import Any, ClassVar

from django_sepsms.backends.base import OutgoingSms, SendResult
from django_sepsms.backends.locmem import LocmemBackend


class ScriptedBackend(LocmemBackend):
    """Locmem, except that each send first takes the next item of ``script``.

    An exception instance is raised; ``None`` sends normally.
    """

    script: ClassVar[list[Exception | None]] = []
    calls: ClassVar[list[OutgoingSms]] = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def send_message(self, sms: OutgoingSms) -> SendResult:
        type(self).calls.append(sms)
        step = type(self).script.pop(0) if type(self).script else None
        if step is not None:
            raise step
        return super().send_message(sms)


class FixedUuidBackend(LocmemBackend):
    """Locmem that answers with a provider uuid chosen by the test, not yet delivered."""

    next_uuid: ClassVar[str] = "fixed-uuid"

    def send_message(self, sms: OutgoingSms) -> SendResult:
        self.deliver(sms)
        return SendResult(uuid=type(self).next_uuid, total_msisdn=len(sms.recipients))
