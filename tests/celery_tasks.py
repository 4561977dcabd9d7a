"""``sepsms_celery.py`` of docs/campaigns.rst: its block is run here, as the page writes
it, so its ``CeleryBackend`` is ``tests.celery_tasks.CeleryBackend``."""

from __future__ import annotations

from tests.queues import documented_block

exec(documented_block("sepsms_celery.py"), globals())  # the docs' own block
