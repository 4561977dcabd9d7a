"""Prepare the example site: cache table, a staff user, a customer with a phone, messages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from django_sepsms import send_sms
from django_sepsms.exceptions import SepsmsError
from django_sepsms.models import Message, PhoneNumber


class Command(BaseCommand):
    help = "Create the demo data: staff admin/admin, customer 081 234 5678, a few messages."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("createcachetable", verbosity=0)
        users = get_user_model()
        if not users.objects.filter(username="admin").exists():
            users.objects.create_superuser("admin", "admin@example.com", "admin")
        customer, _ = users.objects.get_or_create(username="somchai")
        PhoneNumber.objects.get_or_create(
            phone="66812345678", defaults={"user": customer, "verified_at": timezone.now()}
        )
        if not Message.objects.exists():
            try:
                send_sms("ยินดีต้อนรับสู่ DemoShop! ลด 10% วันนี้", ["0812345678", "0898765432"])
                send_sms(
                    "Hi {name}, your order has shipped.",
                    ["0912345678"],
                    variables={"0912345678": {"name": "Somchai"}},
                )
            except SepsmsError as exc:
                self.stderr.write(f"Demo messages not sent: {exc}")
        self.stdout.write(
            self.style.SUCCESS(
                "Demo ready. Staff login: admin / admin. "
                "Phone login: 081 234 5678 (or any Thai mobile number to sign up)."
            )
        )
