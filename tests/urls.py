from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from django_sepsms.api.views import PhoneTokenLoginView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("sepsms/", include("django_sepsms.urls")),
    # As docs/api.rst shows it: the schema (and schemathesis) then cover it too.
    path("api/login/phone/", PhoneTokenLoginView.as_view()),
]
