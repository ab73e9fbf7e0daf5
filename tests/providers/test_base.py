import asyncio
import copy
import json
import logging
import pickle
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from smsgate import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequest,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
    ValidationError,
    __version__,
)
from smsgate.gateway import on_dispatch
from smsgate.providers.base import USER_AGENT, HttpGateway, HttpResponse, Secret, parse_retry_after
from tests.support.leaks import leaks
from tests.support.mocking import sent_json
from tests.support.servers import RawServer, read_request, reset

TOKEN = "JWT eyJ0eXAiOiJKV1Qi.s3cr3t-t0ken"


class EchoGateway(HttpGateway):
    """The smallest adapter: a token header, and the default error hook."""

    name = "echo"

    def __init__(self, *, token: str, **options):
        super().__init__(**options)
        self._token = Secret(token)

    async def auth_headers(self):
        return {"Authorization": self._token.reveal()}

    def secrets(self):
        return (self._token.reveal(),)

    # The verbs are not what these tests are about; the plumbing under them is.
    async def send(self, message):
        raise NotImplementedError

    async def schedule(self, message, at):
        raise NotImplementedError

    async def status(self, ref):
        raise NotImplementedError

    async def cancel(self, ref):
        raise NotImplementedError


def recording_app(status=200, body=b'{"ok": true}', headers=None):
    """An app that records each request and answers every path the same way."""
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        return web.Response(status=status, body=body, headers=headers or {})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app, seen


# --- requests --------------------------------------------------------------------------------


