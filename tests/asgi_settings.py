"""Settings of the ASGI server that tests/test_asgi.py starts (uvicorn): the test
database as it is (``DATABASE_URL`` names it), the console backend, whose output the
test reads for the codes, the answer floor of the phone flows, and ``tests.asgi`` for
the URLs."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

DATABASES["default"]["TEST"] = {}  # noqa: F405  (the server uses the test database as is)
ROOT_URLCONF = "tests.asgi"
SEPSMS = {
    **SEPSMS,  # noqa: F405
    "BACKEND": "django_sepsms.backends.console.ConsoleBackend",
    "OTP_MODE": "local",
    # The phone flows' answer floor, on (the tests' own settings turn it off).
    "OTP_MIN_ANSWER_TIME": 0.3,
}
# The test's own keys: its fixtures empty them between tests.
CACHES["default"]["KEY_PREFIX"] = os.environ.get(  # noqa: F405
    "SEPSMS_TEST_CACHE_PREFIX",
    CACHES["default"]["KEY_PREFIX"],  # noqa: F405
)
