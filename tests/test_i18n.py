"""The Thai and English translations: complete, consistent with their .mo, used by the pages."""

from __future__ import annotations

import gettext
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import translation
from django.utils.translation import ngettext

import django_sepsms
from django_sepsms.models import Message
from django_sepsms.phone import normalize_phone

LOCALE = Path(django_sepsms.__file__).resolve().parent / "locale"
LANGUAGES = ("th", "en")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]")
TAG = re.compile(r"<[^>]*>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$')

TH_HEADING = "เข้าสู่ระบบด้วยเบอร์โทรศัพท์"
TH_INVALID = "“12345” ไม่ใช่เบอร์โทรศัพท์มือถือที่ถูกต้อง"
EN_HEADING = "Sign in with your phone"
EN_INVALID = "“12345” is not a valid mobile phone number."


@dataclass
class Entry:
    """One message of a .po file."""

    line: int
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        """The key of the message in a compiled catalogue."""
        return self.msgid if self.msgctxt is None else f"{self.msgctxt}\x04{self.msgid}"


def _unquote(token: str) -> str:
    assert token.startswith('"'), token
    assert token.endswith('"'), token
    return re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], token[1:-1])


def parse_po(path: Path) -> list[Entry]:
    """The entries of a .po file, header included; obsolete (``#~``) entries are skipped."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # the field continuation lines extend

    def finish() -> None:
        nonlocal current, target
        if current is not None:
            entries.append(current)
        current, target = None, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            finish()
            continue
        if current is None:
            current = Entry(line=number)
        if line.startswith("#,"):
            current.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := _KEYWORD.match(line):
            keyword, index, token = match.groups()
            if keyword == "msgid" and (current.msgid or current.msgstr):
                raise AssertionError(f"{path}:{number}: msgid without a blank line before it")
            target = ("msgstr", int(index or 0)) if keyword.startswith("msgstr") else (keyword, 0)
            _extend(current, target, _unquote(token))
        elif line.startswith('"') and target is not None:
            _extend(current, target, _unquote(line))
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    finish()
    return entries


def _extend(entry: Entry, target: tuple[str, int], text: str) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] = entry.msgstr.get(index, "") + text
    else:
        setattr(entry, name, (getattr(entry, name) or "") + text)


def messages(language: str) -> list[Entry]:
    """The entries of a language's catalogue, without the header."""
    entries = parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert entries[0].msgid == "", "the header comes first"
    return entries[1:]


def header(language: str) -> dict[str, str]:
    entry = parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")[0]
    pairs = (line.partition(":") for line in entry.msgstr[0].splitlines() if line)
    return {name.strip(): value.strip() for name, _, value in pairs}


def compiled(language: str) -> gettext.GNUTranslations:
    with (LOCALE / language / "LC_MESSAGES" / "django.mo").open("rb") as mo:
        return gettext.GNUTranslations(mo)


def where(entry: Entry) -> str:
    return f"django.po:{entry.line} {entry.msgid!r}"


# The catalogues themselves.


