from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/", views.account, name="account"),
    path("logout/", views.logout_view, name="logout"),
    path("send/", views.send, name="send"),
    path("admin/", admin.site.urls),
    path("sepsms/", include("django_sepsms.urls")),
]