async def test_a_request_sends_exact_method_path_headers_and_json(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url("/v1/"))) as gateway:
        answer = await gateway.request_json("POST", "/message/send", json_body={"a": [1, "é"]})
    assert answer == {"ok": True}
    [request] = seen
    assert (request["method"], request["path"]) == ("POST", "/v1/message/send")
    assert json.loads(request["body"]) == {"a": [1, "é"]}
    assert request["headers"]["Authorization"] == TOKEN
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Accept"] == "application/json"
    assert request["headers"]["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith(f"smsgate/{__version__} aiohttp/{aiohttp.__version__} python/")


class KeptHeaderGateway(EchoGateway):
    """Returns the same mapping while its token is the same (`Secret.header`)."""

    async def auth_headers(self):
        return self._token.header("Authorization", "Bearer")


class MutatedHeaderGateway(EchoGateway):
    """Returns one dict, changed in place when its token changes: headers built from it
    must not be kept."""

    async def auth_headers(self):
        held = self.__dict__.setdefault("_auth", {})
        held["Authorization"] = self._token.reveal()
        return held


@pytest.mark.parametrize("adapter", [EchoGateway, KeptHeaderGateway, MutatedHeaderGateway])
async def test_each_request_carries_the_credential_held_when_it_leaves(web_server, adapter):
    app, seen = recording_app()
    server = await web_server(app)
    async with adapter(token="first-token-1", base_url=str(server.make_url("/v1"))) as gateway:
        await gateway.request_json("POST", "/a", json_body={})
        await gateway.request_json("GET", "/b")
        gateway._token = Secret("second-token-2")  # as a fetched token replaces the last
        await gateway.request_json("POST", "/c", json_body={})
        await gateway.request_json("GET", "/d")
        held = repr(vars(gateway))
    scheme = "Bearer " if adapter is KeptHeaderGateway else ""
    assert [(r["path"], r["headers"]["Authorization"]) for r in seen] == [
        ("/v1/a", f"{scheme}first-token-1"),
        ("/v1/b", f"{scheme}first-token-1"),
        ("/v1/c", f"{scheme}second-token-2"),
        ("/v1/d", f"{scheme}second-token-2"),
    ]
    assert [r["headers"].get("Content-Type") for r in seen] == [
        "application/json",
        None,
        "application/json",
        None,
    ]
    if adapter is not MutatedHeaderGateway:  # it keeps its own dict of the token: its choice
        assert "first-token" not in held
        assert "second-token" not in held


def test_a_secrets_header_is_one_mapping_that_shows_nothing_and_pickles():
    secret = Secret("s3cr3t-value")
    assert secret.header("Authorization") == {"Authorization": "s3cr3t-value"}
    header = secret.header("Authorization", "Bearer")
    assert header == {"Authorization": "Bearer s3cr3t-value"}
    assert secret.header("Authorization", "Bearer") is header
    assert dict(header) == {"Authorization": "Bearer s3cr3t-value"}
    assert len(header) == 1
    with pytest.raises(KeyError):
        header["Other"]
    assert "s3cr3t" not in repr(secret)
    assert "s3cr3t" not in repr(header)
    assert pickle.loads(pickle.dumps(secret)) == secret
    assert pickle.loads(pickle.dumps(header)) == header
    assert copy.deepcopy(secret).reveal() == "s3cr3t-value"


async def test_a_retry_that_fails_again_is_not_chained_to_the_first_failure(
    retrying, closed_port_url
):
    async with EchoGateway(token=TOKEN, base_url=closed_port_url, retries=1) as gateway:
        with pytest.raises(TransportError) as raised:
            await gateway.request_json("GET", "/status")
        with pytest.raises(TransportError) as raised_too:
            await gateway.request("GET", "/status")
    for error in (raised.value, raised_too.value):
        assert error.__cause__ is None
        assert error.__context__ is None


async def test_an_error_the_hook_raises_is_announced_as_refused_like_one_it_returns(web_server):
    async def answer(request):
        return web.json_response({"message": "no"}, status=400)

    app = web.Application()
    app.router.add_post("/v1/send", answer)
    server = await web_server(app)
    heard = []

    async def hear(left, keyed):
        heard.append(left)

    class Raising(EchoGateway):
        def error_from_response(self, response):
            raise InvalidRequest("refused", provider=self.name)

    async with Raising(token=TOKEN, base_url=str(server.make_url("/v1"))) as gateway:
        with on_dispatch(hear), pytest.raises(InvalidRequest):
            await gateway.request_json("POST", "/send", json_body={}, messages=1)
    assert heard == [True, False]


async def test_a_body_of_a_bytes_subclass_is_sent_as_it_is(web_server):
    class Body(bytes):
        pass

    app, seen = recording_app()
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        await gateway.request_json("POST", "/x", json_body=Body(b'{"a":1}'))
    assert seen[0]["body"] == b'{"a":1}'


async def test_a_request_that_sends_messages_is_announced_right_before_it_leaves(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    heard = []

    async def hear(left, keyed):
        heard.append((left, keyed, len(seen)))  # how many requests the server had seen by then

    async with EchoGateway(token=TOKEN, base_url=str(server.make_url("/v1"))) as gateway:
        with on_dispatch(hear):
            await gateway.request_json("GET", "/credits")  # sends no message: not announced
            await gateway.request_json("POST", "/send", json_body={}, messages=3, keyed=True)
            await gateway.request_json("POST", "/send", json_body={}, messages=1)
    assert heard == [(True, True, 1), (True, False, 2)]


@pytest.mark.parametrize(("status", "refused"), [(400, True), (429, True), (500, False)])
async def test_an_answer_that_proves_nothing_was_taken_is_announced_as_refused(
    web_server, status, refused
):
    async def answer(request):
        return web.json_response({"message": "no"}, status=status)

    app = web.Application()
    app.router.add_post("/v1/send", answer)
    server = await web_server(app)
    heard = []

    async def hear(left, keyed):
        heard.append(left)

    async with EchoGateway(token=TOKEN, base_url=str(server.make_url("/v1"))) as gateway:
        with on_dispatch(hear), pytest.raises(ProviderError):
            await gateway.request_json("POST", "/send", json_body={}, messages=1)
    assert heard == ([True, False] if refused else [True])


async def test_each_try_of_a_request_is_announced(retrying, closed_port_url):
    heard = []

    async def hear(left, keyed):
        heard.append(left)

    async with EchoGateway(token=TOKEN, base_url=closed_port_url, retries=2) as gateway:
        with on_dispatch(hear), pytest.raises(TransportError):
            await gateway.request_json("POST", "/send", json_body={}, messages=1)
    assert heard == [True, False] * 3  # each try leaves, and is refused: nothing was taken


async def test_a_request_without_a_body_sends_no_content_type(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        await gateway.request_json("GET", "/messages/17")
    assert "Content-Type" not in seen[0]["headers"]
    assert seen[0]["body"] == b""


async def test_authenticate_false_leaves_out_the_auth_headers(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        await gateway.request_json("POST", "/auth/token", json_body={}, authenticate=False)
    assert "Authorization" not in seen[0]["headers"]


async def test_an_empty_success_body_reads_as_none(web_server):
    app, _ = recording_app(status=204, body=b"")
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        assert await gateway.request_json("DELETE", "/x") is None


async def test_a_success_answer_that_is_not_json_is_a_maybe_sent_transport_error(web_server):
    app, _ = recording_app(status=201, body=b"<html>Created</html>")
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={})
    assert caught.value.maybe_sent is True
    assert "answered POST /message/send with HTTP 201 with a body that is not JSON" in str(
        caught.value
    )


async def test_a_body_that_cannot_be_json_is_refused_before_any_request(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(ValidationError, match="cannot be sent as JSON"):
            await gateway.request_json("POST", "/x", json_body={"when": datetime.now(UTC)})
    assert seen == []


# --- error answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_class", "detail"),
    [
        (400, b'{"message": "Bad destination"}', InvalidRequest, "Bad destination"),
        (401, b'{"message": "Unauthorized"}', AuthenticationError, "Unauthorized"),
        (404, b"", NotFound, None),
        (409, b"conflict", ProviderError, "conflict"),
        (500, b"<html><body>Internal error</body></html>", ProviderUnavailable, "<html>"),
        (503, b'{"message": "down"}', ProviderUnavailable, "down"),
    ],
)
async def test_error_answers_become_provider_errors(web_server, status, body, error_class, detail):
    app, _ = recording_app(status=status, body=body)
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(ProviderError) as caught:
            await gateway.request_json("GET", "/x")
    error = caught.value
    assert type(error) is error_class
    assert error.http_status == status
    assert error.provider == "echo"
    if detail is None:
        assert error.detail is None
    else:
        assert error.detail is not None
        assert detail in error.detail


async def test_a_redirect_is_not_followed_and_is_an_error(web_server):
    app, seen = recording_app(status=307, body=b"", headers={"Location": "/elsewhere"})
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(ProviderError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={"n": 1})
    assert caught.value.http_status == 307
    assert [request["path"] for request in seen] == ["/message/send"]


async def test_a_transport_error_tells_its_cause_without_chaining_aiohttps(closed_port_url):
    async with EchoGateway(token=TOKEN, base_url=closed_port_url) as gateway:
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("GET", "/x")
    # aiohttp's exceptions carry the request's headers: its words are kept, not the object.
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)
    assert "could not connect (Cannot connect to host 127.0.0.1" in str(caught.value)


async def test_a_429_carries_retry_after(web_server):
    app, _ = recording_app(status=429, body=b"", headers={"Retry-After": "7"})
    server = await web_server(app)
    async with EchoGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(RateLimited) as caught:
            await gateway.request_json("POST", "/x", json_body={})
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable is True


async def test_an_adapter_reads_its_own_error_shape_through_the_hook(web_server):
    class CodedGateway(EchoGateway):
        def error_from_response(self, response: HttpResponse) -> ProviderError:
            data = response.json()
            return InvalidRequest(
                provider=self.name, http_status=response.status, errors=data["errors"]
            )

    app, _ = recording_app(status=400, body=b'{"errors": {"phone_numbers": ["bad: +1"]}}')
    server = await web_server(app)
    async with CodedGateway(token=TOKEN, base_url=str(server.make_url(""))) as gateway:
        with pytest.raises(InvalidRequest) as caught:
            await gateway.request_json("POST", "/sms", json_body={})
    assert caught.value.errors == {"phone_numbers": ["bad: +1"]}


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value, seconds):
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == seconds


# --- transport failures ----------------------------------------------------------------------


async def test_a_refused_connection_sent_nothing(closed_port_url):
    async with EchoGateway(token=TOKEN, base_url=closed_port_url) as gateway:
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={})
    assert caught.value.maybe_sent is False
    assert "could not connect" in str(caught.value)


