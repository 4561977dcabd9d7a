from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("send/", views.send, name="send"),
    path("admin/", admin.site.urls),
    path("sepsms/", include("django_sepsms.urls")),
]
