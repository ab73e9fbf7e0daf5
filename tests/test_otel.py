"""OpenTelemetry: spans and metrics of sends, read back from the SDK's in-memory exporter and
reader, for requests made to the sandbox on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import smsgate
from smsgate import Message, TransportError, events, otel, send_all
from smsgate.routing import RoutingGateway
from smsgate.sandbox import Sandbox
from smsgate.testing import FakeGateway
from tests.providers.test_base import TOKEN, EchoGateway
from tests.test_routing import UK, refused


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer = TracerProvider()
        tracer.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.uninstrument = otel.instrument(
            tracer_provider=tracer, meter_provider=MeterProvider(metric_readers=[self.reader])
        )
        self.tracer = tracer

    def metric(self, name: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        """The points of metric ``name``, by their attributes (sum, or histogram count)."""
        found: dict[tuple[tuple[str, Any], ...], Any] = {}
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        key = tuple(sorted((point.attributes or {}).items()))
                        if isinstance(point, HistogramDataPoint):
                            found[key] = point.count
                        else:
                            found[key] = point.value  # type: ignore[union-attr]
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    found = Telemetry()
    yield found
    found.uninstrument()
    assert events.hooks == ()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(seed=2, failure_rate=0)
    await box.start()
    yield box
    await box.stop()


async def test_a_bulk_run_is_a_span_whose_requests_are_client_spans_in_it(telemetry, sandbox):
    rows: list[Message | dict[str, str]] = [
        Message(UK, "Hi"),
        Message("+447700900124", "x" * 200),
        {"to": "12", "text": "Hi"},
    ]
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        await send_all(gateway, rows)
    spans = telemetry.spans.get_finished_spans()
    (run,) = [s for s in spans if s.name == "send_many smsworks"]
    requests = [s for s in spans if s.kind is SpanKind.CLIENT]
    sending = [s for s in requests if s.attributes.get("messaging.batch.message_count")]
    assert sending
    for span in sending:
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert span.context.trace_id == run.context.trace_id
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time
    host, port = sandbox.base_url("smsworks").split("//")[1].split("/")[0].split(":")
    batch = sending[0]
    assert batch.name == "POST"
    assert set(batch.attributes) == {
        "http.request.method",
        "url.full",
        "server.address",
        "server.port",
        "smsgate.provider",
        "messaging.batch.message_count",
        "http.response.status_code",
    }
    assert batch.attributes["url.full"].startswith(sandbox.base_url("smsworks") + "/")
    assert (batch.attributes["server.address"], batch.attributes["server.port"]) == (
        host,
        int(port),
    )
    assert batch.attributes["smsgate.provider"] == "smsworks"
    assert sum(s.attributes["messaging.batch.message_count"] for s in sending) == 2
    assert all(s.attributes["http.response.status_code"] in (200, 201) for s in sending)
    assert dict(run.attributes) == {
        "smsgate.provider": "smsworks",
        "smsgate.concurrency": 8,
        "messaging.batch.message_count": 3,
        "smsgate.accepted": 2,
        "smsgate.failed": 1,
        "smsgate.uncertain": 0,
        "smsgate.unsent": 0,
        "smsgate.suppressed": 0,
        "smsgate.stopped": False,
    }
    assert telemetry.metric("smsgate.messages") == {
        (("smsgate.outcome", "accepted"), ("smsgate.provider", "smsworks")): 2,
        (("smsgate.outcome", "failed"), ("smsgate.provider", "smsworks")): 1,
    }
    assert telemetry.metric("smsgate.sms.parts") == {
        (("smsgate.outcome", "accepted"), ("smsgate.provider", "smsworks")): 3,
    }
    durations = telemetry.metric("http.client.request.duration")
    assert sum(durations.values()) == len(requests)


async def test_a_single_send_is_a_client_span_under_the_callers_span(telemetry, sandbox):
    tracer = telemetry.tracer.get_tracer("app")
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        with tracer.start_as_current_span("handler") as handler:
            await gateway.send(Message(UK, "Hi"))
    spans = telemetry.spans.get_finished_spans()
    sent = [s for s in spans if s.attributes.get("messaging.batch.message_count") == 1]
    assert len(sent) == 1
    assert sent[0].parent is not None
    assert sent[0].parent.span_id == handler.get_span_context().span_id
    assert sent[0].attributes["url.full"] == sandbox.base_url("smsworks") + "/message/send"
    assert sent[0].status.status_code is StatusCode.UNSET


async def test_failed_tries_are_error_spans_and_retries_are_span_events(
    telemetry, retrying, closed_port_url
):
    tracer = telemetry.tracer.get_tracer("app")
    with tracer.start_as_current_span("job"):
        async with EchoGateway(token=TOKEN, base_url=closed_port_url, retries=1) as gateway:
            with pytest.raises(TransportError):
                await gateway.request_json("GET", "/status")
    spans = telemetry.spans.get_finished_spans()
    tries = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert [s.attributes["error.type"] for s in tries] == ["TransportError"] * 2
    assert all(s.status.status_code is StatusCode.ERROR for s in tries)
    assert all("http.response.status_code" not in s.attributes for s in tries)
    (job,) = [s for s in spans if s.name == "job"]
    assert [(e.name, e.attributes["smsgate.attempt"]) for e in job.events] == [("smsgate.retry", 1)]
    assert job.events[0].attributes["smsgate.provider"] == "echo"
    duration = telemetry.metric("http.client.request.duration")
    assert [dict(k)["error.type"] for k in duration] == ["TransportError"]


async def test_an_http_error_is_typed_by_its_status(telemetry, sandbox):
    config = {**sandbox.config("smsworks"), "token": "JWT wrong"}
    async with smsgate.from_config(config) as gateway:
        with pytest.raises(smsgate.GatewayError):
            await gateway.send(Message(UK, "Hi"))
    (span,) = [s for s in telemetry.spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert span.attributes["http.response.status_code"] == 401
    assert span.attributes["error.type"] == "401"


async def test_failovers_and_circuits_are_events_on_the_current_span(telemetry):
    primary, backup = FakeGateway(name="primary"), FakeGateway(name="backup")
    router = RoutingGateway(providers=[primary, backup], failures=1, cooldown=30)
    primary.fail(refused("primary"))
    tracer = telemetry.tracer.get_tracer("app")
    with tracer.start_as_current_span("handler"):
        await router.send(Message(UK, "Hi"))
    (handler,) = telemetry.spans.get_finished_spans()
    assert [(e.name, e.attributes["smsgate.provider"]) for e in handler.events] == [
        ("smsgate.circuit", "primary"),
        ("smsgate.failover", "primary"),
    ]
    assert handler.events[0].attributes["smsgate.open"] is True


def test_webhook_items_are_counted(telemetry):
    events.emit(events.WebhookReceived("smsworks", "inbound", 3, 1))
    assert telemetry.metric("smsgate.webhook.items") == {
        (("smsgate.kind", "inbound"), ("smsgate.provider", "smsworks")): 3
    }