async def test_a_refused_connection_sent_nothing_on_a_borrowed_session_too(closed_port_url):
    async with aiohttp.ClientSession() as session:
        gateway = EchoGateway(token=TOKEN, base_url=closed_port_url, session=session)
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={})
        await gateway.aclose()
    assert caught.value.maybe_sent is False


async def reset_after_reading(reader, writer):
    await read_request(reader)
    reset(writer)


async def reset_before_reading(reader, writer):
    reset(writer)


async def test_a_reset_after_the_request_was_read_may_have_sent():
    async with (
        RawServer(reset_after_reading) as server,
        EchoGateway(token=TOKEN, base_url=server.url) as gateway,
    ):
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={"n": 1})
    assert caught.value.maybe_sent is True
    assert "the connection failed" in str(caught.value)


async def test_a_reset_after_the_request_was_written_may_have_sent_even_unread():
    # The request left this machine: whether the peer read it is unknowable from here.
    async with (
        RawServer(reset_before_reading) as server,
        EchoGateway(token=TOKEN, base_url=server.url) as gateway,
    ):
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={"n": 1})
    assert caught.value.maybe_sent is True


async def never_answer(reader, writer):
    await read_request(reader)
    await asyncio.sleep(5)


async def test_no_answer_within_the_timeout_may_have_sent():
    async with (
        RawServer(never_answer) as server,
        EchoGateway(token=TOKEN, base_url=server.url, timeout=0.2) as gateway,
    ):
        started = asyncio.get_running_loop().time()
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={})
        elapsed = asyncio.get_running_loop().time() - started
    assert caught.value.maybe_sent is True
    assert "no answer within 0.2 s" in str(caught.value)
    assert elapsed < 2


