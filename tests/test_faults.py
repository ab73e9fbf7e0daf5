"""Fault injection on 127.0.0.1: no message is sent twice where the first was accepted, and
every outcome matches what the provider stored (``FAILED`` means it stored nothing to send)."""

import random
from collections.abc import Callable

import pytest

import smsgate
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
from tests.support.faults import FaultServer
from tests.support.outcomes import message_of

A, F, U = OutcomeStatus.ACCEPTED, OutcomeStatus.FAILED, OutcomeStatus.UNCERTAIN


def number(i: int) -> str:
    return f"+4477009{i:05d}"


def works(url: str, **options) -> SmsWorksGateway:
    return SmsWorksGateway(
        token="JWT t", sender="Acme", base_url=url + "/v1", timeout=0.5, retries=2, **options
    )


def scheduler(url: str, **options) -> SmsSchedulerGateway:
    return SmsSchedulerGateway(
        token="t", sender_id=1, base_url=url + "/api/v1", timeout=0.5, retries=2, **options
    )


def stored_as(provider: str, to: str) -> str:
    """How the stand-in records a recipient: The SMS Works without the +."""
    return to[1:] if provider == "smsworks" else to


# fault -> (outcome, error class, maybe_sent, requests the server served, stored to be sent)
EXPECTED = {
    "reset_before_read": (U, TransportError, True, 0, 0),
    "reset_after_read": (U, TransportError, True, 1, 1),
    "hang": (U, TransportError, True, 1, 1),
    "429": (A, None, None, 2, 1),  # nothing taken: retried
    "503_5002": (A, None, None, 2, 1),  # documented "not scheduled, try again": retried
    "503_5001": (F, ProviderUnavailable, False, 1, 0),  # documented "rejected, not charged"
    "500_json": (U, ProviderUnavailable, True, 1, 1),
    "500_html": (U, ProviderUnavailable, True, 1, 1),
    "502_html": (U, ProviderUnavailable, True, 1, 1),
    "504_html": (U, ProviderUnavailable, True, 1, 1),
    "truncated": (U, TransportError, True, 1, 1),
    "wrong_type": (A, None, None, 1, 1),
}
# SMS Scheduler documents no 5xx codes: any 5xx may have been taken.
EXPECTED_SCHEDULER = {
    **EXPECTED,
    "503_5002": (U, ProviderUnavailable, True, 1, 0),
    "503_5001": (U, ProviderUnavailable, True, 1, 0),
}
GATEWAYS: dict[str, Callable[..., SmsWorksGateway | SmsSchedulerGateway]] = {
    "smsworks": works,
    "smsscheduler": scheduler,
}


def expected(provider: str, fault: str):
    return (EXPECTED if provider == "smsworks" else EXPECTED_SCHEDULER)[fault]


@pytest.mark.parametrize("provider", ["smsworks", "smsscheduler"])
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
@pytest.mark.parametrize("fault", list(EXPECTED))
async def test_each_fault_on_a_bulk_send_matches_what_the_provider_stored(
    retrying, provider, batch, fault
):
    status, error, maybe_sent, requests, stored = expected(provider, fault)
    # Three distinct texts go in one /batch/any (The SMS Works); one text to three numbers
    # in one POST /sms (SMS Scheduler).
    texts = ["Hi 1", "Hi 2", "Hi 3"] if provider == "smsworks" else ["Hi"] * 3
    messages = [Message(number(i), text) for i, text in enumerate(texts)][: 3 if batch else 1]
    async with FaultServer([fault]) as server, GATEWAYS[provider](server.url) as gateway:
        outcomes = [o async for o in send_many(gateway, messages)]
    assert server.requests == requests
    assert len(outcomes) == len(messages)
    for outcome in outcomes:
        assert outcome.status is status
        if error is None:
            assert outcome.error is None
        else:
            assert isinstance(outcome.error, error)
            assert outcome.error.maybe_sent is maybe_sent
        record = server.accepted[stored_as(provider, message_of(outcome).to)]
        assert record == stored  # never twice
        if outcome.status is F:
            assert record == 0  # what we call failed was not stored to be sent


