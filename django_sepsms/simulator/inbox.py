"""The simulator's inbox: every SMS "delivered", newest first, OTP codes included.

Like Mailpit for e-mail: a developer reads the code the site just sent without a
phone. HTML that reloads itself, with its stylesheet and script served by the
simulator itself (``/_sim/inbox.css``, ``/_sim/inbox.js``: nothing inline, nothing
from elsewhere). Numbers are shown as the provider's API carries them
(``66812345678``), the form a test compares.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape
from typing import Any

from .records import InboxEntry
from .wire import iso_millis

REFRESH_SECONDS = 3

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}
header span{opacity:.8}
main{padding:16px 20px}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e4e6eb;vertical-align:top}
th{background:#eceef2;font-weight:600}
td.text{white-space:pre-wrap;word-break:break-word;max-width:48em}
.status{border-radius:10px;padding:1px 8px;font-size:12px;background:#ddd;white-space:nowrap}
.status-success{background:#d3f5dc;color:#11632a}
.status-failed{background:#fbd5d5;color:#8a1717}
.ref{font-family:ui-monospace,monospace;font-size:12px;color:#555}
.empty{padding:40px;text-align:center;color:#666}
.more{color:#666}
header form input{padding:4px 8px;border-radius:4px;border:0;min-width:16em}
"""

#: Keeps what is being typed in the search box across the page's reloads: the
#: draft, the caret and the focus are put back after each one. A search sent
#: with Enter is in the address, which the reload keeps.
_JS = """(function () {
  "use strict";
  var KEY = "sepsms-simulator-inbox-search";
  var field = document.querySelector('input[name="q"]');
  if (!field || !window.sessionStorage) { return; }
  var here = location.pathname + location.search;
  var draft = null;
  try { draft = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { draft = null; }
  if (draft && draft.page === here) {
    field.value = draft.value;
    if (draft.focused) {
      field.focus();
      var caret = Math.min(draft.caret, field.value.length);
      field.setSelectionRange(caret, caret);
    }
  }
  function keep() {
    sessionStorage.setItem(KEY, JSON.stringify({
      page: here, value: field.value, caret: field.selectionStart || 0,
      focused: document.activeElement === field
    }));
  }
  ["input", "keyup", "focus", "blur", "click"].forEach(function (name) {
    field.addEventListener(name, keep);
  });
  field.form.addEventListener("submit", function () { sessionStorage.removeItem(KEY); });
})();
"""

#: What ``/_sim/<name>`` serves besides the control endpoints: the page's assets.
ASSETS: dict[str, tuple[bytes, str]] = {
    "inbox.css": (_CSS.encode("utf-8"), "text/css; charset=utf-8"),
    "inbox.js": (_JS.encode("utf-8"), "text/javascript; charset=utf-8"),
}


#: The most rows one page shows: a 10,000-number send must not make it crawl.
PAGE_SIZE = 200


def matching(entries: Sequence[InboxEntry], query: str) -> list[InboxEntry]:
    """``entries`` newest first, only those matching ``query`` when there is one.

    A query of digits finds numbers (``0812…`` and ``66812…`` alike); any
    query also finds texts, senders, OTP references and provider uuids.
    """
    newest_first = sorted(entries, key=lambda e: e.time, reverse=True)
    query = query.strip()
    if not query:
        return newest_first
    needle = query.casefold()
    digits = "".join(ch for ch in query if ch.isdigit())
    national = "66" + digits[1:] if digits.startswith("0") else digits

    looks_like_a_number = bool(digits) and re.fullmatch(r"[+\d\s-]+", query) is not None

    def hit(entry: InboxEntry) -> bool:
        if looks_like_a_number and national in entry.msisdn:
            return True
        fields = (entry.text, entry.origin, entry.otp_reference or "", entry.sms_uuid)
        return any(needle in value.casefold() for value in fields)

    return [entry for entry in newest_first if hit(entry)]


def inbox_item(entry: InboxEntry) -> dict[str, Any]:
    """``entry`` as an item of ``/_sim/inbox.json``."""
    return {
        "time": iso_millis(entry.time),
        "msisdn": entry.msisdn,
        "origin": entry.origin,
        "text": entry.text,
        "smsUuid": entry.sms_uuid,
        "txId": entry.tx_id,
        "status": entry.status,
        "otpReference": entry.otp_reference,
    }


def render_inbox(entries: Sequence[InboxEntry], *, credits: int, query: str = "") -> str:
    """The whole page for ``entries`` (in any order: shown newest first).

    ``query`` narrows the list (see :func:`matching`); at most ``PAGE_SIZE``
    rows are shown, the newest.
    """
    found = matching(entries, query)
    shown = found[:PAGE_SIZE]
    rows = "\n".join(_row(entry) for entry in shown)
    if shown:
        more = (
            f'<p class="more">The newest {len(shown)} of {len(found)} are shown.</p>'
            if len(found) > len(shown)
            else ""
        )
        body = (
            f"<table><thead><tr><th>Time (UTC)</th><th>From</th><th>To</th><th>Text</th>"
            f"<th>Status</th></tr></thead><tbody>\n{rows}\n</tbody></table>{more}"
        )
    elif query.strip():
        body = f'<p class="empty">No SMS matches “{escape(query.strip())}”.</p>'
    else:
        body = '<p class="empty">No SMS yet. Send one through the API.</p>'
    search = (
        '<form method="get" role="search"><input type="search" name="q" '
        f'value="{escape(query.strip())}" placeholder="Number, text or reference" '
        'aria-label="Search the inbox"></form>'
    )
    count = f"{len(found)} of {len(entries)} SMS" if query.strip() else f"{len(entries)} SMS"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<title>SEPSMS simulator inbox</title>"
        '<link rel="stylesheet" href="/_sim/inbox.css">'
        '<script src="/_sim/inbox.js" defer></script></head><body>'
        "<header><h1>SEPSMS simulator inbox</h1>"
        f'<span class="count">{count}</span><span>Credits: {credits}</span>{search}'
        "<span>Local testing only: never expose this server publicly.</span></header>"
        f"<main>{body}</main></body></html>\n"
    )


def _row(entry: InboxEntry) -> str:
    reference = (
        f'<div class="ref">OTP ref {escape(entry.otp_reference)}</div>'
        if entry.otp_reference
        else ""
    )
    status = escape(entry.status)
    return (
        f"<tr><td>{entry.time:%Y-%m-%d %H:%M:%S}</td>"
        f"<td>{escape(entry.origin)}</td>"
        f"<td>{escape(entry.msisdn)}</td>"
        f'<td class="text">{escape(entry.text)}{reference}</td>'
        f'<td><span class="status status-{status}">{status}</span>'
        f'<div class="ref">{escape(entry.sms_uuid)}</div></td></tr>'
    )
