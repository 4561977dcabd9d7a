"""OpenTelemetry spans and metrics, with the optional extra ``django-sepsms[otel]``.

Without ``opentelemetry-api`` every hook returns at once; with it, the spans and
metrics go to OpenTelemetry's global providers (or those given to :func:`use`).
``docs/telemetry.rst`` lists the names and their attributes. No attribute ever
holds a phone number, a code, a reference or a key.
"""

from .core import METRICS, SPANS, enabled, use
from .hooks import on_pumping_suspected, record_pumping_episode

__all__ = ["METRICS", "SPANS", "enabled", "on_pumping_suspected", "record_pumping_episode", "use"]
