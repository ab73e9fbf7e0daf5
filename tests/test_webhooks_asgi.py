"""The webhook receiver as an ASGI application: served by uvicorn on 127.0.0.1 alone, under
Starlette's and FastAPI's ``Mount``, and called directly with the messages a server passes.
The hostile-input suite (tests/test_webhooks_hostile.py) runs against it too."""

import asyncio
import gzip
import json
import logging
import os
import re
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from yarl import URL

from smsgate.model import InboundMessage, StatusReport
from smsgate.providers.smsworks import parse_delivery_report, parse_webhook
from smsgate.webhooks import SECRET_HEADER, AsgiApp, SecretFilter, WebhookReceiver
from tests.support.asgi import (
    Exchange,
    RawClient,
    Uvicorn,
    Watched,
    body_messages,
    http_scope,
    mounted,
)
from tests.support.providers import SMSWORKS
from tests.support.webhooks import SECRET, Inbox, payloads, post, receiver_for

REPORT = SMSWORKS.fixture("delivery_report")
INCOMING = SMSWORKS.fixture("incoming")
DOCS = Path(__file__).parent.parent / "docs" / "webhooks.md"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def serving():
    """Serve ASGI applications with uvicorn on 127.0.0.1; a client session for each, with
    the server's URL as its base. All are stopped after the test."""
    async with AsyncExitStack() as stack:

        async def start(app, **options) -> aiohttp.ClientSession:
            server = await stack.enter_async_context(Uvicorn(app, **options))
            return await stack.enter_async_context(aiohttp.ClientSession(base_url=server.url))

        yield start


async def settled(receiver: WebhookReceiver) -> None:
    async with asyncio.timeout(5):
        await receiver.aclose()


# --- served alone by uvicorn ---------------------------------------------------------------


async def test_a_delivery_report_posted_to_the_secret_path_reaches_on_report(serving, inbox):
    receiver = receiver_for(inbox)
    client = await serving(receiver.asgi())

    async with client.post(f"/{SECRET}", json=REPORT) as answer:
        assert (answer.status, await answer.text()) == (200, "taken")
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    await settled(receiver)

    assert inbox.reports == [parse_delivery_report(REPORT)]
    assert inbox.inbound == []


async def test_an_incoming_sms_with_the_secret_in_the_header_reaches_on_inbound(serving, inbox):
    receiver = receiver_for(inbox)
    client = await serving(receiver.asgi())

    answer = await post(client, INCOMING, path="/", headers={SECRET_HEADER: SECRET})
    await settled(receiver)

    assert answer == (200, "taken")
    assert [m.message_id for m in inbox.inbound] == ["6170167"]


async def test_a_repeat_is_answered_200_and_not_passed_on(serving, inbox):
    receiver = receiver_for(inbox)
    client = await serving(receiver.asgi())

    answers = [await post(client, REPORT, path=f"/{SECRET}") for _ in range(3)]
    await settled(receiver)

    assert answers == [(200, "taken"), (200, "repeat"), (200, "repeat")]
    assert len(inbox.reports) == 1


async def test_behind_a_proxy_that_strips_the_prefix_the_root_path_is_kept(serving, inbox):
    receiver = receiver_for(inbox)
    client = await serving(receiver.asgi(), root_path="/sms")  # uvicorn --root-path /sms

    assert await post(client, REPORT, path=f"/{SECRET}") == (200, "taken")
    await settled(receiver)
    assert len(inbox.reports) == 1


# --- the same answers as aiohttp's ---------------------------------------------------------

ADAPTERS = ["aiohttp", "asgi"]


@pytest.fixture(params=ADAPTERS)
def adapter(request):
    return request.param


@pytest.fixture
async def serve(adapter, serve, serving):
    """A receiver under ``/sms``: aiohttp's application, or the ASGI one under uvicorn."""
    if adapter == "aiohttp":
        return serve

    async def start(receiver):
        return await serving(mounted("/sms", receiver.asgi()))

    return start


