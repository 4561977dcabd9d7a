from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SepsmsConfig(AppConfig):
    name = "django_sepsms"
    label = "sepsms"
    verbose_name = _("SMS (SEPSMS)")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
