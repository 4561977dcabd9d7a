"""``manage.py sepsms_balance``: print the account's remaining credits."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from django_sepsms.exceptions import SepsmsError
from django_sepsms.phone import mask_phones_in
from django_sepsms.sending import get_balance


class Command(BaseCommand):
    help = "Print the SEPSMS account's remaining credits."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            balance = get_balance()
        except SepsmsError as exc:
            raise CommandError(f"Could not read the balance: {mask_phones_in(str(exc))}") from exc
        self.stdout.write(f"{balance:,} credits")
