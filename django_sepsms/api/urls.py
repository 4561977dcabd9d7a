"""URLs of the JSON API, included by ``django_sepsms.urls`` under ``api/``.

No ``app_name`` here: the names live in the ``sepsms`` namespace
(``sepsms:api-otp``, ``sepsms:api-otp-verify``).
"""

from __future__ import annotations

from django.urls import URLPattern, path

from .views import OtpRequestView, OtpVerifyView

urlpatterns: list[URLPattern] = [
    path("otp/", OtpRequestView.as_view(), name="api-otp"),
    path("otp/verify/", OtpVerifyView.as_view(), name="api-otp-verify"),
]
