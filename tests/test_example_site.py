"""The example site (example_project/): Thai first, numbers as people read them, the send page."""

from __future__ import annotations

import gettext
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import WARNING
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from django_sepsms.models import Message, PhoneNumber, Recipient
from example_project import settings as example
from example_project.views import split_numbers
from tests.test_i18n import parse_po

pytestmark = pytest.mark.django_db

ROOT = Path(example.BASE_DIR)
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
INLINE = re.compile(r"<style|\sstyle=|<script(?![^>]*\ssrc=)", re.IGNORECASE)


@pytest.fixture(autouse=True)
def site(settings: Any) -> None:
    settings.ROOT_URLCONF = "example_project.urls"
    settings.TEMPLATES = example.TEMPLATES
    settings.LOCALE_PATHS = example.LOCALE_PATHS
    settings.LANGUAGE_CODE = example.LANGUAGE_CODE
    settings.LANGUAGES = example.LANGUAGES
    settings.SIMULATOR_INBOX_URL = ""


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = get_user_model().objects.create_user(
        username="admin", password="pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


def test_split_numbers_keeps_spaces_inside_a_number() -> None:
    assert split_numbers("081 234 5678, 0912345678\r\n\n +66 61 234 5678 ,") == [
        "081 234 5678",
        "0912345678",
        "+66 61 234 5678",
    ]
    assert split_numbers(" , \n") == []


@pytest.mark.parametrize(
    ("accept", "lang", "heading"),
    [("", "th", "เว็บไซต์ตัวอย่าง django-sepsms"), ("en", "en", "django-sepsms example site")],
)
def test_pages_speak_thai_first_and_say_so(
    client: Client, accept: str, lang: str, heading: str
) -> None:
    headers: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": accept} if accept else {}
    page = client.get("/", **headers).content.decode()
    assert f'<html lang="{lang}">' in page
    assert f"<h1>{heading}</h1>" in page
    if lang == "th":
        assert "Everything here runs offline" not in page
        assert "เข้าสู่ระบบด้วยเบอร์โทรศัพท์" in page


def test_send_page_in_thai_and_its_pills(staff_client: Client, sms_outbox: list[Any]) -> None:
    staff_client.post("/send/", {"recipients": "0812345678", "message": "สวัสดี"})
    page = staff_client.get("/send/").content.decode()
    assert '<html lang="th">' in page
    assert "ส่ง SMS" in page
    assert "คั่นแต่ละเบอร์ด้วยจุลภาค" in page  # the form's help text
    assert re.search(r'<span class="pill pill-completed">[^<]+</span>', page)
    css = (ROOT / "static" / "example" / "site.css").read_text(encoding="utf-8")
    pill = re.search(r"\.pill \{[^}]*\}", css)
    assert pill is not None
    assert "white-space: nowrap" in pill.group()


def test_one_number_with_spaces_is_one_number(staff_client: Client, sms_outbox: list[Any]) -> None:
    response = staff_client.post("/send/", {"recipients": "081 234 5678", "message": "Hi"})
    assert response.status_code == 302
    assert [sms.recipients for sms in sms_outbox] == [["66812345678"]]


def test_refused_numbers_are_listed_in_a_warning(
    staff_client: Client, sms_outbox: list[Any]
) -> None:
    typed = "081 234 5678, 12345\n091-234-5678\nnot-a-number"
    response = staff_client.post(
        "/send/", {"recipients": typed, "message": "Hi"}, HTTP_ACCEPT_LANGUAGE="en", follow=True
    )
    msg = Message.objects.get()
    assert sorted(Recipient.objects.filter(message=msg).values_list("phone", flat=True)) == [
        "66812345678",
        "66912345678",
    ]
    shown = list(response.context["messages"])
    assert [m.level_tag for m in shown] == ["success", "warning"]
    warning = shown[1]
    assert warning.level == WARNING
    assert "2 numbers were refused:" in str(warning)
    assert "<li>12345: “12345” is not a valid mobile phone number.</li>" in str(warning)
    assert "<li>not-a-number: “not-a-number” is not a valid mobile phone number.</li>" in str(
        warning
    )
    page = response.content.decode()
    assert '<li class="warning" role="alert">2 numbers were refused:<ul>' in page


def test_refused_numbers_are_escaped(staff_client: Client, sms_outbox: list[Any]) -> None:
    response = staff_client.post(
        "/send/", {"recipients": "0812345678,<b>x</b>", "message": "Hi"}, follow=True
    )
    page = response.content.decode()
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_account_shows_every_number_the_same_way(client: Client) -> None:
    # An account named by its number, as earlier versions made them.
    user = get_user_model().objects.create_user(username="66812345678")
    PhoneNumber.objects.create(user=user, phone="66812345678", verified_at=timezone.now())
    PhoneNumber.objects.create(
        user=user, phone="66912345699", is_primary=False, verified_at=timezone.now()
    )
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "<h1>สวัสดี 0xx-xxx-xx78</h1>" in page
    assert "<td>0xx-xxx-xx78</td>" in page
    assert "<td>0xx-xxx-xx99</td>" in page
    for full in ("66812345678", "0812345678", "081-234-5678", "66912345699", "091-234-5699"):
        assert full not in page
    assert "66*******" not in page


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_templates_have_no_inline_style_or_script(template: Path) -> None:
    assert INLINE.findall(template.read_text(encoding="utf-8")) == []


def test_thai_catalogue_is_complete_and_compiled() -> None:
    po = ROOT / "locale" / "th" / "LC_MESSAGES" / "django.po"
    entries = parse_po(po)[1:]
    assert entries
    assert not [e.msgid for e in entries if not all(e.msgstr.values()) or "fuzzy" in e.flags]
    with po.with_suffix(".mo").open("rb") as mo:
        catalog: dict[object, str] = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    expected = {(e.key if e.msgid_plural is None else (e.key, 0)): e.msgstr[0] for e in entries}
    assert {k: v for k, v in catalog.items() if k != ""} == expected


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_thai_catalogue_covers_every_marked_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "example_project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.sqlite3"))
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["th"], no_obsolete=True, verbosity=0)
    extracted = parse_po(copy / "locale" / "th" / "LC_MESSAGES" / "django.po")[1:]
    ours = parse_po(ROOT / "locale" / "th" / "LC_MESSAGES" / "django.po")[1:]
    assert {e.key for e in extracted} == {e.key for e in ours}