TEXT = "text/plain; charset=utf-8"
BIG = json.dumps({**REPORT, "content": "x" * 1000}).encode()


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "answer"),
    [
        ("GET", f"/sms/{SECRET}", {}, b"", (405, "405: Method Not Allowed", {"Allow": "POST"})),
        ("PUT", "/sms", JSON, b"{}", (405, "405: Method Not Allowed", {"Allow": "POST"})),
        ("HEAD", f"/sms/{SECRET}", {}, b"", (405, "", {"Allow": "POST"})),
        ("POST", f"/sms/{SECRET}/", JSON, b"{}", (404, "404: Not Found", {})),
        ("POST", f"/sms/{SECRET}/deeper", JSON, b"{}", (404, "404: Not Found", {})),
        ("POST", "/sms/wrong-secret-wrong-secret", JSON, b"{}", (403, "forbidden", {})),
        ("POST", "/sms", {SECRET_HEADER: SECRET[:-1], **JSON}, b"{}", (403, "forbidden", {})),
        (
            "POST",
            f"/sms/{SECRET}",
            {"Content-Type": "text/plain"},
            b"{}",
            (415, "send application/json", {}),
        ),
        ("POST", f"/sms/{SECRET}", JSON, b"{not json", (400, "the body is not JSON", {})),
        (
            "POST",
            f"/sms/{SECRET}",
            JSON,
            b"[]",
            (400, "delivery report: must be a JSON object, not an array", {}),
        ),
        ("POST", f"/sms/{SECRET}", JSON, BIG, (413, "larger than 1000 bytes", {})),
    ],
    ids=["get", "put", "head", "slash", "deeper", "secret", "header", "type", "json", "[]", "big"],
)
async def test_each_refusal_is_answered_alike_by_both_adapters(
    serve, inbox, method, path, headers, body, answer
):
    client = await serve(receiver_for(inbox, max_body=1000))

    async with client.request(method, path, headers=headers, data=body) as response:
        got = (response.status, await response.text(), response.headers)

    status, text, more = answer
    assert got[:2] == (status, text)
    assert got[2]["Content-Type"] == TEXT
    assert {name: got[2][name] for name in more} == more
    assert inbox.reports == inbox.inbound == []


async def test_a_kind_with_no_callback_is_refused_alike(serve, inbox):
    client = await serve(WebhookReceiver("smsworks", secret=SECRET, on_report=inbox.on_report))

    assert await post(client, INCOMING) == (400, "this endpoint does not take incoming messages")


async def test_beyond_max_pending_both_ask_the_provider_to_come_back(serve, inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox, max_pending=1)
    client = await serve(receiver)

    assert await post(client, REPORT) == (200, "taken")
    async with client.post(f"/sms/{SECRET}", json={**REPORT, "messageid": "2"}) as busy:
        assert (busy.status, await busy.text(), busy.headers["Retry-After"]) == (503, "busy", "30")
    inbox.hold.set()
    await settled(receiver)
    assert [r.message_id for r in inbox.reports] == [REPORT["messageid"]]


# --- under Starlette's and FastAPI's Mount -------------------------------------------------


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def starlette_app(receiver: WebhookReceiver) -> Starlette:
    return Starlette(routes=[Route("/health", health), Mount("/sms", app=receiver.asgi())])


def fastapi_app(receiver: WebhookReceiver) -> FastAPI:
    app = FastAPI()
    app.add_api_route("/health", health)
    app.mount("/sms", receiver.asgi())
    return app


