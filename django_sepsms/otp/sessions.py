"""The phone flows' place in the session, and a guard against unreadable session keys."""

from __future__ import annotations

from django.http import HttpRequest

#: The session key under which a flow keeps its step-2 state (number, purpose, reference).
SESSION_KEY = "sepsms_flow"


def readable_session(request: HttpRequest) -> None:
    """Give ``request`` a new, empty session if its cookie names one no database can look up.

    The key is whatever the client sends: ``sessionid="abcdefgh\\000..."`` (an
    octal escape in a quoted cookie, printable on the wire) unquotes to a key
    holding a NUL, which PostgreSQL refuses with an error: a 500 wherever the
    session is read. Call it before anything reads the session or the user.
    """
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if session is not None and isinstance(key, str) and "\x00" in key:
        request.session = type(session)()
