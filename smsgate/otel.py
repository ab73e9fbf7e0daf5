"""OpenTelemetry traces and metrics of sends (``pip install "smsgate[otel]"``).

`instrument` installs an event hook (`smsgate.events`) that turns what smsgate does into:

- a span for each provider request (kind ``CLIENT``, named by its method, with the HTTP
  client attributes of OpenTelemetry's semantic conventions: ``http.request.method``,
  ``url.full``, ``server.address``, ``server.port``, ``http.response.status_code``,
  ``error.type``; and ``messaging.batch.message_count``, the messages it carried);
- a span for each bulk run (``send_many PROVIDER``), the parent of its requests' spans,
  ending with its counts (``smsgate.accepted``, ``smsgate.failed``, ...);
- span events on the current span for retries (``smsgate.retry``), failovers
  (``smsgate.failover``) and circuit changes (``smsgate.circuit``);
- counters ``smsgate.messages`` and ``smsgate.sms.parts`` by provider and outcome, the
  histogram ``http.client.request.duration`` (seconds), and the counter
  ``smsgate.webhook.items`` by provider and kind.

Every span and instrument carries ``smsgate.provider``. Spans are made from the events'
own times, once a request has ended, so nothing is added to a request while it is in
flight.

    from smsgate import otel
    uninstrument = otel.instrument()          # the global tracer and meter providers
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from smsgate import events
from smsgate._version import __version__

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError('smsgate.otel needs OpenTelemetry: pip install "smsgate[otel]"') from exc

__all__ = ["instrument"]

_NS = 1_000_000_000


def instrument(*, tracer_provider: Any = None, meter_provider: Any = None) -> Callable[[], None]:
    """Trace and count sends with OpenTelemetry, from now on, in this process; returns a
    callable that stops it.

    Args:
        tracer_provider: where spans go (the global one by default).
        meter_provider: where metrics go (the global one by default).
    """
    hook = _Instrumentation(tracer_provider, meter_provider)
    return events.add_hook(hook)


class _Instrumentation:
    """The event hook: spans and instruments."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        self._tracer = trace.get_tracer("smsgate", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("smsgate", __version__, meter_provider=meter_provider)
        self._messages = meter.create_counter(
            "smsgate.messages", unit="{message}", description="Messages by outcome"
        )
        self._parts = meter.create_counter(
            "smsgate.sms.parts", unit="{part}", description="SMS parts by outcome"
        )
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Provider requests"
        )
        self._webhooks = meter.create_counter(
            "smsgate.webhook.items",
            unit="{item}",
            description="Delivery reports and inbound messages received",
        )
        self._runs: dict[int, trace.Span] = {}
        self._servers: dict[str, tuple[str, int]] = {}

    def __call__(self, event: events.Event) -> None:
        if type(event) is events.Attempt:
            self._attempt(event)
        elif type(event) is events.Outcomes:
            self._outcomes(event)
        elif type(event) is events.RunStarted:
            self._runs[event.run] = self._tracer.start_span(
                f"send_many {event.provider}",
                start_time=int(event.started * _NS),
                attributes={
                    "smsgate.provider": event.provider,
                    "smsgate.concurrency": event.concurrency,
                    **({"smsgate.run": event.journal_run} if event.journal_run else {}),
                },
            )
        elif type(event) is events.RunEnded:
            self._run_ended(event)
        elif type(event) is events.WebhookReceived:
            self._webhooks.add(
                event.items, {"smsgate.provider": event.provider, "smsgate.kind": event.kind}
            )
        else:
            self._noted(event)

    def _server(self, url: str) -> tuple[str, int]:
        base = url.split("/", 3)[:3]
        key = "/".join(base)
        found = self._servers.get(key)
        if found is None:
            parts = urlsplit(key)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = self._servers[key] = (parts.hostname or "", port)
        return found

    def _attempt(self, event: events.Attempt) -> None:
        address, port = self._server(event.url)
        attributes: dict[str, Any] = {
            "http.request.method": event.method,
            "url.full": event.url,
            "server.address": address,
            "server.port": port,
            "smsgate.provider": event.provider,
        }
        if event.messages:
            attributes["messaging.batch.message_count"] = event.messages
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        error_type = None
        if event.error is not None:
            error_type = (
                str(event.status)
                if event.status is not None and event.status >= 400
                else type(event.error).__qualname__
            )
            attributes["error.type"] = error_type
        parent = self._runs.get(event.run) if event.run is not None else None
        context = trace.set_span_in_context(parent) if parent is not None else None
        start = int(event.started * _NS)
        span = self._tracer.start_span(
            event.method,
            context=context,
            kind=SpanKind.CLIENT,
            start_time=start,
            attributes=attributes,
        )
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR, str(event.error)))
        span.end(end_time=start + int(event.duration * _NS))
        measured: dict[str, Any] = {
            "http.request.method": event.method,
            "server.address": address,
            "server.port": port,
            "smsgate.provider": event.provider,
        }
        if event.status is not None:
            measured["http.response.status_code"] = event.status
        if error_type is not None:
            measured["error.type"] = error_type
        self._duration.record(event.duration, measured)

    def _outcomes(self, event: events.Outcomes) -> None:
        for status, count in event.counts().items():
            self._messages.add(
                count, {"smsgate.provider": event.provider, "smsgate.outcome": status.value}
            )
        for status, parts in event.parts().items():
            self._parts.add(
                parts, {"smsgate.provider": event.provider, "smsgate.outcome": status.value}
            )

    def _run_ended(self, event: events.RunEnded) -> None:
        span = self._runs.pop(event.run, None)
        if span is None:  # started before this instrumentation
            return
        summary = event.summary
        span.set_attributes(
            {
                "messaging.batch.message_count": summary.total,
                "smsgate.accepted": summary.accepted,
                "smsgate.failed": summary.failed,
                "smsgate.uncertain": summary.uncertain,
                "smsgate.unsent": summary.unsent,
                "smsgate.suppressed": summary.suppressed,
                "smsgate.stopped": event.stopped,
            }
        )
        span.end()

    def _noted(self, event: events.Event) -> None:
        """Retries, failovers and circuit changes: events on the span under way."""
        span = trace.get_current_span()
        if type(event) is events.Retry:
            span.add_event(
                "smsgate.retry",
                {
                    "smsgate.provider": event.provider or "",
                    "smsgate.attempt": event.attempt,
                    "smsgate.wait": event.wait,
                    "error.type": type(event.error).__qualname__,
                },
            )
        elif type(event) is events.Failover:
            span.add_event(
                "smsgate.failover",
                {"smsgate.provider": event.provider, "error.type": type(event.error).__qualname__},
            )
        elif type(event) is events.CircuitChange:
            span.add_event(
                "smsgate.circuit",
                {"smsgate.provider": event.provider, "smsgate.open": event.open},
            )
