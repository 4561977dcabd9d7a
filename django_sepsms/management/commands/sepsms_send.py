"""``manage.py sepsms_send``: send one text to numbers given as arguments or in a CSV file."""

from __future__ import annotations

import csv
import itertools
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q, Sum
from django.utils import timezone

from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message
from django_sepsms.phone import mask_phones_in, normalize_phone
from django_sepsms.sending import deliver_message, get_balance, prepare_message, record_message
from django_sepsms.sending.bulk import BulkReport, send_bulk

logger = logging.getLogger("django_sepsms")


class ProgressBar:
    """A one-line progress bar on a terminal; silent elsewhere."""

    def __init__(self, total: int, stream: TextIO, width: int = 30) -> None:
        self.total, self.done, self.stream, self.width = total, 0, stream, width
        self.enabled = total > 0 and stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r[{bar}] {self.done:,}/{self.total:,}")
        if self.done >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def read_csv(path: Path, column: str) -> tuple[list[str], dict[str, dict[str, str]], list[str]]:
    """Numbers, per-number variables (the other columns) and refused rows with reasons.

    A file whose first row has no ``column`` header is read as one number per row.
    """
    numbers: list[str] = []
    variables: dict[str, dict[str, str]] = {}
    refused: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return numbers, variables, refused
    header = [h.strip() for h in rows[0]]
    has_header = column in header
    index = header.index(column) if has_header else 0
    for line, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        raw = row[index].strip() if index < len(row) else ""
        try:
            phone = normalize_phone(raw)
        except ValidationError as exc:
            refused.append(f"line {line}: {' '.join(exc.messages)}")
            continue
        numbers.append(phone)
        if has_header:
            extra = {h: v for h, v in zip(header, row, strict=False) if h and h != column}
            if extra:
                variables[phone] = extra
    return numbers, variables, refused