async def test_an_answer_cut_off_midway_may_have_sent():
    async def truncate(reader, writer):
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"messageid": "12'
        )
        await writer.drain()

    async with (
        RawServer(truncate) as server,
        EchoGateway(token=TOKEN, base_url=server.url) as gateway,
    ):
        with pytest.raises(TransportError) as caught:
            await gateway.request_json("POST", "/message/send", json_body={})
    assert caught.value.maybe_sent is True


async def test_waiting_too_long_for_a_connection_sent_nothing():
    # One connection in the pool, held by a request the server never answers: the second
    # request never gets a connection, and must say that nothing was sent.
    async with (
        RawServer(never_answer) as server,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session,
    ):
        gateway = EchoGateway(
            token=TOKEN, base_url=server.url, session=session, timeout=1.0, connect_timeout=0.2
        )
        answers = await asyncio.gather(
            gateway.request_json("POST", "/message/send", json_body={"n": 1}),
            gateway.request_json("POST", "/message/send", json_body={"n": 2}),
            return_exceptions=True,
        )
    first, second = answers
    assert isinstance(first, TransportError)
    assert isinstance(second, TransportError)
    assert (first.maybe_sent, second.maybe_sent) == (True, False)
    assert "no connection within 0.2 s" in str(second)
    assert server.connections == 1


@pytest.mark.parametrize(
    ("exc", "maybe_sent"),
    [
        (aiohttp.ConnectionTimeoutError("Connection timeout to host"), False),
        (TimeoutError(), True),
        (aiohttp.ServerDisconnectedError(), True),
        (aiohttp.ClientOSError(104, "reset"), True),
        (aiohttp.ClientPayloadError("cut"), True),
    ],
)
def test_only_failing_to_get_a_connection_proves_nothing_was_sent(exc, maybe_sent):
    gateway = EchoGateway(token=TOKEN, base_url="http://127.0.0.1:9")
    assert gateway._transport_error(exc, "POST", "/x").maybe_sent is maybe_sent


# --- the session -----------------------------------------------------------------------------


async def test_the_session_is_made_lazily_reused_and_closed_by_aclose(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    gateway = EchoGateway(token=TOKEN, base_url=str(server.make_url("")))
    assert gateway._session is None
    await asyncio.gather(*(gateway.request_json("GET", f"/m/{i}") for i in range(20)))
    session = gateway._session
    assert session is not None
    await gateway.request_json("GET", "/again")
    assert gateway._session is session
    assert len(seen) == 21
    await gateway.aclose()
    assert session.closed
    assert gateway.closed


async def test_a_borrowed_session_is_used_and_left_open(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    async with aiohttp.ClientSession() as session:
        async with EchoGateway(
            token=TOKEN, base_url=str(server.make_url("")), session=session
        ) as gateway:
            await gateway.request_json("GET", "/m/1")
            assert gateway._session is session
        assert not session.closed
        assert seen[0]["headers"]["User-Agent"] == USER_AGENT


async def test_a_closed_gateway_sends_nothing_and_says_so(web_server):
    app, seen = recording_app()
    server = await web_server(app)
    gateway = EchoGateway(token=TOKEN, base_url=str(server.make_url("")))
    await gateway.aclose()
    await gateway.aclose()  # closing twice is harmless
    with pytest.raises(TransportError) as caught:
        await gateway.request_json("POST", "/message/send", json_body={})
    assert caught.value.maybe_sent is False
    assert "closed" in str(caught.value)
    assert seen == []


async def test_requests_can_be_mocked_with_aioresponses_for_adapter_tests(mock_http):
    url = "https://api.example.test/v1/message/send"
    mock_http.post(url, status=201, payload={"id": "1"})
    async with EchoGateway(token=TOKEN, base_url="https://api.example.test/v1") as gateway:
        answer = await gateway.request_json("POST", "/message/send", json_body={"a": 1})
    assert answer == {"id": "1"}
    [call] = mock_http.requests[("POST", URL(url))]
    assert call.kwargs["headers"]["Authorization"] == TOKEN
    assert sent_json(call.kwargs) == {"a": 1}


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"base_url": "ftp://example.test"}, "base_url: must start with https:// or http://"),
        ({"base_url": "example.test/v1"}, "base_url: must start with https:// or http://"),
        ({"timeout": 0}, "timeout: must be a positive number of seconds"),
        ({"timeout": -1.5}, "timeout: must be a positive number of seconds"),
        ({"timeout": True}, "timeout: must be a positive number of seconds"),
        ({"connect_timeout": "10"}, "connect_timeout: must be a positive number of seconds"),
        ({"default_region": "UK"}, "default_region: must be a two-letter ISO 3166"),
        ({"timeout": 5, "connect_timeout": 5}, "connect_timeout: must be shorter than timeout"),
    ],
)
def test_bad_settings_are_configuration_errors(options, problem):
    with pytest.raises(ConfigurationError) as caught:
        EchoGateway(token=TOKEN, **({"base_url": "https://example.test"} | options))
    assert problem in str(caught.value)


