"""OpenAPI descriptions through drf-spectacular, only when the project uses it.

The views are described when drf-spectacular is installed *and* is the
project's ``DEFAULT_SCHEMA_CLASS`` (as its installation asks); otherwise the
decorator changes nothing, so DRF's own schema generation keeps working.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])


def openapi(**kwargs: Any) -> Callable[[_F], _F]:
    """``drf_spectacular.utils.extend_schema(**kwargs)`` when drf-spectacular is in use, else a
    no-op."""
    try:
        from drf_spectacular.openapi import AutoSchema
        from drf_spectacular.utils import extend_schema
    except ImportError:
        return _unchanged
    from rest_framework.settings import api_settings

    schema_class = api_settings.DEFAULT_SCHEMA_CLASS
    if not (isinstance(schema_class, type) and issubclass(schema_class, AutoSchema)):
        return _unchanged
    decorator: Callable[[_F], _F] = extend_schema(**kwargs)
    return decorator


def _unchanged(func: _F) -> _F:
    return func
