"""How the webhook receiver runs callbacks and reads bodies: deadlines kept by one timer for
all, callbacks that end oddly, and bodies that arrive in pieces."""

import asyncio
import json
import logging

from aiohttp import web

from smsgate.webhooks import WebhookReceiver, _Recent
from tests.support.providers import SMSWORKS
from tests.support.webhooks import SECRET, Inbox, post, receiver_for

REPORT = SMSWORKS.fixture("delivery_report")


def hung_receiver(told: list[str], **options) -> WebhookReceiver:
    """A receiver whose callback never ends; ``told`` collects what on_failure hears."""

    async def never(report):
        await asyncio.Event().wait()

    async def failed(item, error):
        told.append(f"{item.message_id}: {type(error).__name__}")

    return WebhookReceiver("smsworks", secret=SECRET, on_report=never, on_failure=failed, **options)


# --- deadlines ------------------------------------------------------------------------------


async def test_callbacks_started_apart_are_each_stopped_at_their_own_deadline(serve):
    told: list[str] = []
    receiver = hung_receiver(told, callback_timeout=0.6)
    client = await serve(receiver)

    await post(client, {**REPORT, "messageid": "first"})
    await asyncio.sleep(0.4)
    await post(client, {**REPORT, "messageid": "second"})
    await asyncio.sleep(0.4)  # the first is past its deadline, the second is not
    assert told == ["first: TimeoutError"]
    await asyncio.sleep(0.6)
    assert told == ["first: TimeoutError", "second: TimeoutError"]
    await receiver.aclose(grace=0)


async def test_a_shorter_callback_timeout_set_later_is_kept_too(serve):
    told: list[str] = []
    receiver = hung_receiver(told, callback_timeout=5)
    client = await serve(receiver)

    await post(client, {**REPORT, "messageid": "patient"})
    receiver.callback_timeout = 0.1
    await post(client, {**REPORT, "messageid": "hasty"})
    await asyncio.sleep(0.4)
    assert told == ["hasty: TimeoutError"]
    await receiver.aclose(grace=0)
    assert told == ["hasty: TimeoutError", "patient: CancelledError"]


# --- callbacks that end oddly ---------------------------------------------------------------


async def test_a_callback_that_cancels_itself_has_not_taken_the_report(serve, caplog):
    told: list[str] = []
    calls = 0

    async def quitter(report):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise asyncio.CancelledError

    async def failed(item, error):
        told.append(type(error).__name__)

    receiver = WebhookReceiver("smsworks", secret=SECRET, on_report=quitter, on_failure=failed)
    client = await serve(receiver)
    with caplog.at_level(logging.ERROR, logger="smsgate.webhooks"):
        assert (await post(client, REPORT))[0] == 200
        await asyncio.sleep(0.1)
    assert told == ["CancelledError"]
    assert "callback cancelled for message" in caplog.text
    assert (await post(client, REPORT))[0] == 200  # not a repeat: it was not taken
    await receiver.aclose()
    assert calls == 2


async def test_what_a_stopped_callback_does_afterwards_is_no_news(serve, caplog):
    told: list[str] = []
    ends = iter(["fails", "returns"])

    async def obstinate(report):
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
            if next(ends) == "fails":
                raise RuntimeError("too late") from None

    async def failed(item, error):
        told.append(type(error).__name__)

    receiver = WebhookReceiver(
        "smsworks",
        secret=SECRET,
        on_report=obstinate,
        on_failure=failed,
        callback_timeout=0.1,
    )
    client = await serve(receiver)
    await post(client, {**REPORT, "messageid": "1"})
    await post(client, {**REPORT, "messageid": "2"})
    await asyncio.sleep(0.4)
    await receiver.aclose()
    assert told == ["TimeoutError", "TimeoutError"]
    assert "too late" not in caplog.text
    assert "never retrieved" not in caplog.text
    assert receiver._children == set()


async def test_answering_after_the_callback_at_shutdown_says_come_back(serve, inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox, answer_after_callback=True)
    client = await serve(receiver)
    answer = asyncio.create_task(post(client, REPORT))
    await asyncio.sleep(0.1)
    await receiver.aclose(grace=0.05)
    assert (await answer)[0] == 503
    assert inbox.reports == []


# --- bodies in pieces -----------------------------------------------------------------------


async def served_port(receiver: WebhookReceiver) -> tuple[web.AppRunner, int]:
    app = web.Application()
    receiver.add_routes(app, "/sms")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert isinstance(site._server, asyncio.Server)
    return runner, site._server.sockets[0].getsockname()[1]


async def send_in_pieces(port: int, head: bytes, *pieces: bytes) -> bytes:
    """The status line of the answer to ``head`` and then ``pieces``, a moment apart."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    for piece in pieces:
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(piece)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return answer.rstrip()


def head(*headers: str) -> bytes:
    lines = [
        f"POST /sms/{SECRET} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Connection: close",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def test_a_body_that_arrives_in_pieces_is_taken_whole():
    inbox = Inbox()
    runner, port = await served_port(receiver_for(inbox))
    body = json.dumps(REPORT).encode()
    try:
        assert await send_in_pieces(
            port, head(f"Content-Length: {len(body)}") + body[:10], body[10:30], body[30:]
        ) == (b"HTTP/1.1 200 OK")
        assert await send_in_pieces(
            port,
            head("Transfer-Encoding: chunked"),
            chunk(body[:20]),
            chunk(body[20:]) + chunk(b""),
        ) == (b"HTTP/1.1 200 OK")
        await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
    assert [r.message_id for r in inbox.reports] == [REPORT["messageid"]]  # then a repeat


async def test_a_body_that_grows_past_max_body_in_pieces_is_a_413():
    inbox = Inbox()
    runner, port = await served_port(receiver_for(inbox, max_body=100))
    try:
        answer = await send_in_pieces(
            port,
            head("Transfer-Encoding: chunked"),
            chunk(b"[" + b" " * 60),
            chunk(b" " * 60),
        )
    finally:
        await runner.cleanup()
    assert answer.startswith(b"HTTP/1.1 413")
    assert inbox.reports == []


# --- the repeat window ----------------------------------------------------------------------


def test_a_key_remembered_again_is_kept_once_and_counted_once():
    recent = _Recent(size=10, max_bytes=10_000)
    first = recent.add(("report", "1", "SENT"))
    again = recent.add(("report", "1", "SENT"))
    assert again != first
    assert len(recent._keys) == 1
    assert recent._bytes == len("report1SENT") + 64
    recent.discard(("report", "1", "SENT"), first)  # an older mark: kept
    assert ("report", "1", "SENT") in recent
    recent.discard(("report", "1", "SENT"), again)
    assert recent._bytes == 0