def test_a_gateway_without_any_base_url_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="base_url"):
        EchoGateway(token=TOKEN)


@pytest.mark.parametrize(
    ("options", "connect", "total"),
    [({}, 10.0, 30.0), ({"timeout": 6}, 2.0, 6.0), ({"timeout": 6, "connect_timeout": 5}, 5, 6)],
)
def test_the_connect_timeout_defaults_to_a_third_of_the_timeout(options, connect, total):
    gateway = EchoGateway(token=TOKEN, base_url="https://example.test", **options)
    assert (gateway._timeout.connect, gateway._timeout.total) == (connect, total)


def test_base_url_loses_its_trailing_slash():
    assert EchoGateway(token=TOKEN, base_url="https://example.test/v1/").base_url == (
        "https://example.test/v1"
    )


# --- secrets ---------------------------------------------------------------------------------


async def test_secrets_never_show_in_reprs_errors_bodies_or_logs(web_server, caplog):
    echoed = json.dumps({"message": f"token {TOKEN} is revoked", "token": TOKEN}).encode()
    app, _ = recording_app(status=401, body=echoed)
    server = await web_server(app)
    caplog.set_level(logging.DEBUG, logger="smsgate")
    gateway = EchoGateway(token=TOKEN, base_url=str(server.make_url("")))
    with pytest.raises(AuthenticationError) as caught:
        await gateway.request_json("POST", "/x", json_body={"n": 1})
    await gateway.aclose()
    error = caught.value
    assert caplog.records, "requests are logged at DEBUG"
    assert leaks("s3cr3t", error, gateway, caplog.text) == []
    assert "s3cr3t" not in str(error.detail)
    assert error.body["token"] == "********"


async def test_short_values_are_not_blanked_out_of_answers(web_server):
    app, _ = recording_app(body=b'{"token": "JWT abc", "k": 1}')
    server = await web_server(app)
    async with EchoGateway(token="k", base_url=str(server.make_url(""))) as gateway:
        assert await gateway.request_json("GET", "/x") == {"token": "JWT abc", "k": 1}


def test_secret_hides_its_value():
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("other")


@pytest.mark.parametrize(
    ("body", "read"),
    [
        (b'{"a":"\xc3\xa9"}', {"a": "é"}),
        (b"[1, 2]\n", [1, 2]),
        (b"  \r\n", None),
        (b"", None),
        ('{"a": "é"}'.encode("utf-16"), {"a": "é"}),  # not UTF-8: json.loads still finds it
        (b'\xef\xbb\xbf{"a":1}', {"a": 1}),  # a UTF-8 byte order mark
        (b"7", 7),
    ],
)
def test_an_answer_is_read_as_json_loads_reads_its_bytes(body, read):
    assert HttpResponse(200, {}, body).json() == read


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
AROUND_JSON = st.text(alphabet=" \t\n\r\x0b\xa0x,", max_size=3)


@settings(max_examples=500, deadline=None)
@given(value=JSON_VALUES, before=AROUND_JSON, after=AROUND_JSON, spaced=st.booleans())
def test_any_answer_is_read_exactly_as_json_loads_reads_it(value, before, after, spaced):
    body = (before + json.dumps(value, indent=1 if spaced else None) + after).encode()
    try:
        expected = json.loads(body)
    except ValueError as exc:
        with pytest.raises(type(exc)):
            HttpResponse(200, {}, body).json()
    else:
        assert HttpResponse(200, {}, body).json() == expected


@pytest.mark.parametrize("body", [b"{", b"<html>", b"\xff\xfe\xff", b'{"a":1} x'])
def test_an_answer_that_is_not_json_is_refused_as_json_loads_refuses_it(body):
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as theirs:
        json.loads(body)
    with pytest.raises(type(theirs.value)):
        HttpResponse(200, {}, body).json()
