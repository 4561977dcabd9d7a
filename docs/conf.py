"""Sphinx configuration for the django-sepsms documentation."""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the app's modules, which need configured Django settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import django_sepsms  # noqa: E402

project = "django-sepsms"
author = "django-sepsms contributors"
copyright = "django-sepsms contributors"
version = django_sepsms.__version__
release = django_sepsms.__version__
language = "en"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]


def _reachable(url: str) -> bool:
    """Whether an inventory can be fetched: offline builds (CI sandboxes) leave it out
    instead of warning, and their references to it stay plain text."""
    if os.environ.get("SEPSMS_DOCS_OFFLINE"):
        return False
    try:
        request = urllib.request.Request(url, method="HEAD")  # noqa: S310 (our https URLs)
        with urllib.request.urlopen(request, timeout=3):  # noqa: S310
            return True
    except (OSError, ValueError):
        return False


_INVENTORIES = {
    "python": ("https://docs.python.org/3/", "https://docs.python.org/3/objects.inv"),
    "django": (
        "https://docs.djangoproject.com/en/5.2/",
        "https://docs.djangoproject.com/en/5.2/_objects/",
    ),
}
intersphinx_mapping = {
    name: (target, inventory)
    for name, (target, inventory) in _INVENTORIES.items()
    if _reachable(inventory)
}
intersphinx_timeout = 10
# Django REST framework's docs are not Sphinx (no inventory): :drf:`api-guide/throttling/`.
extlinks = {"drf": ("https://www.django-rest-framework.org/%s", "DRF: %s")}

exclude_patterns = ["_build"]
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"django-sepsms {release}"
html_static_path: list[str] = []