def iter_csv(path: Path, column: str) -> Iterator[str | dict[str, str]]:
    """Stream the rows of a CSV file as numbers or ``{"phone": ..., other columns}``."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        first = next(reader, None)
        if first is None:
            return
        header = [h.strip() for h in first]
        if column not in header:
            for row in itertools.chain([first], reader):
                if row and row[0].strip():
                    yield row[0].strip()
            return
        for row in reader:
            if row and any(cell.strip() for cell in row):
                values = dict(zip(header, row, strict=False))
                values["phone"] = values.pop(column, "")
                yield values


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def parse_at(value: str | None) -> datetime | None:
    """The ``--at`` option as an aware datetime (``None`` without it).

    A value that is not ISO 8601, or that has no time zone, is refused: the
    time it would mean is a guess.
    """
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--at is not an ISO 8601 time: {value}") from exc
    if timezone.is_naive(when):
        raise CommandError(
            f"--at must include a time zone, such as 2026-12-01T09:00:00+07:00: {value}"
        )
    return when


class Command(BaseCommand):
    help = "Send an SMS to numbers given as arguments or in a CSV file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("message", help="The text; {column} placeholders use CSV columns.")
        parser.add_argument("numbers", nargs="*", help="Recipients (0812345678, +66…).")
        parser.add_argument("--csv", type=Path, help="A CSV file of recipients.")
        parser.add_argument("--column", default="phone", help="The CSV column of numbers.")
        parser.add_argument("--origin", help="Sender name (default: SEPSMS['ORIGIN']).")
        parser.add_argument("--at", help="Schedule for this ISO 8601 time (with a zone).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and print the credit estimate only."
        )
        parser.add_argument(
            "--campaign",
            help="A name for this send (CSV only): running the command again with the same "
            "name after a crash sends only what was not sent.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        numbers: list[str] = list(options["numbers"])
        variables: dict[str, dict[str, str]] = {}
        refused: list[str] = []
        scheduled_at = parse_at(options["at"])
        if options["csv"]:
            if not options["csv"].exists():
                raise CommandError(f"No such file: {options['csv']}")
            if not options["dry_run"]:
                self.send_campaign(options, scheduled_at)
                return
            from_csv, variables, refused = read_csv(options["csv"], options["column"])
            numbers += from_csv
        for line in refused:
            self.stderr.write(self.style.WARNING(f"Refused {line}"))
        try:
            prepared = prepare_message(
                options["message"],
                numbers,
                origin=options["origin"],
                scheduled_at=scheduled_at,
                variables=variables or None,
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except SepsmsError as exc:
            raise CommandError(str(exc)) from exc
        estimate = prepared.estimated_credit()
        summary = f"{len(prepared.phones):,} recipient(s), about {estimate:,} credit(s)"
        if options["dry_run"]:
            self.stdout.write(f"Dry run: {summary}; {len(refused)} refused. Nothing was sent.")
            self.write_balance(estimate)
            return
        msg = record_message(prepared)
        bar = ProgressBar(len(prepared.phones), sys.stderr)
        try:
            deliver_message(msg, progress=bar.advance)
        except SepsmsError as exc:
            msg.refresh_from_db()
            raise CommandError(f"Message #{msg.pk} {msg.get_status_display()}: {exc}") from exc
        msg.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Message #{msg.pk} {msg.get_status_display()}: {summary}; "
                f"{msg.total_credit or 0:,} credit(s) charged; {len(refused)} refused."
            )
        )

    def write_balance(self, estimate: int) -> None:
        """Print the account's balance beside ``estimate``, or say it is unknown."""
        try:
            balance = get_balance()
        except Exception as exc:
            # Only advice: a dry run never fails because the balance cannot be read.
            reason = mask_phones_in(str(exc)) or type(exc).__name__
            logger.info("Dry run: the balance could not be read: %s", reason)
            self.stdout.write(f"Balance: unknown ({reason})")
            return
        self.stdout.write(f"Balance: {balance:,} credits")
        if estimate > balance:
            self.stderr.write(
                self.style.WARNING(
                    f"The estimate ({estimate:,} credits) exceeds the balance "
                    f"({balance:,} credits): the send would fail for lack of credit."
                )
            )

    def send_campaign(self, options: dict[str, Any], scheduled_at: datetime | None) -> None:
        """Stream a CSV file through :func:`~django_sepsms.sending.bulk.send_bulk`.

        ``send_bulk`` records a failed batch on its rows without raising; the
        command reads them back and fails as the argument path does.
        """
        path: Path = options["csv"]
        bar = ProgressBar(max(0, count_rows(path) - 1), sys.stderr)
        try:
            report = send_bulk(
                options["message"],
                iter_csv(path, options["column"]),
                origin=options["origin"],
                scheduled_at=scheduled_at,
                key=options["campaign"],
                progress=bar.advance,
            )
        except (ValidationError, SepsmsError) as exc:
            raise CommandError(str(exc)) from exc
        for raw, reason in report.refused:
            self.stderr.write(self.style.WARNING(f"Refused {raw!r}: {reason}"))
        msg = report.message
        msg.refresh_from_db()
        summary = (
            f"Message #{msg.pk} {msg.get_status_display()}: {report.recorded:,} recipient(s) "
            f"recorded, {msg.recipient_count:,} in all; {msg.total_credit or 0:,} credit(s) "
            f"charged; {report.refused_count:,} refused."
        )
        failure = self.campaign_failure(report)
        if failure:
            self.stdout.write(summary)
            raise CommandError(failure)
        self.stdout.write(self.style.SUCCESS(summary))

    @staticmethod
    def campaign_failure(report: BulkReport) -> str:
        """What went wrong with the campaign's batches, or ``""`` if nothing did."""
        msg = report.message
        counts = msg.batches.aggregate(
            failed=Sum("recipient_count", filter=Q(status=Message.Status.FAILED)),
            unconfirmed=Sum("recipient_count", filter=Q(status=Message.Status.UNCONFIRMED)),
        )
        failed, unconfirmed = counts["failed"] or 0, counts["unconfirmed"] or 0
        if not failed and not unconfirmed:
            return ""
        error = msg.error_message or msg.error_code
        return (
            f"Message #{msg.pk} {msg.get_status_display()}: {error}; "
            f"{failed:,} recipient(s) failed and {unconfirmed:,} unconfirmed, "
            f"of {msg.recipient_count:,}."
        )
