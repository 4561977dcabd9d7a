"""Background delivery on Django's task framework (``django.tasks``, or the
``django-tasks`` backport on Django 5.2): a database queue, RQ on Redis, or any
other engine behind it. Turned on with ``SEPSMS["USE_TASKS"] = True``.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..exceptions import ConfigurationError, SepsmsError
from ..models import Message
from ..tracking.totals import refresh_message_totals
from .deliver import deliver_message
from .outcomes import fail_remaining

logger = logging.getLogger("django_sepsms")

try:
    from django.tasks import task  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # Django < 6.0
    try:
        from django_tasks import task  # type: ignore[no-redef,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            'SEPSMS["USE_TASKS"] needs Django 6 or the backport: '
            'pip install "django-sepsms[tasks]" and add "django_tasks" to INSTALLED_APPS.'
        ) from exc

#: How long a delivery stopped by a passing error (no connection, over the
#: provider's rate) waits before it is tried again.
RETRY_DELAY = timedelta(seconds=30)

#: The error code of batches whose retry the task backend refused to queue.
RETRY_NOT_QUEUED = "tasks.retry_not_queued"


@task()
def deliver_message_task(message_id: int) -> dict[str, Any]:
    """Send the batches of message ``message_id`` that nobody has sent yet.

    A batch stopped by a passing error is tried again :data:`RETRY_DELAY`
    later when the task backend can run a task later (``supports_defer``).
    Otherwise (an immediate backend) the send ends here, as it does without
    ``USE_TASKS``: after the HTTP backend's own retries, each batch is
    recorded accepted, failed with its error code, or unconfirmed.
    """
    try:
        msg = Message.objects.get(pk=message_id)
    except Message.DoesNotExist:
        logger.warning("Message %s vanished before it could be sent", message_id)
        return {"status": "missing"}
    later = can_run_later()
    deliver_message(msg, fail_silently=True, postpone_passing_errors=later)
    if later and msg.batches.filter(status=Message.Status.QUEUED).exists():
        _retry_later(msg)
    return {"status": msg.status}


def can_run_later() -> bool:
    """Whether the task backend of :func:`deliver_message_task` takes ``run_after``."""
    return bool(getattr(deliver_message_task.get_backend(), "supports_defer", False))


def _retry_later(msg: Message) -> None:
    """Queue another delivery of ``msg`` shortly; if the queue refuses it, fail
    the batches waiting for it with the reason, rather than leave them queued."""
    try:
        deliver_message_task.using(run_after=timezone.now() + RETRY_DELAY).enqueue(msg.pk)
    except Exception as exc:
        logger.error("The retry of message %s could not be queued: %s", msg.pk, type(exc).__name__)
        fail_remaining(msg, _RetryNotQueued(type(exc).__name__))
        refresh_message_totals(msg)


class _RetryNotQueued(SepsmsError):
    """A passing error stopped the send, and the task backend refused its retry."""

    code = RETRY_NOT_QUEUED

    def __str__(self) -> str:
        return (
            "A passing error (no connection, over the provider's rate) stopped the send, "
            f"and the task backend refused to queue its retry ({self.args[0]})."
        )


def enqueue_delivery(msg: Message) -> None:
    """Queue the delivery of ``msg`` once the current transaction commits."""
    transaction.on_commit(lambda: deliver_message_task.enqueue(msg.pk))
