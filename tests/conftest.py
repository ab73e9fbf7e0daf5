"""Fixtures for the whole suite. What they build on lives in `tests.support`; nothing
leaves 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aioresponses
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import smsgate.providers.base
import smsgate.retry
from smsgate.webhooks import WebhookReceiver
from tests.support.cli import clear_environment
from tests.support.conformance import Conformance, watch
from tests.support.mocking import mocked_http
from tests.support.postgres import new_schema
from tests.support.redis import new_key as new_redis_key
from tests.support.webhooks import Inbox


@pytest.fixture(autouse=True)
def no_retries() -> Iterator[None]:
    """Tests see each request fail once, as users' tests do with set_testing; the retry
    tests turn retrying back on with the ``retrying`` fixture."""
    smsgate.retry.set_testing(True)
    yield
    smsgate.retry.set_testing(False)


@pytest.fixture
def no_smsgate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SMSGATE_*`` variable of the test process reaches the command line under test;
    command-line test modules use it with ``pytestmark``."""
    clear_environment(monkeypatch)


@pytest.fixture(scope="session", autouse=True)
def _spec_check() -> Iterator[Conformance]:
    """Watch every sandbox of the session, those of module-scoped fixtures too."""
    with watch() as found:
        yield found


@pytest.fixture(autouse=True)
def conformance(_spec_check: Conformance) -> Iterator[Conformance]:
    """Every answer The SMS Works emulator gives while a test runs is held to the provider's
    OpenAPI spec (`tests.support.conformance`); a test whose sandbox answered outside it
    fails."""
    _spec_check.problems, _spec_check.checked = [], 0
    yield _spec_check
    assert not _spec_check.problems, "the sandbox answered outside the spec:\n" + "\n".join(
        _spec_check.problems
    )


class Sleeps(list[float]):
    """An instant sleep that records how long it was asked to wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def retrying(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """Turn retrying on, with an instant sleep; returns the waits asked for."""
    smsgate.retry.set_testing(False)
    sleeps = Sleeps()
    monkeypatch.setattr(smsgate.providers.base, "_retry_sleep", sleeps)
    return sleeps


@pytest.fixture
async def web_server() -> AsyncIterator[Callable[[web.Application], Awaitable[TestServer]]]:
    """Start aiohttp applications on 127.0.0.1; all are closed after the test."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def mock_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses.aioresponses]:
    """aioresponses. Unmatched requests fail."""
    with mocked_http(monkeypatch) as mocked:
        yield mocked


# --- webhook receivers -----------------------------------------------------------------


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def serve() -> AsyncIterator[
    Callable[[WebhookReceiver], Awaitable[TestClient[web.Request, web.Application]]]
]:
    """Serve webhook receivers under ``/sms`` on 127.0.0.1; returns a client for each."""
    clients: list[TestClient[web.Request, web.Application]] = []

    async def start(receiver: WebhookReceiver) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        receiver.add_routes(app, "/sms")
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A schema of the test's own in the machine's PostgreSQL (`tests.support.postgres`),
    dropped afterwards; the test skips without a server (fails, when ``CI`` is set)."""
    yield from new_schema()


@pytest.fixture
async def redis_key() -> AsyncIterator[str]:
    """A key of the test's own in the machine's Redis (`tests.support.redis`), deleted
    afterwards; the test skips without a server (fails, when ``CI`` is set)."""
    async for key in new_redis_key():
        yield key
