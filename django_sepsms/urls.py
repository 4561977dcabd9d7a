"""URLs of django-sepsms; include them under any prefix (namespace ``sepsms``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from .otp import views
from .webhooks.views import webhook

app_name = "sepsms"

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhook/", webhook, name="webhook"),
    path("login/", views.StartView.as_view(), name="login"),
    path("login/verify/", views.VerifyView.as_view(), name="login-verify"),
    path("phone/", views.PhoneStartView.as_view(), name="phone"),
    path("phone/verify/", views.PhoneVerifyView.as_view(), name="phone-verify"),
]

try:
    import rest_framework  # noqa: F401
except ImportError:  # the API needs the "drf" extra
    pass
else:
    urlpatterns.append(path("api/", include("django_sepsms.api.urls")))
