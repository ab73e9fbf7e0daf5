"""What smsgate logs, and under which names: a line per bulk run's start and end (INFO,
``smsgate.bulk``), a warning per retry (``smsgate.retry``), per failover and per circuit
opening or closing (``smsgate.routing``), a line per request (DEBUG, ``smsgate.http``)."""

from __future__ import annotations

import logging

import pytest

from smsgate import Message, TransportError, send_all, send_many
from smsgate.routing import RoutingGateway
from smsgate.testing import FakeGateway
from tests.providers.test_base import TOKEN, EchoGateway
from tests.test_routing import UK, Clock, refused


def lines(caplog, name: str) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == name]


async def test_a_bulk_run_logs_its_start_and_its_end_with_counts(caplog):
    gateway = FakeGateway(name="fake")
    gateway.fail(refused("fake"))
    with caplog.at_level(logging.INFO, logger="smsgate.bulk"):
        rows: list[Message | dict[str, str]] = [
            Message(UK, "Hi"),
            Message(UK, "Yo"),
            {"to": "12", "text": "Hi"},
        ]
        summary = await send_all(gateway, rows)
    logged = lines(caplog, "smsgate.bulk")
    assert (summary.accepted, summary.failed) == (1, 2)
    assert logged[0] == ("INFO", "bulk run through fake started: 8 requests in flight at most")
    assert logged[1][0] == "INFO"
    assert logged[1][1].startswith("bulk run through fake ended after ")
    assert logged[1][1].endswith(
        ": 1 accepted, 2 failed, 0 uncertain, 0 unsent (0 from an earlier session)"
    )
    assert len(logged) == 2


async def test_a_stopped_bulk_run_says_so(caplog):
    messages = [Message(UK, "Hi") for _ in range(50)]
    with caplog.at_level(logging.INFO, logger="smsgate.bulk"):
        async with send_many(FakeGateway(name="fake"), messages, concurrency=1) as run:
            async for _ in run:
                break
    ended = lines(caplog, "smsgate.bulk")[-1][1]
    assert "bulk run through fake was stopped after" in ended
    assert "unsent" in ended


async def test_each_retry_is_a_warning_naming_the_try_and_the_wait(
    caplog, retrying, closed_port_url
):
    with caplog.at_level(logging.DEBUG, logger="smsgate"):
        async with EchoGateway(token=TOKEN, base_url=closed_port_url, retries=2) as gateway:
            with pytest.raises(TransportError):
                await gateway.request_json("GET", "/status")
    retries = lines(caplog, "smsgate.retry")
    assert [level for level, _ in retries] == ["WARNING", "WARNING"]
    assert retries[0][1].startswith("try 1 of 3 failed, trying again in ")
    assert retries[1][1].startswith("try 2 of 3 failed, trying again in ")
    assert "could not connect" in retries[0][1]
    requests = lines(caplog, "smsgate.http")
    assert len(requests) == 3  # a DEBUG line for each try
    assert all(level == "DEBUG" and "GET" in text for level, text in requests)
    assert TOKEN not in caplog.text


async def test_failovers_and_circuits_are_warnings(caplog):
    primary, backup = FakeGateway(name="primary"), FakeGateway(name="backup")
    router = RoutingGateway(providers=[primary, backup], failures=2, cooldown=30)
    router._clock = clock = Clock()
    primary.fail(refused("primary"), times=2)
    with caplog.at_level(logging.WARNING, logger="smsgate.routing"):
        for _ in range(2):
            await router.send(Message(UK, "Hi"))
        clock.now += 31
        await router.send(Message(UK, "Hi"))  # the trial: it takes it
    fails_over = (
        "WARNING",
        "primary did not take the message, so it fails over: primary: refused "
        "(nothing was sent; it is safe to try again)",
    )
    assert lines(caplog, "smsgate.routing") == [
        fails_over,
        ("WARNING", "primary's circuit is open for 30 s, after 2 failures in a row"),
        fails_over,
        ("WARNING", "primary's circuit is closed again: it took a message"),
    ]
