"""How the phone pages show a wait: minutes when it is long, seconds when it is short.

A wait is shown in a ``<span data-sepsms-seconds="…">`` whose text is right when the
page is served (``49 min``, ``57 s``); ``django_sepsms/countdown.js`` ticks it down
with the same words, which the span carries in ``data-sepsms-*`` attributes (the
singular and plural form of each unit, translated here).
"""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

#: From this many seconds on, a wait is shown in minutes (rounded up).
MINUTES_FROM = 90


def _units(count: int) -> tuple[str, str]:
    """The (seconds, minutes) forms for ``count``, with ``{n}`` for the number."""
    return (
        ngettext("%(count)s s", "%(count)s s", count) % {"count": "{n}"},
        ngettext("%(count)s min", "%(count)s min", count) % {"count": "{n}"},
    )


def wait_text(seconds: int) -> str:
    """``seconds`` as people read it: ``49 min`` from 90 s on, else ``57 s``."""
    seconds = max(int(seconds), 0)
    if seconds >= MINUTES_FROM:
        minutes = -(-seconds // 60)
        return ngettext("%(count)s min", "%(count)s min", minutes) % {"count": minutes}
    return ngettext("%(count)s s", "%(count)s s", seconds) % {"count": seconds}


def countdown(seconds: int, *, role: str = "") -> SafeString:
    """The wait as markup the page's script counts down (see the module's docstring)."""
    one_s, one_min = _units(1)
    other_s, other_min = _units(2)
    return format_html(
        '<span class="sepsms-seconds"{} data-sepsms-s="{}|{}" data-sepsms-min="{}|{}"'
        ' data-sepsms-seconds="{}">{}</span>',
        format_html(' role="{}"', role) if role else "",
        one_s,
        other_s,
        one_min,
        other_min,
        max(int(seconds), 0),
        wait_text(seconds),
    )