@pytest.mark.parametrize(
    ("framework", "not_found"),
    [(starlette_app, "Not Found"), (fastapi_app, '{"detail":"Not Found"}')],
    ids=["starlette", "fastapi"],
)
async def test_mounted_in_a_framework_the_routes_are_below_the_mount(
    serving, inbox, framework, not_found
):
    receiver = receiver_for(inbox)
    client = await serving(framework(receiver))

    taken = await post(client, REPORT, path=f"/sms/{SECRET}")
    by_header = await post(client, INCOMING, path="/sms/", headers={SECRET_HEADER: SECRET})
    async with client.get(f"/sms/{SECRET}") as wrong_method:
        assert (wrong_method.status, await wrong_method.text()) == (405, "405: Method Not Allowed")
    unknown = await post(client, REPORT, path=f"/sms/{SECRET}/deeper")
    elsewhere = await post(client, REPORT, path=f"/{SECRET}")
    async with client.get("/health") as beside:
        assert (beside.status, await beside.text()) == (200, "ok")
    async with client.post("/sms", allow_redirects=False) as bare_mount:  # the framework's
        redirect = (bare_mount.status, URL(bare_mount.headers["Location"]).path)
    await settled(receiver)

    assert (taken, by_header) == ((200, "taken"), (200, "taken"))
    assert unknown == (404, "404: Not Found")  # the receiver's own answer
    assert elsewhere == (404, not_found)  # the framework's: not the receiver's path
    assert redirect == (307, "/sms/")
    assert inbox.reports == [parse_delivery_report(REPORT)]
    assert [m.message_id for m in inbox.inbound] == ["6170167"]


@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [
        (f"/sms/{SECRET}", "/sms", 200),  # the path whole, as Starlette and uvicorn pass it
        (f"/{SECRET}", "/sms", 200),  # the path below the mount, as some servers pass it
        ("/sms", "/sms", 403),  # the mount itself: the route without a secret
        ("/sms/", "/sms", 403),
        (f"/smsx/{SECRET}", "/sms", 404),  # not below the mount: read as it is
        (f"/a/b/{SECRET}", "/a/b", 200),
        (f"/{SECRET}", "", 200),
    ],
)
async def test_the_path_is_read_below_the_root_path(inbox, path, root_path, status):
    exchange = Exchange(*body_messages(json.dumps(REPORT).encode(), 1000))
    scope = http_scope("POST", path, JSON, root_path=root_path)

    await exchange.run(receiver_for(inbox).asgi(), scope)

    assert exchange.answer[0] == status


# --- bodies: in pieces, too large, cut short -----------------------------------------------


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def head(*headers: str, path: str = f"/{SECRET}") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


async def test_a_chunked_body_past_max_body_is_a_413_and_read_no_further(inbox):
    app = Watched(receiver_for(inbox, max_body=1000).asgi())
    async with Uvicorn(app) as server:
        client = await RawClient.connect(server.port)
        client.write(head("Transfer-Encoding: chunked") + chunk(b'{"messageid": "1", "x": "'))
        written = 0
        async with asyncio.timeout(10):
            while written < 100 and not client.closed.is_set():  # 10,000 bytes at most
                client.write(chunk(b"x" * 100))
                written += 1
                await asyncio.sleep(0.01)
            await client.closed.wait()
    answer = bytes(client.data)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nconnection: close\r\n" in answer.lower()
    assert answer.endswith(b"\r\n\r\nlarger than 1000 bytes")
    assert written < 100  # answered, and closed, while the client was still sending
    assert app.body_bytes <= 1000 + 2 * 100  # the body read no further than the limit
    assert app.received[-1] == "http.request"
    assert inbox.reports == []


async def test_a_client_gone_mid_body_gets_no_answer_and_no_callback(inbox, caplog):
    caplog.set_level(logging.INFO)
    app = Watched(receiver_for(inbox).asgi())
    async with Uvicorn(app) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head("Content-Length: 1000") + b'{"messageid": "1"')
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        async with asyncio.timeout(5):
            await app.ended.wait()

    assert app.received == ["http.request", "http.disconnect"]
    assert app.sent == []
    assert inbox.reports == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


async def test_a_body_in_many_messages_is_taken_whole(inbox):
    receiver = receiver_for(inbox)
    exchange = Exchange(*body_messages(json.dumps(REPORT).encode(), 7))

    await exchange.run(receiver.asgi(), http_scope("POST", f"/{SECRET}", JSON))
    await settled(receiver)

    assert exchange.answer[0::2] == (200, b"taken")
    assert inbox.reports == [parse_delivery_report(REPORT)]


