"""A stranger's first hour: README's and the docs' steps, as written, into a fresh
``django-admin startproject``, then a phone login through the real pages and a delivery
report by webhook from the simulator. A wrong or missing step in the docs fails here.

How the docs mark their steps, and how each is applied: ``tests/first_hour.py``.
"""

from __future__ import annotations

import json
import re
import sqlite3
import tomllib
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from packaging.requirements import Requirement

from tests.first_hour import (
    PATIENCE,
    ROOT,
    Block,
    Project,
    markdown_blocks,
    rst_blocks,
    wait_for,
)

DOCS = ROOT / "docs"
#: Each way in: the documents a stranger follows, in order.
PATHS: dict[str, Callable[[], list[Block]]] = {
    "README": lambda: list(markdown_blocks(ROOT / "README.md", "Installation in your project")),
    "docs": lambda: [*rst_blocks(DOCS / "installation.rst"), *rst_blocks(DOCS / "quickstart.rst")],
}
#: The paths that build the page people land on after a login (README's is your home page).
LANDS_ON_ITS_OWN_PAGE = {"docs"}
#: The paths that add ``LocaleMiddleware``, so that the pages follow the browser's language.
SPEAKS_THAI = {"docs"}
PHONE, MSISDN = "089-123-4567", "66891234567"

#: What the project's settings make of a login, read in the project's own shell.
FACTS = """
import json
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.shortcuts import resolve_url
from django.urls import reverse
get_user_model().objects.create_user("first-hour-staff", password="first-hour-password")
user = authenticate(username="first-hour-staff", password="first-hour-password")
print("FACTS " + json.dumps({
    "login_url": resolve_url(settings.LOGIN_URL),
    "redirect": resolve_url(settings.LOGIN_REDIRECT_URL),
    "phone_url": reverse("sepsms:phone"),
    "password_login": user is not None,
}))
"""


def csrf(page: requests.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:2000]
    return found[1]


def facts(project: Project) -> dict[str, Any]:
    block = Block("python", "", FACTS, "the project's settings")
    output = project.run([project.python, "manage.py", "shell", "-c", FACTS], block)
    (line,) = [line for line in output.splitlines() if line.startswith("FACTS ")]
    found: dict[str, Any] = json.loads(line.removeprefix("FACTS "))
    return found


def inbox_code(project: Project, reference: str) -> str:
    """The code the simulator's inbox shows for ``reference``, sent to ``MSISDN``."""

    def find() -> str | None:
        try:
            items = requests.get(f"{project.simulator}/_sim/inbox.json", timeout=30).json()
        except (requests.RequestException, ValueError):
            return None
        for item in items["items"]:
            if item["msisdn"] == MSISDN and item.get("otpReference") == reference:
                code = re.search(r"(?<!\d)\d{4,10}(?!\d)", item["text"].replace(reference, ""))
                assert code, item
                return code[0]
        return None

    code: str = wait_for(f"a code with Ref {reference} in the simulator's inbox", find)
    return code


def log_in_by_phone(project: Project, login: dict[str, Any], lands: bool) -> None:
    """Step 1 and 2 of the phone login, as a browser does them; the session is then signed in."""
    with requests.Session() as browser:
        start = project.site + login["login_url"]
        page = browser.get(start, timeout=PATIENCE)
        assert page.status_code == 200, page.text[:2000]
        sent = browser.post(
            start,
            {"csrfmiddlewaretoken": csrf(page), "phone": PHONE},
            allow_redirects=False,
            timeout=PATIENCE,
        )
        assert sent.status_code == 302, sent.text[:2000]
        verify = urljoin(start, sent.headers["Location"])
        page = browser.get(verify, timeout=PATIENCE)
        reference = re.search(r'class="sepsms-ref">([^<]+)<', page.text)
        assert reference, page.text[:2000]
        code = inbox_code(project, reference[1])
        done = browser.post(
            verify,
            {"csrfmiddlewaretoken": csrf(page), "code": code, "verify": ""},
            allow_redirects=False,
            timeout=PATIENCE,
        )
        assert done.status_code == 302, done.text[:2000]
        assert urlsplit(done.headers["Location"]).path == login["redirect"]
        # A page only a signed-in user sees; anyone else is sent to the login.
        own = browser.get(project.site + login["phone_url"], allow_redirects=False, timeout=60)
        assert own.status_code == 200, own.headers.get("Location")
        if lands:
            landing = browser.get(urljoin(verify, done.headers["Location"]), timeout=PATIENCE)
            assert landing.status_code == 200
            assert "phone-" in landing.text  # the account the login made


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as db:
        return db.execute(sql).fetchall()


