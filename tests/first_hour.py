"""README's and the docs' steps, read from their code blocks and applied to a fresh project.

The docs say which blocks are steps; every other block is an illustration:

- A block captioned (rst ``:caption:``; in Markdown, a comment on its first line)
  ``settings.py`` or ``urls.py`` (a note after a comma is for the reader) is appended to
  that file of the project. In a list assigned there, a first item ``# ...`` stands for
  what the list already holds, as a reader takes it: ``INSTALLED_APPS = [# ...,
  "django_sepsms"]`` extends the list.
- ``settings.py, in production`` goes to a settings module of its own, built on the
  project's, for ``check --deploy`` with its environment variables set.
- ``python manage.py shell`` runs in the project's shell: a ``pycon`` block as a doctest
  (its outputs compared, ``...`` matching anything), a ``python`` block as code.
  Consecutive blocks share one session; one whose caption adds ``a moment later`` is
  tried again until it passes, as a reader would look again.
- Each ``$`` line of a ``console`` block runs in order: ``django-admin``, ``cd``,
  ``export``, ``python manage.py ...`` (``runserver`` and ``sepsms_simulator`` in the
  background, waited for). ``pip install`` is checked against pyproject.toml and this
  environment, not run. Any other command fails: teach it here, or fix the docs.

The docs' ports (8000 for the site, 8025 for the simulator) become free ones.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SITE_PORT, SIMULATOR_PORT = 8000, 8025
#: How long anything may take on a loaded machine before it counts as broken.
PATIENCE = 120.0


@dataclass
class Block:
    """One code block of a document: its language, caption and text, and where it is."""

    lang: str
    caption: str
    text: str
    where: str

    @property
    def kind(self) -> str:
        """What applying it means: ``settings``, ``production``, ``urls``, ``shell``,
        ``console``, or ``""`` for an illustration."""
        if self.lang == "console":
            return "console"
        head, _, note = self.caption.lower().partition(",")
        if "manage.py shell" in head:
            return "shell"
        if head.strip().endswith("settings.py"):
            return "production" if "in production" in note else "settings"
        if head.strip().endswith("urls.py"):
            return "urls"
        return ""


_DIRECTIVE = re.compile(r"^(?P<indent> *)\.\. code-block:: *(?P<lang>\S+)\s*$")
_OPTION = re.compile(r"^ +:(?P<name>[\w-]+):\s*(?P<value>.*)$")
_FENCE = re.compile(r"^(?P<indent> *)```(?P<info>\S*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rst_blocks(path: Path) -> Iterator[Block]:
    """The ``.. code-block::`` blocks of an rst document, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        start, indent, options = i, len(match["indent"]), {}
        while i < len(lines) and (opt := _OPTION.match(lines[i])) and _indent(lines[i]) > indent:
            options[opt["name"]] = opt["value"]
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        text = textwrap.dedent("\n".join(body)).strip("\n")
        yield Block(match["lang"], options.get("caption", ""), text, f"{path.name}:{start}")


def markdown_blocks(path: Path, section: str) -> Iterator[Block]:
    """The fenced blocks of one ``## section`` of a Markdown document, in order; a block's
    caption is a comment on its first line."""
    text = path.read_text(encoding="utf-8")
    head = f"\n## {section}\n"
    assert head in text, f"{path.name} has no section {section!r}"
    start = text.index(head)
    end = text.find("\n## ", start + len(head))
    offset = text[:start].count("\n") + 1
    lines = text[start : end if end != -1 else None].splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        i += 1
        if not match:
            continue
        start_line, indent, body = offset + i - 1, len(match["indent"]), []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:] if _indent(lines[i]) >= indent else lines[i].lstrip())
            i += 1
        i += 1
        first = body[0] if body else ""
        caption = first[1:].strip() if first.startswith("#") else ""
        yield Block(match["info"], caption, "\n".join(body), f"{path.name}:{start_line}")


_PLACEHOLDER = re.compile(r"^(?P<name>\w+) = \[\n(?P<indent> +)# \.\.\..*$", re.MULTILINE)


def as_appended(code: str) -> str:
    """A settings or URLs block as it reads appended to its file: ``# ...`` in a list
    stands for the list's own items."""
    return _PLACEHOLDER.sub(lambda m: f"{m['name']} = [\n{m['indent']}*{m['name']},", code)


