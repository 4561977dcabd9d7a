"""``manage.py sepsms_purge --days N``: delete or anonymise old SMS records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from django_sepsms.tracking.retention import purge


class Command(BaseCommand):
    help = (
        "Delete (or with --anonymise, mask) messages, recipients, OTP challenges and "
        "webhook events older than --days days, in small batches."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, required=True, help="Keep this many days.")
        parser.add_argument(
            "--anonymise",
            action="store_true",
            help=(
                "Keep the rows for statistics but remove numbers, texts, payloads and "
                "webhook keys, and mask numbers quoted in error messages."
            ),
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count.")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1.")
        before = timezone.now() - timedelta(days=options["days"])
        report = purge(
            before,
            anonymise=options["anonymise"],
            dry_run=options["dry_run"],
            batch_size=max(1, options["batch_size"]),
        )
        verb = "would be" if options["dry_run"] else "were"
        action = "anonymised" if options["anonymise"] else "deleted"
        self.stdout.write(
            f"{report.messages} message(s), {report.recipients} recipient(s), "
            f"{report.otp_challenges} OTP challenge(s) and {report.webhook_events} webhook "
            f"event(s) older than {before:%Y-%m-%d %H:%M} {verb} {action}."
        )
