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

from ..exceptions import ConfigurationError
from ..models import Message
from .deliver import deliver_message

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


@task()
def deliver_message_task(message_id: int) -> dict[str, Any]:
    """Send the batches of message ``message_id`` that nobody has sent yet."""
    try:
        msg = Message.objects.get(pk=message_id)
    except Message.DoesNotExist:
        logger.warning("Message %s vanished before it could be sent", message_id)
        return {"status": "missing"}
    deliver_message(msg, fail_silently=True, postpone_passing_errors=True)
    if msg.batches.filter(status=Message.Status.QUEUED).exists():
        # A passing error left batches queued: try again shortly.
        deliver_message_task.using(run_after=timezone.now() + RETRY_DELAY).enqueue(message_id)
    return {"status": msg.status}


def enqueue_delivery(msg: Message) -> None:
    """Queue the delivery of ``msg`` once the current transaction commits."""
    transaction.on_commit(lambda: deliver_message_task.enqueue(msg.pk))
