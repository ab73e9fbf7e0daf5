"""The webhook receiver, driven over loopback with aiohttp's test client."""

import asyncio
import gzip
import json
import logging
import tracemalloc

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from smsgate import ConfigurationError, DeliveryStatus
from smsgate.providers.smsworks import parse_delivery_report
from smsgate.webhooks import (
    SECRET_HEADER,
    BodyReader,
    WebhookAnswer,
    WebhookReceiver,
    WebhookRequest,
)
from tests.support.providers import SMSWORKS
from tests.support.webhooks import SECRET, Inbox, payloads, post, receiver_for

REPORT = SMSWORKS.fixture("delivery_report")
INCOMING = SMSWORKS.fixture("incoming")


async def settled(receiver: WebhookReceiver) -> None:
    """Let every callback the receiver started finish."""
    async with asyncio.timeout(5):
        await receiver.aclose()


# --- taking payloads -----------------------------------------------------------------------


async def test_a_delivery_report_reaches_on_report_as_a_status_report(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    assert await post(client, REPORT) == (200, "taken")
    await settled(receiver)

    assert inbox.reports == [parse_delivery_report(REPORT)]
    assert inbox.reports[0].status is DeliveryStatus.DELIVERED
    assert inbox.inbound == []


async def test_an_incoming_sms_reaches_on_inbound(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    assert await post(client, INCOMING) == (200, "taken")
    await settled(receiver)

    [message] = inbox.inbound
    assert (message.message_id, message.sender, message.to, message.text) == (
        "6170167",
        "+447777777777",
        "+447777777778",
        "INCOMING CONTENT",
    )
    assert inbox.reports == []


async def test_the_secret_may_come_in_the_header_instead_of_the_path(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    answer = await post(client, REPORT, path="/sms", headers={SECRET_HEADER: SECRET})
    await settled(receiver)

    assert answer == (200, "taken")
    assert len(inbox.reports) == 1


async def test_a_receiver_mounted_at_the_root_serves_the_secret_path(inbox):
    app = web.Application()
    receiver_for(inbox).add_routes(app)

    served = []
    for route in app.router.routes():
        assert route.resource is not None
        served.append(route.resource.canonical)
    assert sorted(served) == ["/", "/{secret}"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "text/x+json"]
)
async def test_json_content_types_are_taken(serve, inbox, content_type):
    client = await serve(receiver_for(inbox))

    answer = await post(
        client, None, data=json.dumps(REPORT), headers={"Content-Type": content_type}
    )

    assert answer == (200, "taken")


# --- refusing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/sms", {}),
        ("/sms/wrong-secret-wrong-secret", {}),
        ("/sms", {SECRET_HEADER: "wrong-secret-wrong-secret"}),
        ("/sms", {SECRET_HEADER: SECRET[:-1]}),
        (f"/sms/{SECRET}x", {}),
        ("/sms/%C3%A9t%C3%A9", {}),
    ],
)
async def test_a_request_without_the_secret_is_forbidden_and_never_read(
    serve, inbox, path, headers
):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    answer = await post(client, REPORT, path=path, headers=headers)
    await settled(receiver)

    assert answer == (403, "forbidden")
    assert inbox.reports == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_body_that_is_not_declared_json_is_refused_with_415(serve, inbox, content_type):
    client = await serve(receiver_for(inbox))

    status, _ = await post(
        client, None, data=json.dumps(REPORT).encode(), headers={"Content-Type": content_type}
    )

    assert status == 415


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (b"{not json", "the body is not JSON"),
        (b"", "the body is not JSON"),
        (b'{"messageid": "\xff"}', "the body is not JSON"),  # not UTF-8
        (b"[" * 50_000, "the body is not JSON"),  # deeper than the parser recurses
        (b'{"messageid": ' + b"9" * 5000 + b"}", "the body is not JSON"),  # too many digits
        (b"[]", "delivery report: must be a JSON object, not an array"),
        (b'{"status": "DELIVERED"}', "messageid: is missing from the delivery report"),
        (
            b'{"messagetype": "incoming", "messageid": "1", "from": "447777777777"}',
            "to: is missing from the incoming message",
        ),
    ],
)
async def test_bad_json_and_bad_payloads_are_refused_with_400(serve, inbox, body, answer):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    result = await post(client, None, data=body, headers={"Content-Type": "application/json"})
    await settled(receiver)

    assert result == (400, answer)
    assert inbox.reports == inbox.inbound == []


async def test_a_body_larger_than_max_body_is_refused_with_413(serve, inbox):
    client = await serve(receiver_for(inbox, max_body=1000))
    padded = {**REPORT, "content": "x" * 1000}

    assert await post(client, padded) == (413, "larger than 1000 bytes")


async def test_a_chunked_body_is_cut_off_at_max_body(serve, inbox):
    client = await serve(receiver_for(inbox, max_body=1000))

    async def endless_but_bounded():
        yield b'{"messageid": "1", "content": "'
        for _ in range(100):
            yield b"x" * 100

    status, _ = await post(
        client, None, data=endless_but_bounded(), headers={"Content-Type": "application/json"}
    )

    assert status == 413