def test_parser_reads_multiline_and_plural_entries(tmp_path: Path) -> None:
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: th\\n"\n\n'
        "#, fuzzy, python-format\n"
        'msgid ""\n"Say \\"%(a)s\\" "\n"twice"\nmsgstr "x"\n\n'
        'msgid "%(n)d file"\nmsgid_plural "%(n)d files"\nmsgstr[0] "a"\n"b"\nmsgstr[1] "c"\n\n'
        '#~ msgid "old"\n#~ msgstr "เก่า"\n',
        encoding="utf-8",
    )
    head, single, plural = parse_po(po)
    assert head.msgstr == {0: "Language: th\n"}
    assert single.msgid == 'Say "%(a)s" twice'
    assert single.flags == {"fuzzy", "python-format"}
    assert plural.msgid_plural == "%(n)d files"
    assert plural.msgstr == {0: "ab", 1: "c"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_exists_and_is_not_fuzzy(language: str) -> None:
    entries = parse_po(LOCALE / language / "LC_MESSAGES" / "django.po")
    assert len(entries) > 100
    assert not [where(e) for e in entries if "fuzzy" in e.flags]
    assert header(language)["Language"] == language
    assert header(language)["Content-Type"] == "text/plain; charset=UTF-8"


def test_both_languages_have_the_same_messages() -> None:
    assert {e.key for e in messages("en")} == {e.key for e in messages("th")}


def test_thai_has_one_plural_form() -> None:
    assert header("th")["Plural-Forms"] == "nplurals=1; plural=0;"
    plurals = [e for e in messages("th") if e.msgid_plural is not None]
    assert plurals
    assert all(set(e.msgstr) == {0} for e in plurals), [where(e) for e in plurals]


def test_every_thai_message_is_translated() -> None:
    entries = messages("th")
    empty = [where(e) for e in entries if not e.msgstr or not all(e.msgstr.values())]
    assert not empty
    # Some strings stay as they are ("SMS", "Ref: ..."), but most are Thai.
    thai = [e for e in entries if re.search(r"[\u0e00-\u0e7f]", "".join(e.msgstr.values()))]
    assert len(thai) >= len(entries) - 5


def test_english_is_the_source() -> None:
    assert not [where(e) for e in messages("en") if any(e.msgstr.values())]


def test_thai_placeholders_and_markup_are_kept() -> None:
    for entry in messages("th"):
        source = entry.msgid_plural if entry.msgid_plural is not None else entry.msgid
        for translated in entry.msgstr.values():
            assert sorted(PLACEHOLDER.findall(translated)) == sorted(
                PLACEHOLDER.findall(source)
            ), where(entry)
            assert TAG.findall(translated) == TAG.findall(source), where(entry)
            assert translated == translated.strip(), where(entry)


@pytest.mark.parametrize("language", LANGUAGES)
def test_mo_matches_po(language: str) -> None:
    """The committed .mo is compiled from the .po as it is now (mtimes mean nothing in git)."""
    catalog: dict[object, str] = compiled(language)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for entry in messages(language):
        if entry.msgid_plural is None:
            if entry.msgstr.get(0):
                expected[entry.key] = entry.msgstr[0]
        elif all(entry.msgstr.values()):
            expected.update({(entry.key, n): text for n, text in entry.msgstr.items()})
    assert {key: text for key, text in catalog.items() if key != ""} == expected
    assert compiled(language).info()["language"] == language


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext")
def test_catalogue_covers_every_marked_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``makemessages`` on a copy of the app finds no message the catalogue lacks."""
    app = Path(django_sepsms.__file__).resolve().parent
    copy = tmp_path / "django_sepsms"
    shutil.copytree(app, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["th"], no_obsolete=True, verbosity=0)
    extracted = parse_po(copy / "locale" / "th" / "LC_MESSAGES" / "django.po")[1:]
    assert {e.key for e in extracted} == {e.key for e in messages("th")}


# The translations at work.


def test_python_strings_are_translated() -> None:
    with translation.override("th"):
        assert str(Message._meta.verbose_name) == "ข้อความ"
        assert str(Message.Status.FAILED.label) == "ไม่สำเร็จ"
        assert ngettext("%(count)d message resent.", "%(count)d messages resent.", 3) % {
            "count": 3
        } == ("ส่งซ้ำแล้ว 3 ข้อความ")
        with pytest.raises(ValidationError) as excinfo:
            normalize_phone("12345")
        assert excinfo.value.messages == [TH_INVALID]
    with translation.override("en"):
        assert str(Message.Status.FAILED.label) == "Failed"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "heading", "invalid", "button"),
    [("th", TH_HEADING, TH_INVALID, "ส่งรหัส"), ("en", EN_HEADING, EN_INVALID, "Send code")],
)
def test_login_page_speaks_the_language(
    client: Client, language: str, heading: str, invalid: str, button: str
) -> None:
    with translation.override(language):
        page = client.get("/sepsms/login/", HTTP_ACCEPT_LANGUAGE=language)
        assert page.status_code == 200
        html = page.content.decode()
        assert f'<html lang="{language}">' in html
        assert f"<h1>{heading}</h1>" in html
        assert button in html

        response = client.post("/sepsms/login/", {"phone": "12345"}, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 400
        html = response.content.decode()
        assert invalid in html
        assert heading in html
    if language == "th":
        assert EN_HEADING not in html
        assert "is not a valid" not in html
