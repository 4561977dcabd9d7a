"""What the admin says about failures and codes, in words and in the active language."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import translation

import django_sepsms
from django_sepsms import send_otp, send_sms
from django_sepsms.admin.columns import badge
from django_sepsms.admin.failures import failure_reason
from django_sepsms.models import Recipient
from django_sepsms.sending import NOT_SENT_CODE

pytestmark = pytest.mark.django_db

MODELS = ["message", "messagebatch", "recipient", "otpchallenge", "webhookevent", "phonenumber"]
PACKAGE = Path(django_sepsms.__file__).resolve().parent
INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\ssrc=)", re.IGNORECASE)


def viewer(full_phones: bool = False) -> Client:
    user = get_user_model().objects.create_user(
        username=f"viewer{get_user_model().objects.count()}", password="pw", is_staff=True
    )
    codenames = [f"view_{m}" for m in MODELS] + (["view_full_phone"] if full_phones else [])
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failed(sms_outbox: list[Any]) -> Recipient:
    msg = send_sms("Hello", ["0812345678", "0912345678"])
    Recipient.objects.filter(phone="66912345678").update(
        status=Recipient.Status.FAILED, error_code="credit.insufficient"
    )
    Recipient.objects.filter(phone="66812345678").update(
        status=Recipient.Status.EXPIRED, error_code=""
    )
    return Recipient.objects.get(message=msg, phone="66912345678")


def test_failure_reasons() -> None:
    with translation.override("en"):
        assert failure_reason("failed", "credit.insufficient") == "There was not enough credit."
        assert failure_reason("failed", NOT_SENT_CODE).startswith("Recorded as never sent")
        assert failure_reason("expired", "") == "The SMS could not be delivered in time."
        assert failure_reason("failed", "some.unknown_code") == ""  # the code says it all
        assert failure_reason("success", "") == ""
    with translation.override("th"):
        assert failure_reason("failed", "credit.insufficient") == "เครดิตไม่พอ"


def test_failed_recipients_show_code_and_reason_everywhere(failed: Recipient) -> None:
    support = viewer()
    listing = support.get(reverse("admin:sepsms_recipient_changelist"), HTTP_ACCEPT_LANGUAGE="en")
    body = listing.content.decode()
    assert "credit.insufficient" in body
    assert "There was not enough credit." in body
    assert "The SMS could not be delivered in time." in body
    assert '<th scope="col" class="column-reason">' in body

    page = support.get(reverse("admin:sepsms_recipient_change", args=[failed.pk]))
    assert "There was not enough credit." in page.content.decode()

    message_page = support.get(reverse("admin:sepsms_message_change", args=[failed.message_id]))
    html = message_page.content.decode()
    assert "<th>Reason</th>" in html
    assert '<td class="sepsms-reason">There was not enough credit.</td>' in html

    dashboard = support.get(reverse("admin:sepsms_dashboard")).content.decode()
    assert '<td class="sepsms-reason">There was not enough credit.</td>' in dashboard
    assert "credit.insufficient" in dashboard


def test_error_codes_quoting_a_number_are_masked(sms_outbox: list[Any]) -> None:
    msg = send_sms("Hello", ["0812345678"])
    Recipient.objects.update(status=Recipient.Status.FAILED, error_code="refused.66812345678")
    support = viewer()
    for url in (
        reverse("admin:sepsms_recipient_changelist"),
        reverse("admin:sepsms_recipient_change", args=[Recipient.objects.get().pk]),
        reverse("admin:sepsms_message_change", args=[msg.pk]),
    ):
        body = support.get(url).content.decode()
        assert "66812345678" not in body, url
        assert "refused.66*******78" in body, url


def test_csv_export_uses_the_admins_labels(failed: Recipient) -> None:
    boss = viewer(full_phones=True)
    url = reverse("admin:sepsms_message_changelist")
    export = boss.post(
        url,
        {"action": "export_csv", "_selected_action": [failed.message_id]},
        HTTP_ACCEPT_LANGUAGE="th",
    )
    assert isinstance(export, StreamingHttpResponse)
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == ("ข้อความ,สร้างเมื่อ,ชื่อผู้ส่ง,เบอร์โทรศัพท์,สถานะการส่ง,รหัสธุรกรรม,รหัสข้อผิดพลาด,สาเหตุ")
    rows = {line.split(",")[3]: line.split(",") for line in lines[1:]}
    assert rows["091-234-5678"][4] == "ไม่สำเร็จ"
    assert rows["091-234-5678"][6:] == ["credit.insufficient", "เครดิตไม่พอ"]
    assert rows["081-234-5678"][4] == "หมดอายุ"


def test_otp_purposes_are_translated(sms_outbox: list[Any]) -> None:
    send_otp("0812345678", purpose="login")
    send_otp("0912345678")
    send_otp("0612345678", purpose="my-own-flow")
    support = viewer()
    url = reverse("admin:sepsms_otpchallenge_changelist")
    body = support.get(url, HTTP_ACCEPT_LANGUAGE="th").content.decode()
    assert '<td class="field-purpose_label">เข้าสู่ระบบ</td>' in body
    assert '<td class="field-purpose_label">ยืนยันเบอร์โทรศัพท์</td>' in body
    assert '<td class="field-purpose_label">my-own-flow</td>' in body
    assert '<a href="?purpose=login">เข้าสู่ระบบ</a>' in body  # the filter
    page = support.get(url, {"purpose": "login"})
    assert [c.purpose for c in page.context["cl"].result_list] == ["login"]


def test_batches_name_their_message_column_in_the_active_language(
    sms_outbox: list[Any],
) -> None:
    msg = send_sms("Hello", ["0812345678"])
    body = (
        viewer()
        .get(reverse("admin:sepsms_messagebatch_changelist"), HTTP_ACCEPT_LANGUAGE="th")
        .content.decode()
    )
    header = re.search(
        r'<th scope="col" class="[^"]*column-message_link[^"]*">.*?</th>', body, re.S
    )
    assert header, body
    assert "ข้อความ" in header[0]
    assert "message id" not in body.lower()
    assert f'<a href="../message/{msg.pk}/change/">#{msg.pk}</a>' in body


def test_pills_are_styled_by_a_stylesheet_and_keep_to_one_line(sms_outbox: list[Any]) -> None:
    assert (
        badge("failed", "ไม่สำเร็จ") == '<span class="sepsms-pill sepsms-pill-failed">ไม่สำเร็จ</span>'
    )
    assert badge("other", "x") == '<span class="sepsms-pill">x</span>'
    css = (PACKAGE / "static" / "django_sepsms" / "admin.css").read_text(encoding="utf-8")
    pill = re.search(r"\.sepsms-pill \{[^}]*\}", css)
    assert pill is not None
    assert "white-space: nowrap" in pill.group()
    send_sms("Hello", ["0812345678"])
    body = viewer().get(reverse("admin:sepsms_message_changelist")).content.decode()
    assert 'href="/static/django_sepsms/admin.css"' in body
    dashboard = viewer().get(reverse("admin:sepsms_dashboard")).content.decode()
    assert 'href="/static/django_sepsms/admin.css"' in dashboard


@pytest.mark.parametrize(
    "template",
    sorted((PACKAGE / "templates" / "admin").rglob("*.html")),
    ids=lambda p: p.name,
)
def test_admin_templates_have_no_inline_style_or_script(template: Path) -> None:
    assert INLINE.findall(template.read_text(encoding="utf-8")) == []