async def test_a_body_just_within_max_body_is_taken(serve, inbox):
    body = json.dumps(REPORT).encode()
    client = await serve(receiver_for(inbox, max_body=len(body)))

    assert await post(client, None, data=body, headers={"Content-Type": "application/json"}) == (
        200,
        "taken",
    )


async def test_a_kind_with_no_callback_is_refused(serve, inbox):
    receiver = WebhookReceiver("smsworks", secret=SECRET, on_report=inbox.on_report)
    client = await serve(receiver)

    assert await post(client, INCOMING) == (400, "this endpoint does not take incoming messages")


async def test_only_post_is_served(serve, inbox):
    client = await serve(receiver_for(inbox))

    async with client.get(f"/sms/{SECRET}") as response:
        assert response.status == 405


# --- repeats -------------------------------------------------------------------------------


async def test_a_repeated_report_reaches_the_callback_once(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    answers = [await post(client, REPORT) for _ in range(3)]
    await settled(receiver)

    assert answers == [(200, "taken"), (200, "repeat"), (200, "repeat")]
    assert len(inbox.reports) == 1


async def test_repeats_posted_at_once_reach_the_callback_once(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    answers = await asyncio.gather(*(post(client, REPORT) for _ in range(10)))
    await settled(receiver)

    assert sorted(answers) == [(200, "repeat")] * 9 + [(200, "taken")]
    assert len(inbox.reports) == 1


async def test_each_new_status_of_a_message_is_passed_on(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    for word in ("SENT", "DELIVERED", "SENT"):
        await post(client, {**REPORT, "status": word})
    await settled(receiver)

    assert [r.provider_status for r in inbox.reports] == ["SENT", "DELIVERED"]


async def test_a_repeated_incoming_message_reaches_the_callback_once(serve, inbox):
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    await post(client, INCOMING)
    await post(client, {**INCOMING, "content": "INCOMING CONTENT"})
    await post(client, {**INCOMING, "messageid": "6170168"})
    await settled(receiver)

    assert [m.message_id for m in inbox.inbound] == ["6170167", "6170168"]


async def test_only_the_most_recent_payloads_are_remembered(serve, inbox):
    receiver = receiver_for(inbox, remember=2)
    client = await serve(receiver)

    for message_id in ("1", "2", "3", "1"):
        await post(client, {**REPORT, "messageid": message_id})
    await settled(receiver)

    assert [r.message_id for r in inbox.reports] == ["1", "2", "3", "1"]


# --- slow and failing callbacks ------------------------------------------------------------


async def test_the_answer_does_not_wait_for_a_slow_callback(serve, inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    async with asyncio.timeout(5):
        answer = await post(client, REPORT)

    assert answer == (200, "taken")
    assert inbox.reports == []  # still running
    inbox.hold.set()
    await settled(receiver)
    assert len(inbox.reports) == 1


async def test_a_failing_callback_is_logged_and_its_repeat_passed_on_again(serve, inbox, caplog):
    inbox.failures = 1
    receiver = receiver_for(inbox)
    client = await serve(receiver)

    with caplog.at_level(logging.ERROR, logger="smsgate.webhooks"):
        first = await post(client, REPORT)
        await settled(receiver)
    second = await post(client, REPORT)
    await settled(receiver)

    assert (first, second) == ((200, "taken"), (200, "taken"))
    assert len(inbox.reports) == 1
    [record] = caplog.records
    assert record.getMessage() == (
        "<WebhookReceiver smsworks pending=0>: callback failed for message 128032521395903584"
    )
    assert "the database is down" in caplog.text


async def test_beyond_max_pending_callbacks_the_provider_is_asked_to_come_back(serve, inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox, max_pending=1)
    client = await serve(receiver)
    later = {**REPORT, "messageid": "2"}

    assert await post(client, REPORT) == (200, "taken")
    async with client.post(f"/sms/{SECRET}", json=later) as busy:
        assert (busy.status, busy.headers["Retry-After"]) == (503, "30")
    inbox.hold.set()
    await settled(receiver)
    assert await post(client, later) == (200, "taken")  # not mistaken for a repeat
    await settled(receiver)

    assert [r.message_id for r in inbox.reports] == ["128032521395903584", "2"]


async def test_closing_waits_for_callbacks_then_cancels_the_stragglers(serve, inbox, caplog):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox)
    client = await serve(receiver)
    await post(client, REPORT)

    with caplog.at_level(logging.WARNING, logger="smsgate.webhooks"):
        async with asyncio.timeout(5):
            await receiver.aclose(grace=0.05)

    assert "callback cancelled for message 128032521395903584" in caplog.text
    inbox.hold.set()
    assert await post(client, REPORT) == (200, "taken")  # cancelled, so not a repeat
    await settled(receiver)
    assert len(inbox.reports) == 1


async def test_the_application_waits_for_callbacks_when_it_shuts_down(inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox)
    app = web.Application()
    receiver.add_routes(app, "/sms")
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    await post(client, REPORT)

    asyncio.get_running_loop().call_later(0.05, inbox.hold.set)
    async with asyncio.timeout(5):
        await client.close()

    assert len(inbox.reports) == 1


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"secret": "short"}, "secret: use 16 or more"),
        ({"secret": "has/a/slash/in/it/which/breaks"}, "secret: use 16 or more"),
        ({"secret": None}, "secret: use 16 or more"),
        ({"on_report": None}, "give on_report, on_inbound or suppression: at least one"),
        ({"max_body": 0}, "max_body: must be a whole number"),
        ({"max_pending": True}, "max_pending: must be a whole number"),
    ],
)
def test_bad_settings_are_refused(inbox, options, problem):
    settings = {"secret": SECRET, "on_report": inbox.on_report, **options}

    with pytest.raises(ConfigurationError, match=problem):
        WebhookReceiver("smsworks", **settings)


