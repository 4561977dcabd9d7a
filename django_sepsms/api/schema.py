"""OpenAPI descriptions through drf-spectacular, only when the project uses it.

The views are described when drf-spectacular is installed *and* is the
project's ``DEFAULT_SCHEMA_CLASS`` (as its installation asks); otherwise the
decorator changes nothing, so DRF's own schema generation keeps working.

The request bodies are described from the serializers themselves (lengths,
patterns, the enum of purposes), so the schema says what the views enforce.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rest_framework import serializers

_F = TypeVar("_F", bound=Callable[..., Any])
_Field = TypeVar("_Field", bound=type[serializers.Field])

#: Statuses whose answer carries a ``Retry-After`` header (seconds).
RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True)
class OneOf:
    """An answer that is exactly one of several bodies (``oneOf`` in the schema)."""

    component_name: str
    bodies: tuple[type[serializers.Serializer], ...]

    def __init__(self, component_name: str, *bodies: type[serializers.Serializer]) -> None:
        object.__setattr__(self, "component_name", component_name)
        object.__setattr__(self, "bodies", bodies)


def openapi(
    *,
    responses: Mapping[int, Any] | None = None,
    request_examples: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Callable[[_F], _F]:
    """``drf_spectacular.utils.extend_schema(**kwargs)`` when drf-spectacular is in use, else a
    no-op.

    A response given as :class:`OneOf` becomes a ``oneOf`` of its bodies; the
    answers of :data:`RETRY_AFTER_STATUSES` are described with their
    ``Retry-After`` header; ``request_examples`` (name → body) become request
    examples.
    """
    try:
        from drf_spectacular.openapi import AutoSchema
        from drf_spectacular.utils import (
            OpenApiExample,
            OpenApiParameter,
            PolymorphicProxySerializer,
            extend_schema,
        )
    except ImportError:
        return _unchanged
    from rest_framework.settings import api_settings

    schema_class = api_settings.DEFAULT_SCHEMA_CLASS
    if not (isinstance(schema_class, type) and issubclass(schema_class, AutoSchema)):
        return _unchanged
    described: dict[int, Any] = {}
    for status_code, body in (responses or {}).items():
        if isinstance(body, OneOf):
            body = PolymorphicProxySerializer(
                component_name=body.component_name,
                serializers=list(body.bodies),
                resource_type_field_name=None,
            )
        described[status_code] = body
    waits = [code for code in RETRY_AFTER_STATUSES if code in described]
    parameters = list(kwargs.pop("parameters", []))
    if waits:
        parameters.append(
            OpenApiParameter(
                name="Retry-After",
                type=int,
                location=OpenApiParameter.HEADER,
                response=waits,
                required=True,
                description="Seconds to wait before trying again.",
            )
        )
    examples = [
        OpenApiExample(name, value=body, request_only=True)
        for name, body in (request_examples or {}).items()
    ]
    decorator: Callable[[_F], _F] = extend_schema(
        responses=described, parameters=parameters, examples=examples, **kwargs
    )
    return decorator


def field_schema(schema: Mapping[str, Any]) -> Callable[[_Field], _Field]:
    """Describe a serializer field class by ``schema`` (``extend_schema_field``), when
    drf-spectacular is installed; a no-op otherwise."""
    try:
        from drf_spectacular.utils import extend_schema_field
    except ImportError:
        return _unchanged
    decorator: Callable[[_Field], _Field] = extend_schema_field(dict(schema))
    return decorator


def constant_field(
    base: type[serializers.Field], values: Iterable[Any], schema_type: str
) -> serializers.Field:
    """A field of ``base`` described as the enum ``values`` (a response body's ``code``)."""
    field_class = type(f"Enum{base.__name__}", (base,), {"__module__": __name__})
    annotated = field_schema({"type": schema_type, "enum": list(values)})(field_class)
    return annotated()


def _unchanged(func: _F) -> _F:
    return func
