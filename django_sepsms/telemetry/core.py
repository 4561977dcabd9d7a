"""The bridge to OpenTelemetry: a tracer, a meter and the instruments, loaded on first use.

``opentelemetry-api`` is imported the first time a span or a measurement is
made, never when the package is imported. Without it every function here
returns at once. With the API alone (no SDK configured), OpenTelemetry's own
no-op providers take the calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NamedTuple

#: The name of the tracer and the meter (the instrumentation scope).
SCOPE = "django_sepsms"

#: Attribute values: OpenTelemetry takes str, bool, int and float.
Attributes = Mapping[str, str | bool | int | float]


class Metric(NamedTuple):
    """One instrument: its kind (``counter`` or ``histogram``), unit and description."""

    kind: str
    unit: str
    description: str


#: Every metric the app records, by name (``docs/telemetry.rst`` lists them).
METRICS: dict[str, Metric] = {
    "sepsms.provider.requests": Metric(
        "counter", "{request}", "Calls to the provider's API, by endpoint and outcome."
    ),
    "sepsms.provider.duration": Metric(
        "histogram", "s", "How long a call to the provider took, retries and waits included."
    ),
    "sepsms.provider.errors": Metric(
        "counter", "{error}", "Error answers of the provider, by error code and HTTP status."
    ),
    "sepsms.provider.throttle.waits": Metric(
        "histogram", "s", "Waits for a slot of the provider's rate limits, by limit."
    ),
    "sepsms.messages": Metric("counter", "{message}", "Messages reaching a status, by status."),
    "sepsms.recipients": Metric(
        "counter", "{recipient}", "Recipients reaching a status, by status."
    ),
    "sepsms.webhooks": Metric(
        "counter", "{delivery}", "Webhook deliveries, by event and outcome."
    ),
    "sepsms.otp.requested": Metric(
        "counter", "{code}", "Code requests, by purpose, mode and outcome."
    ),
    "sepsms.otp.verified": Metric("counter", "{code}", "Codes verified, by purpose."),
    "sepsms.otp.failed": Metric("counter", "{attempt}", "Failed code checks, by reason."),
    "sepsms.otp.locked": Metric(
        "counter", "{lock}", "Lockouts: a code out of attempts, or a client over a limit."
    ),
    "sepsms.pumping.episodes": Metric(
        "counter", "{episode}", "Times the SMS-pumping guard tightened sending, by scope."
    ),
}

#: Every span the app makes, by name.
SPANS: dict[str, str] = {
    "sepsms.provider.request": "One call to the provider's API, retries included.",
    "sepsms.webhook": "One webhook delivery, from its first byte read to the answer.",
}


class _State:
    """What was loaded: OpenTelemetry's modules, the providers in use, the instruments."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loaded = False
        self.trace: Any = None  # the opentelemetry.trace module, or None without the API
        self.metrics: Any = None
        self.tracer_provider: Any = None  # None: OpenTelemetry's global provider
        self.meter_provider: Any = None
        self.tracer: Any = None
        self.instruments: dict[str, Any] = {}

    def load(self) -> bool:
        with self.lock:
            if not self.loaded:
                try:
                    from opentelemetry import metrics, trace  # the optional extra
                except ImportError:
                    pass
                else:
                    self.trace, self.metrics = trace, metrics
                self.loaded = True
        return self.trace is not None


_state = _State()


def enabled() -> bool:
    """Whether OpenTelemetry's API is installed (spans and metrics are then handed to it)."""
    return _state.trace is not None if _state.loaded else _state.load()


def use(*, tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Send the app's spans and metrics to these providers instead of the global ones.

    ``None`` goes back to OpenTelemetry's global providers. Meant for tests and
    for sites that keep providers of their own.
    """
    with _state.lock:
        _state.tracer_provider, _state.meter_provider = tracer_provider, meter_provider
        _state.tracer = None
        _state.instruments = {}


def _tracer() -> Any:
    tracer = _state.tracer
    if tracer is None:
        provider = _state.tracer_provider or _state.trace.get_tracer_provider()
        from .. import __version__

        tracer = _state.tracer = provider.get_tracer(SCOPE, __version__)
    return tracer


def _instrument(name: str) -> Any:
    instrument = _state.instruments.get(name)
    if instrument is None:
        from .. import __version__

        provider = _state.meter_provider or _state.metrics.get_meter_provider()
        meter = provider.get_meter(SCOPE, __version__)
        metric = METRICS[name]
        make = meter.create_counter if metric.kind == "counter" else meter.create_histogram
        instrument = make(name, unit=metric.unit, description=metric.description)
        with _state.lock:
            instrument = _state.instruments.setdefault(name, instrument)
    return instrument


def add(name: str, amount: int = 1, attributes: Attributes | None = None) -> None:
    """Add ``amount`` to the counter ``name`` (a name of :data:`METRICS`)."""
    if amount and enabled():
        _instrument(name).add(amount, attributes=attributes)


def record(name: str, value: float, attributes: Attributes | None = None) -> None:
    """Record ``value`` in the histogram ``name`` (a name of :data:`METRICS`)."""
    if enabled():
        _instrument(name).record(value, attributes=attributes)


@contextmanager
def span(name: str, attributes: Attributes, *, client: bool = False) -> Iterator[Any]:
    """The span ``name`` (of :data:`SPANS`) around the block; yields it (``None`` when off).

    An exception marks the span as failed with its class name only: its message
    may quote a number or a provider's text, so it is never recorded.
    """
    if not enabled():
        yield None
        return
    trace = _state.trace
    kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
    with _tracer().start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            current.set_attribute("error.type", type(exc).__name__)
            current.set_status(trace.Status(trace.StatusCode.ERROR))
            raise
