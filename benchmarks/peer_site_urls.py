"""URLs of the peer benchmark site: this app's API and django-phone-verify's, side by side."""

from __future__ import annotations

from django.urls import include, path
from phone_verify.api import VerificationViewSet
from rest_framework.routers import DefaultRouter

# As django-phone-verify's documentation routes it: peer/phone/register, peer/phone/verify.
router = DefaultRouter(trailing_slash=False)
router.register("phone", VerificationViewSet, basename="phone")

urlpatterns = [
    path("sepsms/", include("django_sepsms.urls")),
    path("peer/", include(router.urls)),
]