async def test_an_answer_before_the_end_of_the_body_closes_the_connection(inbox):
    body = json.dumps(REPORT).encode()
    sized = {**JSON, "Content-Length": str(len(body))}
    refused = Exchange(*body_messages(body, 10))
    await refused.run(receiver_for(inbox).asgi(), http_scope("POST", "/wrong-secret-x", sized))
    bodiless = Exchange()
    await bodiless.run(receiver_for(inbox).asgi(), http_scope("GET", f"/{SECRET}", {}))

    assert refused.answer[:2] == (
        403,
        {"content-type": TEXT, "content-length": "9", "connection": "close"},
    )
    assert refused.received == 0  # not one piece of the body read
    assert bodiless.answer[:2] == (
        405,
        {"content-type": TEXT, "allow": "POST", "content-length": "23"},  # kept open
    )


@pytest.mark.parametrize(
    ("encoding", "body", "answer"),
    [
        ("gzip", gzip.compress(json.dumps(REPORT).encode()), (200, "taken")),
        ("identity", json.dumps(REPORT).encode(), (200, "taken")),
        ("br", b"\x8b\x02\x80{}\x03", (415, "send the body as it is, or in gzip or deflate")),
        ("gzip", gzip.compress(b" " * 70_000 + b"{}"), (413, "larger than 65536 bytes")),
        ("gzip", gzip.compress(json.dumps(REPORT).encode())[:-5], (400, "the body cannot")),
        ("gzip", gzip.compress(json.dumps(REPORT).encode()) + b"more", (400, "the body cannot")),
    ],
    ids=["gzip", "identity", "brotli", "bomb", "cut-short", "trailing"],
)
async def test_the_content_encoding_is_undone_or_refused(serving, inbox, encoding, body, answer):
    receiver = receiver_for(inbox)
    client = await serving(receiver.asgi())

    headers = {**JSON, "Content-Encoding": encoding}
    async with client.post(f"/{SECRET}", data=body, headers=headers) as response:
        status, text = response.status, await response.text()
        accepted = response.headers.get("Accept-Encoding")
    await settled(receiver)

    assert (status, text[: len(answer[1])]) == answer
    assert accepted == ("gzip, deflate" if status == 415 else None)
    assert len(inbox.reports) == (1 if status == 200 else 0)


# --- lifespan, websockets, other scopes ----------------------------------------------------


async def test_lifespan_startup_and_shutdown_are_completed(inbox):
    exchange = Exchange({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})

    await exchange.run(receiver_for(inbox).asgi(), {"type": "lifespan", "asgi": {}})

    assert exchange.sent == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


async def test_a_server_shutting_down_waits_for_running_callbacks(inbox):
    inbox.hold = asyncio.Event()
    receiver = receiver_for(inbox)
    async with Uvicorn(receiver.asgi()) as server:
        async with (
            aiohttp.ClientSession(base_url=server.url) as client,
            client.post(f"/{SECRET}", json=REPORT) as answer,
        ):
            assert (answer.status, await answer.text()) == (200, "taken")
        asyncio.get_running_loop().call_later(0.6, inbox.hold.set)
        assert inbox.reports == []
    assert len(inbox.reports) == 1  # the lifespan's shutdown waited for it, 0.6 s


async def test_a_websocket_is_refused_before_it_is_accepted(inbox):
    exchange = Exchange({"type": "websocket.connect"})
    scope = {**http_scope("GET", f"/{SECRET}", {}), "type": "websocket"}

    await exchange.run(receiver_for(inbox).asgi(), scope)

    assert exchange.sent == [{"type": "websocket.close", "code": 1000}]


async def test_a_scope_it_does_not_know_is_an_error(inbox):
    with pytest.raises(ValueError, match="serves no 'webtransport' scope"):
        await Exchange().run(receiver_for(inbox).asgi(), {"type": "webtransport"})


# --- hostile input, without a server -------------------------------------------------------