@pytest.mark.parametrize("provider", ["smsworks", "smsscheduler"])
@pytest.mark.parametrize("fault", list(EXPECTED))
async def test_each_fault_on_a_single_send_raises_as_the_provider_stored(retrying, provider, fault):
    status, error, maybe_sent, requests, stored = expected(provider, fault)
    message = Message(number(1), "Hi")
    raised: Exception | None
    async with FaultServer([fault]) as server, GATEWAYS[provider](server.url) as gateway:
        try:
            receipt = await gateway.send(message)
        except Exception as exc:
            raised = exc
        else:
            raised = None
    assert server.requests == requests
    assert server.accepted[stored_as(provider, message.to)] == stored
    if status is A:
        assert raised is None
        assert receipt.to == message.to
    else:
        assert isinstance(raised, error)
        assert raised.maybe_sent is maybe_sent
        assert smsgate.may_have_sent(raised) is (status is U)


@pytest.mark.parametrize("fault", list(EXPECTED))
async def test_failover_moves_on_only_when_the_first_provider_took_nothing(retrying, fault):
    status, _, maybe_sent, _, stored = EXPECTED[fault]
    raised: TransportError | ProviderUnavailable | None
    async with FaultServer([fault]) as primary, FaultServer() as backup:
        router = RoutingGateway(providers=[works(primary.url), scheduler(backup.url)])
        async with router:
            try:
                receipt = await router.send(Message(number(1), "Hi"))
            except (TransportError, ProviderUnavailable) as exc:
                raised = exc
            else:
                raised = None
    texted = primary.accepted[number(1)[1:]] + backup.accepted[number(1)]
    if maybe_sent:  # raised at once, naming the provider that may have the message
        assert raised is not None
        assert raised.maybe_sent
        assert raised.provider == "smsworks"
        assert "smsworks" in str(raised)
        assert backup.requests == 0
        assert texted == stored
    elif status is F:  # the primary took nothing: the backup sent it, once
        assert raised is None
        assert receipt.provider == "smsscheduler"
        assert (primary.accepted[number(1)[1:]], backup.accepted[number(1)]) == (0, 1)
    else:  # retried on the primary, which took it
        assert raised is None
        assert receipt.provider == "smsworks"
        assert (texted, backup.requests) == (1, 0)


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
    faults = ["ok", "reset_after_read", "429", "500_html", "503_5001", "truncated"]
    async with FaultServer(faults) as server, works(server.url) as gateway:
        outcomes = [
            o
            async for o in send_many(
                gateway, [Message(number(i), f"Hi {i}") for i in range(20)], chunk_size=1
            )
        ]
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert max(server.accepted.values()) == 1
    by_status = {s: sum(o.status is s for o in outcomes) for s in OutcomeStatus}
    assert by_status == {A: 16, F: 1, U: 3, OutcomeStatus.UNSENT: 0, OutcomeStatus.SUPPRESSED: 0}


async def test_soak_10000_messages_with_5_percent_faults_and_a_failover_pair(retrying):
    chance = random.Random(20261122)
    faults = (
        "reset_after_read",
        "hang",
        "429",
        "503_5002",
        "503_5001",
        "500_json",
        "502_html",
        "504_html",
        "truncated",
    )

    def sometimes(_: int) -> str:
        return chance.choice(faults) if chance.random() < 0.05 else "ok"

    messages = [Message(number(i), f"Your code is {i:05d}") for i in range(10_000)]
    async with FaultServer(sometimes) as primary, FaultServer(sometimes) as backup:
        router = RoutingGateway(
            providers=[works(primary.url), scheduler(backup.url)],
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
    for outcome in by_status[A]:
        assert accepted_at[message_of(outcome).to] == 1  # what we call sent was sent, once
    for outcome in by_status[F]:
        assert accepted_at[message_of(outcome).to] == 0  # what we call failed was not sent
    assert injected.total() > 0.03 * len(messages)