def test_a_provider_that_posts_nothing_has_no_receiver(inbox):
    with pytest.raises(ConfigurationError, match="smsscheduler posts no delivery reports"):
        WebhookReceiver("smsscheduler", secret=SECRET, on_report=inbox.on_report)


def test_an_unknown_provider_has_no_receiver(inbox):
    with pytest.raises(ConfigurationError, match="provider: unknown"):
        WebhookReceiver("nope", secret=SECRET, on_report=inbox.on_report)


def test_the_secret_is_not_in_the_receivers_repr(inbox):
    assert SECRET not in repr(receiver_for(inbox))


# --- hostile input -------------------------------------------------------------------------


async def _post_once(body: bytes, content_type: str, path: str) -> int:
    inbox = Inbox()
    app = web.Application()
    receiver_for(inbox, max_body=2000).add_routes(app, "/sms")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        headers = {"Content-Type": content_type, SECRET_HEADER: SECRET}
        async with client.post(path, data=body, headers=headers) as response:
            return response.status


@settings(max_examples=60, deadline=None)
@given(
    payloads,
    st.sampled_from(["application/json", "text/plain", "application/problem+json"]),
    st.sampled_from(["/sms", f"/sms/{SECRET}", "/sms/%00", "/sms/%ff%fe"]),
)
def test_no_request_gets_a_server_error(body, content_type, path):
    status = asyncio.run(_post_once(body, content_type, path))

    assert status in {200, 400, 403, 413, 415}


# --- the core, without a server ------------------------------------------------------------


def request_for(body: bytes | BodyReader, **headers: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        path=f"/{SECRET}",
        headers={"Content-Type": "application/json", **headers},
        body=body,
    )


async def test_respond_answers_a_plain_request_with_a_plain_answer(inbox):
    receiver = receiver_for(inbox)
    request = WebhookRequest(
        method="POST",
        path="/",
        headers={"CONTENT-type": "application/json", SECRET_HEADER.lower(): SECRET},
        body=json.dumps(REPORT).encode(),
    )

    answer = await receiver.respond(request)
    await settled(receiver)

    assert answer == WebhookAnswer(200, b"taken", (("Content-Type", "text/plain; charset=utf-8"),))
    assert inbox.reports == [parse_delivery_report(REPORT)]


async def test_respond_reads_a_body_no_further_than_max_body(inbox):
    reads = 0

    async def endless() -> bytes:
        nonlocal reads
        reads += 1
        return b"[" if reads == 1 else b" " * 100

    answer = await receiver_for(inbox, max_body=1000).respond(request_for(endless))

    assert (answer.status, answer.text) == (413, "larger than 1000 bytes")
    assert reads == 11  # 1 + 1,000 bytes, then the piece that passes the limit


async def test_respond_waits_no_longer_than_read_timeout_for_a_body(inbox):
    async def stalled() -> bytes:
        await asyncio.Event().wait()
        return b""

    async with asyncio.timeout(5):
        answer = await receiver_for(inbox, read_timeout=0.1).respond(request_for(stalled))

    assert (answer.status, answer.text) == (408, "the body took longer than 0.1 s")


async def test_a_gzip_bomb_is_cut_off_where_it_passes_max_body(inbox):
    bomb = gzip.compress(b" " * 50_000_000)  # some 50 kB that decode to 50 MB
    receiver = receiver_for(inbox)
    assert len(bomb) < receiver.max_body

    tracemalloc.start()
    try:
        answer = await receiver.respond(request_for(bomb, **{"Content-Encoding": "gzip"}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (answer.status, answer.text) == (413, "larger than 65536 bytes")
    assert peak < 2_000_000


async def test_each_request_taken_or_repeated_is_announced_once(inbox, monkeypatch):
    receiver = receiver_for(inbox)
    announced = []

    def announce(kind, items, *, repeated):
        announced.append((kind, [item.message_id for item in items], repeated))

    monkeypatch.setattr(receiver, "_received", announce)
    body = json.dumps(REPORT).encode()

    for request in (request_for(body), request_for(body), request_for(b"{}")):
        await receiver.respond(request)
    await receiver.respond(request_for(json.dumps(INCOMING).encode()))
    await settled(receiver)

    report_id = REPORT["messageid"]
    assert announced == [
        ("status", [report_id], 0),
        ("status", [report_id], 1),
        ("inbound", ["6170167"], 0),
    ]
