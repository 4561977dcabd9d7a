"""Sphinx configuration for the django-sepsms documentation."""

from __future__ import annotations

import os
import sys
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
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

html_theme = "furo"
html_title = f"django-sepsms {release}"
html_static_path: list[str] = []