def delivered(project: Project) -> list[tuple[Any, ...]]:
    """Every recipient of what the docs sent, once each is ``success`` (waited for)."""
    database = project.cwd / "db.sqlite3"

    def all_success() -> list[tuple[Any, ...]] | None:
        rows = query(database, "SELECT phone, status FROM sepsms_recipient ORDER BY id")
        return rows if rows and all(status == "success" for _, status in rows) else None

    try:
        return wait_for("the delivery reports", all_success, timeout=PATIENCE / 2)
    except AssertionError as exc:
        rows = query(database, "SELECT phone, status FROM sepsms_recipient")
        raise AssertionError(f"{exc}: {rows}\n{project.log('runserver')}") from None


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_fresh_project_built_as_the_docs_say_logs_in_by_phone_and_gets_reports(
    path: str, tmp_path: Path
) -> None:
    blocks = PATHS[path]()
    project = Project(tmp_path)
    try:
        project.apply([block for block in blocks if block.kind != "production"])
        ran = [" ".join(cmd) for cmd in project.commands]
        for needed in ("startproject", "migrate", "check", "sepsms_simulator", "runserver"):
            assert any(needed in command for command in ran), (needed, ran)
        login = facts(project)
        assert login["password_login"], "AUTHENTICATION_BACKENDS lost Django's password login"
        assert login["redirect"] != "/accounts/profile/", "LOGIN_REDIRECT_URL is Django's default"
        log_in_by_phone(project, login, lands=path in LANDS_ON_ITS_OWN_PAGE)
        if path in SPEAKS_THAI:
            thai = requests.get(
                project.site + login["login_url"],
                headers={"Accept-Language": "th"},
                timeout=PATIENCE,
            )
            assert "เข้าสู่ระบบด้วยเบอร์โทรศัพท์" in thai.text, thai.text[:2000]
        accounts = query(project.cwd / "db.sqlite3", "SELECT phone FROM sepsms_phonenumber")
        assert accounts == [(MSISDN,)]  # made by the login (LOGIN_CREATE_USERS)

        recipients = delivered(project)
        reports = query(
            project.cwd / "db.sqlite3",
            "SELECT count(*) FROM sepsms_webhookevent WHERE event = 'dr.success'",
        )
        assert reports[0][0] >= len(recipients)

        production = [block for block in blocks if block.kind == "production"]
        assert production, "no production settings"
        project.production_check(production)
    finally:
        project.stop()


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_way_in_has_each_kind_of_step(path: str) -> None:
    kinds = [block.kind for block in PATHS[path]()]
    for kind in ("settings", "urls", "console", "shell", "production"):
        assert kind in kinds, (path, kind)


def test_readme_says_how_to_build_the_docs_as_ci_does() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Documentation\n", 1)[1].split("\n## ", 1)[0]
    section = " ".join(section.split())
    (install,) = re.findall(r"`python -m pip install --group (\w+) -e \.`", section)
    (build,) = re.findall(r"`python -m sphinx ([^`]+)`", section)
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "dependency-groups"
    ]
    names = {Requirement(r).name for r in groups[install] if isinstance(r, str)}
    theme = re.search(r'html_theme = "(\w+)"', (DOCS / "conf.py").read_text(encoding="utf-8"))
    assert theme
    assert {"sphinx", theme[1]} <= names, (install, names)
    ci = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    (ci_build,) = re.findall(r"\"python -m sphinx ([^\"]+)\"", ci)
    assert ci_build.split()[-2:] == build.split()[-2:]  # the same sources, the same output
