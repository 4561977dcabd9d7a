"""Create the example site's cache table, demo staff user and a few messages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from django_sepsms import send_sms
from django_sepsms.models import Message


class Command(BaseCommand):
    help = "Prepare the example site: cache table, staff user admin/admin, demo messages."

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("createcachetable", verbosity=0)
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        if not Message.objects.exists():
            send_sms("ยินดีต้อนรับสู่ DemoShop! ลด 10% วันนี้", ["0812345678", "0898765432"])
            send_sms(
                "Hi {name}, your order has shipped.",
                ["0912345678"],
                variables={"0912345678": {"name": "Somchai"}},
            )
        self.stdout.write(self.style.SUCCESS("Demo ready: staff login admin / admin"))
