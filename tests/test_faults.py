"""Fault injection on 127.0.0.1: no message is sent twice where the first was accepted, and
every message gets exactly one outcome."""

import random

import pytest

from smsgate import (
    Message,
    OutcomeStatus,
    ProviderUnavailable,
    TransportError,
    send_all,
    send_many,
)
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.routing import RoutingGateway
from tests.faults import FaultServer


def number(i: int) -> str:
    return f"+4477009{i:05d}"


def works(url: str, **options) -> SmsWorksGateway:
    return SmsWorksGateway(
        token="JWT t", sender="Acme", base_url=url + "/v1", timeout=0.5, retries=2, **options
    )


@pytest.mark.parametrize(
    ("fault", "status", "error", "maybe_sent", "requests", "accepted"),
    [
        ("reset_before_read", OutcomeStatus.UNCERTAIN, TransportError, True, 0, 0),
        ("reset_after_read", OutcomeStatus.UNCERTAIN, TransportError, True, 1, 1),
        ("hang", OutcomeStatus.UNCERTAIN, TransportError, True, 1, 1),
        ("429", OutcomeStatus.ACCEPTED, None, None, 2, 1),
        ("503_5002", OutcomeStatus.ACCEPTED, None, None, 2, 1),
        ("500_html", OutcomeStatus.FAILED, ProviderUnavailable, None, 1, 0),
        ("truncated", OutcomeStatus.UNCERTAIN, TransportError, True, 1, 1),
        ("wrong_type", OutcomeStatus.ACCEPTED, None, None, 1, 1),
    ],
)
async def test_each_fault_on_a_send(retrying, fault, status, error, maybe_sent, requests, accepted):
    async with FaultServer([fault]) as server, works(server.url) as gateway:
        [outcome] = [o async for o in send_many(gateway, [Message(number(1), "Hi")])]
    assert outcome.status is status
    if error is None:
        assert outcome.error is None
    else:
        assert isinstance(outcome.error, error)
        if maybe_sent is not None:
            assert outcome.error.maybe_sent is maybe_sent
    assert server.requests == requests
    assert server.accepted[number(1)[1:]] == accepted  # never twice


async def test_a_refused_connection_is_retried_and_fails_having_sent_nothing(
    retrying, closed_port_url
):
    async with works(closed_port_url) as gateway:
        summary = await send_all(gateway, [Message(number(1), "Hi")])
    assert summary.failed == 1
    [failure] = summary.failures
    assert isinstance(failure.error, TransportError)
    assert failure.error.maybe_sent is False
    assert len(retrying) == 2  # three tries in all


async def test_each_fault_in_a_run_touches_only_its_own_message(retrying):
    faults = ["ok", "reset_after_read", "429", "500_html", "truncated"]
    async with FaultServer(faults) as server, works(server.url) as gateway:
        outcomes = [
            o
            async for o in send_many(
                gateway, [Message(number(i), "Hi") for i in range(20)], concurrency=1
            )
        ]
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert max(server.accepted.values()) == 1


async def test_soak_10000_messages_with_5_percent_faults_and_a_failover_pair(retrying):
    chance = random.Random(20261122)
    faults = ("reset_after_read", "hang", "429", "503_5002", "500_html", "truncated")

    def sometimes(_: int) -> str:
        return chance.choice(faults) if chance.random() < 0.05 else "ok"

    messages = [Message(number(i), f"Your code is {i:05d}") for i in range(10_000)]
    async with FaultServer(sometimes) as primary, FaultServer(sometimes) as backup:
        router = RoutingGateway(
            providers=[
                works(primary.url),
                SmsSchedulerGateway(
                    token="t", sender_id=1, base_url=backup.url + "/api/v1", timeout=0.5
                ),
            ],
            failures=5,
            cooldown=0.2,
        )
        async with router:
            outcomes = [o async for o in send_many(router, messages, concurrency=50)]

    accepted_at = {
        n: primary.accepted[n[1:]] + backup.accepted[n] for n in (m.to for m in messages)
    }
    by_status = {s: [o for o in outcomes if o.status is s] for s in OutcomeStatus}
    duplicates = sum(max(0, count - 1) for count in accepted_at.values())
    lost = len(messages) - len({o.index for o in outcomes})
    injected = primary.faults + backup.faults
    del injected["ok"]
    counts = {s.value: len(found) for s, found in by_status.items()}
    print(
        f"\nsoak: {len(messages)} messages, {primary.requests + backup.requests} requests, "
        f"{injected.total()} faults injected {dict(injected)}, outcomes {counts}, "
        f"duplicates {duplicates}, lost {lost}"
    )
    assert len(outcomes) == len(messages)
    assert lost == 0
    assert duplicates == 0
    for outcome in by_status[OutcomeStatus.ACCEPTED]:
        assert accepted_at[outcome.message.to] == 1  # what we call sent was sent, once
    for outcome in by_status[OutcomeStatus.FAILED]:
        assert accepted_at[outcome.message.to] == 0  # what we call failed was not sent
    assert injected.total() > 0.03 * len(messages)