async def _exchange_once(body: bytes, piece: int, content_type: str, path: str):
    inbox = Inbox()
    receiver = receiver_for(inbox, max_body=2000)
    exchange = Exchange(*body_messages(body, piece))
    scope = http_scope("POST", path, {"Content-Type": content_type, SECRET_HEADER: SECRET})
    await exchange.run(mounted("/sms", receiver.asgi()), scope)
    await settled(receiver)
    return exchange.answer[0], [*inbox.reports, *inbox.inbound]


@settings(max_examples=100, deadline=None)
@given(
    payloads,
    st.integers(min_value=1, max_value=4000),
    st.sampled_from(["application/json", "text/plain", "application/problem+json"]),
    st.sampled_from(["/sms", f"/sms/{SECRET}", "/sms/\x00", "/sms/\ufffd\ufffd", "/sms/a/b"]),
)
def test_no_request_gets_a_server_error_and_only_valid_payloads_pass(
    body, piece, content_type, path
):
    status, passed_on = asyncio.run(_exchange_once(body, piece, content_type, path))

    assert status in {200, 400, 403, 404, 413, 415}
    if status == 200:
        [item] = passed_on
        assert isinstance(item, StatusReport | InboundMessage)
        assert item == parse_webhook(json.loads(body))
    else:
        assert passed_on == []


# --- the secret in the server's access log -------------------------------------------------


def test_the_secret_filter_blanks_the_values_a_record_is_formatted_with():
    receiver_for(Inbox())  # its secret is known to the filter
    as_tuple = logging.LogRecord("x", logging.INFO, "", 0, '"%s %s"', ("POST", f"/{SECRET}"), None)
    as_mapping = logging.LogRecord("x", logging.INFO, "", 0, "%(r)s", (), None)
    as_mapping.args = {"r": f"POST /sms/{SECRET}?x=1", "s": 200}

    secret_filter = SecretFilter()
    assert secret_filter.filter(as_tuple)  # every record passes, blanked
    assert secret_filter.filter(as_mapping)

    assert as_tuple.args == ("POST", "/********")
    assert as_tuple.getMessage() == '"POST /********"'
    assert as_mapping.args == {"r": "POST /sms/********?x=1", "s": 200}


# --- docs/webhooks.md ----------------------------------------------------------------------

EXAMPLES = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)


def test_the_docs_have_an_example_for_each_way_of_serving():
    apps = [code for code in EXAMPLES if "app = " in code]
    assert len(apps) >= 3
    assert any("receiver.add_routes(app" in code for code in apps)
    assert any('app.mount("/sms", receiver.asgi())' in code for code in apps)
    assert any("app = receiver.asgi()" in code for code in apps)


async def _post_to_example(app, path: str) -> tuple[int, str]:
    """Serve an example's ``app`` on 127.0.0.1 and post it a delivery report."""
    async with AsyncExitStack() as stack:
        if isinstance(app, web.Application):
            runner = web.AppRunner(app)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            assert isinstance(site._server, asyncio.Server)
            port = site._server.sockets[0].getsockname()[1]
            url = f"http://127.0.0.1:{port}"
        else:
            url = (await stack.enter_async_context(Uvicorn(app))).url
        client = await stack.enter_async_context(aiohttp.ClientSession(base_url=url))
        async with client.post(path, json=REPORT) as answer:
            return answer.status, await answer.text()


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_docs_example_runs(code, monkeypatch, capsys):
    monkeypatch.setitem(os.environ, "SMSGATE_WEBHOOK_SECRET", SECRET)
    namespace = {"__name__": "__docs__"}
    exec(compile(code, str(DOCS), "exec"), namespace)  # runs it, when it is a script
    app = namespace.get("app")
    if app is not None:  # an application: served, and posted a delivery report
        prefix = "" if isinstance(app, AsgiApp) else "/sms"  # served alone, or under /sms
        assert asyncio.run(_post_to_example(app, f"{prefix}/{SECRET}")) == (200, "taken")

    assert "128032521395903584 delivered\n" in capsys.readouterr().out