def commands(block: Block) -> list[str]:
    """The ``$`` lines of a console block, continuation lines joined."""
    found: list[str] = []
    lines = iter(block.text.splitlines())
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + " " + next(lines).strip()
        found.append(command.strip())
    return found


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, ready: Callable[[], Any], timeout: float = PATIENCE) -> Any:
    """Poll ``ready`` until it returns something true (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (with any status)."""
    try:
        requests.get(url, timeout=5, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


#: Runs the blocks of one shell session, sent as JSON on stdin; exits 1 on the first failure.
SHELL_SESSION = """
import doctest, json, sys, time
globs = {"__name__": "__main__"}
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
for block in json.load(sys.stdin):
    print("== " + block["where"], flush=True)
    deadline = time.monotonic() + block["patience"]
    while True:
        if block["lang"] == "pycon":
            parser = doctest.DocTestParser()
            test = parser.get_doctest(block["text"], globs, block["where"], None, 0)
            runner = doctest.DocTestRunner(optionflags=flags)
            report = []
            runner.run(test, out=report.append, clear_globs=False)
            globs = test.globs  # a DocTest runs in a copy
            ok = not runner.failures
        else:
            exec(compile(block["text"], block["where"], "exec"), globs)
            ok, report = True, []
        if ok or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not ok:
        print("".join(report), flush=True)
        sys.exit(1)
"""


@dataclass
class Project:
    """A fresh project in ``root``, built by applying steps, with the servers they start."""

    root: Path
    site_port: int = field(default_factory=free_port)
    simulator_port: int = field(default_factory=free_port)
    cwd: Path = field(init=False)
    env: dict[str, str] = field(init=False)
    applied: list[Block] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    servers: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cwd = self.root
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)  # the suite's, not the project's

    # -- where things are ---------------------------------------------------------------

    @property
    def python(self) -> str:
        """The ``python`` of the docs' commands: this one, whose environment has the app."""
        return sys.executable

    @property
    def site(self) -> str:
        return f"http://127.0.0.1:{self.site_port}"

    @property
    def simulator(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    def settings_module(self) -> str:
        manage = self.cwd / "manage.py"
        assert manage.exists(), f"no manage.py in {self.cwd}: the docs never made a project"
        found = re.search(r"DJANGO_SETTINGS_MODULE['\"], ['\"]([\w.]+)['\"]", manage.read_text())
        assert found, "manage.py names no settings module"
        return found[1]

    def file_of(self, kind: str) -> Path:
        package = self.settings_module().rsplit(".", 1)[0]
        return self.cwd.joinpath(*package.split("."), f"{kind}.py")

    def with_ports(self, text: str) -> str:
        for host in ("127.0.0.1", "localhost"):
            text = text.replace(f"{host}:{SITE_PORT}", f"127.0.0.1:{self.site_port}")
            text = text.replace(f"{host}:{SIMULATOR_PORT}", f"127.0.0.1:{self.simulator_port}")
        return text

    # -- applying steps -----------------------------------------------------------------

    def apply(self, blocks: list[Block]) -> None:
        """Apply every step among ``blocks``, in order."""
        session: list[Block] = []
        for block in blocks:
            if block.kind == "shell":
                session.append(block)
                continue
            if session:
                self.run_shell(session)
                session = []
            if block.kind in ("settings", "urls"):
                path = self.file_of(block.kind)
                code = as_appended(self.with_ports(block.text))
                path.write_text(f"{path.read_text()}\n\n# {block.where}\n{code}\n")
            elif block.kind == "console":
                for command in commands(block):
                    self.run_command(self.with_ports(command), block)
            if block.kind:
                self.applied.append(block)
        if session:
            self.run_shell(session)

    def run_command(self, command: str, block: Block) -> None:
        """Run one ``$`` line of ``block`` as its reader would."""
        words = shlex.split(command)
        env = dict(self.env)
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if words[0] == "export":
            for word in words[1:]:
                name, value = word.split("=", 1)
                self.env[name] = value
        elif words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
        elif words[:4] == ["python", "-m", "pip", "install"]:
            check_install(words[4:], block)
        elif words[:2] == ["pip", "install"]:
            check_install(words[2:], block)
        elif words[0] == "django-admin":
            self.run([self.python, "-m", "django", *words[1:]], block, env)
        elif words[:2] == ["python", "manage.py"] and words[2:3] == ["runserver"]:
            args = words[3:] or [f"127.0.0.1:{self.site_port}"]
            self.start("runserver", [*words[1:3], "--noreload", *args], env, block, self.site)
        elif words[:2] == ["python", "manage.py"] and words[2:3] == ["sepsms_simulator"]:
            args = (
                words[3:]
                if "--port" in words
                else [*words[3:], "--port", str(self.simulator_port)]
            )
            ready = f"{self.simulator}/_sim/health"
            self.start("simulator", [*words[1:3], *args], env, block, ready)
        elif words[:2] == ["python", "manage.py"]:
            self.run([self.python, *words[1:]], block, env)
        else:
            raise AssertionError(f"{block.where}: no rule to run {command!r}")

    def run(
        self,
        argv: list[str],
        block: Block,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> str:
        """Run ``argv`` to its end in the project; it must succeed. Returns its output."""
        self.commands.append(argv)
        result = subprocess.run(
            argv,
            cwd=self.cwd,
            env=env or self.env,
            input=stdin.encode() if stdin is not None else None,
            stdin=subprocess.DEVNULL if stdin is None else None,
            capture_output=True,
            timeout=PATIENCE * 2,
        )
        output = (result.stdout + result.stderr).decode("utf-8", "replace")
        shown = " ".join(arg if "\n" not in arg else "…" for arg in argv[1:])
        assert result.returncode == 0, f"{block.where}: {shown} failed\n{output[-4000:]}"
        return output

    def run_shell(self, blocks: list[Block]) -> str:
        """Run ``blocks`` in one session of the project's shell (see ``SHELL_SESSION``)."""
        payload = [
            {
                "lang": b.lang,
                "text": self.with_ports(b.text),
                "where": b.where,
                "patience": PATIENCE / 2 if "a moment later" in b.caption else 0,
            }
            for b in blocks
        ]
        argv = [self.python, "manage.py", "shell", "-c", SHELL_SESSION]
        output = self.run(argv, blocks[0], stdin=json.dumps(payload))
        self.applied.extend(blocks)
        return output

    def start(
        self, name: str, argv: list[str], env: dict[str, str], block: Block, ready_url: str
    ) -> None:
        """Start a server in the background and wait until ``ready_url`` answers."""
        self.commands.append(argv)
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [self.python, *argv],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        self.servers.append((name, process, log))
        wait_for(
            f"{name} ({block.where})", lambda: process.poll() is not None or answers(ready_url)
        )
        assert process.poll() is None, f"{block.where}: {name} stopped\n{self.log(name)}"

    def log(self, name: str) -> str:
        """The end of what the server ``name`` printed."""
        path = self.root / f"{name}.log"
        return path.read_text("utf-8", "replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        """Stop the servers this project started (each process group, by its id)."""
        for _name, process, log in reversed(self.servers):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=20)
            log.close()
        self.servers.clear()

    def production_check(self, blocks: list[Block]) -> str:
        """``check --deploy`` on the project's settings with the production blocks appended,
        each environment variable they read set: they load, and the app finds no error.
        (Django's own deploy checks of a fresh project's settings are not the docs' business.)"""
        code = "\n\n".join(as_appended(b.text) for b in blocks)
        module = self.settings_module()
        path = self.file_of("settings").with_name("settings_production.py")
        path.write_text(f"from {module} import *  # noqa: F403\n\n{code}\n")
        env = dict(self.env)
        for name in re.findall(r"os\.environ\[[\"'](\w+)[\"']\]", code):
            env[name] = "sk_sep_first_hour" if "KEY" in name else "whsec_first_hour"
        argv = [self.python, "manage.py", "check", "--deploy", "--fail-level", "CRITICAL"]
        output = self.run([*argv, "--settings", f"{module}_production"], blocks[0], env)
        errors = re.findall(r"\(sepsms\.E\d+\).*", output)
        assert not errors, f"{blocks[0].where}: {errors}"
        return output


def check_install(specs: list[str], block: Block) -> None:
    """A ``pip install`` of the docs names this project, its real extras, and what this
    environment has installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in specs:
        if spec.startswith("-"):
            if spec in ("-e", "--editable"):
                continue
            raise AssertionError(f"{block.where}: no rule for pip's {spec}")
        requirement = Requirement(
            spec if not spec.startswith(".") else f"{project['name']}{spec[1:]}"
        )
        assert canonicalize_name(requirement.name) == canonicalize_name(project["name"]), spec
        unknown = requirement.extras - set(project["optional-dependencies"])
        assert not unknown, f"{block.where}: no extra {sorted(unknown)} in pyproject.toml"
        assert metadata.version(project["name"]), spec
