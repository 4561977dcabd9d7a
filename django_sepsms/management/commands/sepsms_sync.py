"""``manage.py sepsms_sync``: refresh the delivery status of messages not yet final."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message
from django_sepsms.sending.recovery import (
    SCHEDULE_MISSED,
    fail_missed_schedules,
    recover_abandoned_batches,
    resume_stalled_messages,
)
from django_sepsms.tracking.sync import open_messages, sync_messages


class Command(BaseCommand):
    help = (
        "Ask the provider for the status of every message that is not final yet "
        "(pending, scheduled, processing, unconfirmed) and apply it. Exits with "
        "status 1 if any message could not be checked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="Only these message ids.")

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[int] = options["ids"]
        recovered = recover_abandoned_batches()
        if recovered:
            self.stdout.write(
                self.style.WARNING(f"{recovered} abandoned batch(es) marked unconfirmed.")
            )
        missed = fail_missed_schedules()
        if missed:
            self.stdout.write(
                self.style.WARNING(
                    f"{missed} stalled scheduled message(s) past their time: "
                    f"not sent, marked failed ({SCHEDULE_MISSED})."
                )
            )
        try:
            resumed = resume_stalled_messages()
            if resumed:
                self.stdout.write(self.style.WARNING(f"{resumed} stalled message(s) resumed."))
            messages = Message.objects.filter(pk__in=ids).iterator() if ids else open_messages()
            report = sync_messages(messages)
        except SepsmsError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{report.messages} message(s) checked, "
            f"{report.recipients_changed} recipient status(es) changed."
        )
        if report.settled:
            self.stdout.write(
                f"{len(report.settled)} message(s) whose batches were all final settled: "
                + ", ".join(f"#{pk}" for pk in sorted(report.settled))
            )
        if report.unresolved:
            self.stdout.write(
                self.style.WARNING(
                    "Unconfirmed (no provider uuid; waiting for a webhook): "
                    + ", ".join(f"#{pk}" for pk in sorted(set(report.unresolved)))
                )
            )
        for pk, error in report.errors:
            self.stderr.write(self.style.ERROR(f"#{pk}: {error}"))
        if report.errors:
            failed = len({pk for pk, _ in report.errors})
            raise CommandError(f"{failed} message(s) could not be checked.")
