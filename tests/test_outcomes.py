"""Outcomes told truthfully: try_send, find and resolve, against the sandbox's own record."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

import smsgate
import smsgate.providers.base
from smsgate import (
    DeliveryStatus,
    GatewayError,
    InvalidRequest,
    KeyConflict,
    Message,
    OutcomeStatus,
    ProviderUnavailable,
    TransportError,
    Unresolved,
    UnsupportedFeature,
    ValidationError,
    resolve,
    send_many,
    try_send,
)
from smsgate.outcomes import Outcome, status_after
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.routing import RoutingGateway
from smsgate.sandbox import Sandbox
from smsgate.testing import FakeGateway
from tests.support.outcomes import receipt_of
from tests.support.sandbox import FAST

A, F, U, N = (
    OutcomeStatus.ACCEPTED,
    OutcomeStatus.FAILED,
    OutcomeStatus.UNCERTAIN,
    OutcomeStatus.UNSENT,
)


def number(i: int) -> str:
    return f"+4477009{i:05d}"


def messages(n: int, text: str = "Hi {i}") -> list[Message]:
    return [Message(number(i), text.format(i=i), reference=f"r{i}") for i in range(n)]


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


@pytest.fixture
async def works(sandbox):
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        yield gateway


@pytest.fixture
async def scheduler(sandbox):
    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        yield gateway


def stored_keys(sandbox) -> list[str]:
    """The idempotency keys of every message The SMS Works' sandbox holds."""
    return [
        pair["value"]
        for sms in sandbox.messages("smsworks")
        for pair in sms.metadata or ()
        if pair["key"] == "smsgate_key"
    ]


# === the rule =====================================================================================


@pytest.mark.parametrize(
    ("error", "left", "status"),
    [
        (TransportError("refused", provider="p", maybe_sent=False), True, F),
        (TransportError("timed out", provider="p", maybe_sent=True), True, U),
        (TransportError("timed out", provider="p", maybe_sent=True), False, F),
        (ProviderUnavailable(provider="p", http_status=502), True, U),
        (ProviderUnavailable(provider="p", http_status=503, maybe_sent=False), True, F),
        (InvalidRequest(provider="p", http_status=400), True, F),
        (ValidationError("to", "x"), True, F),
        (KeyError("a bug"), True, U),
        (KeyError("a bug"), False, F),
    ],
)
def test_the_outcome_of_a_failed_send_follows_the_one_rule(error, left, status):
    assert status_after(error, left=left) is status


# === try_send =====================================================================================


async def test_try_send_gives_an_accepted_outcome_with_its_receipt_and_key(works, sandbox):
    message = Message(number(1), "Hi", reference="r1")

    outcome = await try_send(works, message)

    assert (outcome.status, outcome.reference, outcome.key) == (A, "r1", message.key)
    [sms] = sandbox.messages("smsworks")
    assert outcome.receipt is not None
    assert outcome.receipt.message_id == sms.id
    assert stored_keys(sandbox) == [message.key]


async def test_try_send_says_failed_for_a_refusal_and_the_provider_stored_nothing(works, sandbox):
    outcome = await try_send(works, Message(number(1), "x" * 641))

    assert outcome.status is F
    assert isinstance(outcome.error, InvalidRequest)
    assert sandbox.messages("smsworks") == []


async def test_try_send_after_a_5xx_is_uncertain_and_the_provider_has_it(works, sandbox):
    sandbox.inject("smsworks", "502")
    message = Message(number(1), "Hi")

    outcome = await try_send(works, message)

    assert outcome.status is U
    assert isinstance(outcome.error, ProviderUnavailable)
    assert stored_keys(sandbox) == [message.key]
    report = await works.find(outcome)
    assert report.message_id == sandbox.messages("smsworks")[0].id


async def test_try_send_within_a_deadline_after_the_request_left_is_uncertain():
    async with (
        Sandbox(seed=1, failure_rate=0, latency=1.0, **FAST) as sandbox,
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
    ):
        assert isinstance(gateway, SmsWorksGateway)
        message = Message(number(1), "Hi")
        outcome = await try_send(gateway, message, within=0.2)

        assert outcome.status is U
        assert isinstance(outcome.error, TransportError)
        assert "no answer within 0.2 s" in str(outcome.error)
        assert outcome.key == message.key
        assert stored_keys(sandbox) == [message.key]  # it did go out
        found = await gateway.find(outcome)
        assert found is not None
        assert found.to == number(1)


async def test_try_send_within_a_deadline_before_the_request_left_is_unsent():
    class Waiting(FakeGateway):
        async def send(self, message):
            await asyncio.sleep(1)  # e.g. a rate limit, before anything leaves
            return await super().send(message)

    gateway = Waiting()
    outcome = await try_send(gateway, Message(number(1), "Hi"), within=0.05)

    assert outcome.status is N
    assert outcome.key is None
    assert gateway.outbox == []


async def test_cancelling_try_send_raises_and_warns_when_the_request_had_left(caplog):
    async with (
        Sandbox(seed=1, failure_rate=0, latency=1.0, **FAST) as sandbox,
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
    ):
        task = asyncio.create_task(try_send(gateway, Message(number(1), "Hi")))
        await asyncio.sleep(0.2)
        with caplog.at_level(logging.WARNING, logger="smsgate"):
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert len(sandbox.messages("smsworks")) == 1
    assert "cancelled after its request left; it may have been sent" in caplog.text


async def test_an_outer_timeout_around_try_send_is_still_a_timeout():
    async with (
        Sandbox(seed=1, failure_rate=0, latency=1.0, **FAST) as sandbox,
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
    ):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await try_send(gateway, Message(number(1), "Hi"))


@pytest.mark.parametrize("within", [0, -1, True, "5"])
async def test_try_send_refuses_a_bad_deadline(within):
    with pytest.raises(ValidationError, match="within"):
        await try_send(FakeGateway(), Message(number(1), "Hi"), within=within)


async def test_try_send_schedules_with_at():
    gateway = FakeGateway()
    at = datetime.now(UTC) + timedelta(days=1)
    outcome = await try_send(gateway, Message(number(1), "Later"), at=at)
    assert outcome.receipt is not None
    assert outcome.receipt.status is DeliveryStatus.SCHEDULED


# === find =========================================================================================


async def test_find_returns_the_providers_record_of_a_key(works, sandbox):
    message = Message(number(1), "Hi", metadata={"order": "17"})
    receipt = await works.send(message)

    report = await works.find(message.key)

    assert (report.message_id, report.to) == (receipt.message_id, number(1))
    assert report.metadata == {"order": "17"}  # the caller's own, not smsgate's key


async def test_find_returns_none_when_the_provider_has_no_such_message(works):
    assert await works.find("no-such-key") is None


async def test_find_refuses_a_key_that_two_messages_share(works, sandbox):
    message = Message(number(1), "Hi")
    await works.send(message)
    await works.send(message)  # the same Message object twice: the same key

    with pytest.raises(KeyConflict) as caught:
        await works.find(message.key)

    assert caught.value.key == message.key
    assert len(caught.value.reports) == 2
    assert "2 messages under idempotency key" in str(caught.value)


async def test_find_refuses_a_match_to_another_recipient(works):
    await works.send(Message(number(1), "Hi", key="shared-key"))
    outcome = Outcome(0, U, None, Message(number(2), "Hi", key="shared-key"), key="shared-key")

    with pytest.raises(KeyConflict, match=r"a message to \+447700900001, not \+447700900002"):
        await works.find(outcome)


async def test_an_outcome_whose_request_carried_no_key_cannot_be_looked_up(works):
    outcome = Outcome(3, U, None, Message(number(1), "Hi"), key=None)

    with pytest.raises(ValidationError, match="outcome 3's request carried no idempotency key"):
        await works.find(outcome)


async def test_find_is_unsupported_without_keys(sandbox):
    config = {**sandbox.config("smsworks"), "idempotency_keys": False}
    async with smsgate.from_config(config) as gateway:
        assert isinstance(gateway, SmsWorksGateway)
        assert not gateway.can_find
        with pytest.raises(UnsupportedFeature, match="idempotency_keys off"):
            await gateway.find("k")


async def test_sms_scheduler_cannot_find(scheduler):
    assert not scheduler.can_find
    with pytest.raises(UnsupportedFeature, match="smsscheduler does not support looking"):
        await scheduler.find("k")


async def test_search_pages_past_1000_matches(works, sandbox):
    rows = [Message(number(i), f"n{i}", metadata={"campaign": "spring"}) for i in range(2300)]
    await smsgate.send_all(works, rows)

    found = [report async for report in works.search(metadata={"campaign": "spring"})]

    assert len(found) == 2300
    assert len({r.message_id for r in found}) == 2300
    assert {r.to for r in found} == {m.to for m in rows}


@pytest.mark.parametrize("ref", ["", "  ", None, 42])
async def test_find_refuses_what_is_neither_a_key_nor_an_outcome(ref):
    with pytest.raises(ValidationError, match="ref: must be an idempotency key or an Outcome"):
        await FakeGateway().find(ref)


async def test_the_fake_finds_by_key_and_refuses_a_shared_one():
    gateway = FakeGateway()
    once, twice = Message(number(1), "Hi"), Message(number(2), "Hi")
    receipt = await gateway.send(once)
    await gateway.send(twice)
    await gateway.send(twice)

    found = await gateway.find(once.key)
    assert found is not None
    assert found.message_id == receipt.message_id
    assert await gateway.find("nothing") is None
    with pytest.raises(KeyConflict):
        await gateway.find(twice.key)


async def test_the_router_asks_the_provider_that_may_have_the_message(sandbox):
    works, scheduler = (
        smsgate.from_config(sandbox.config(p)) for p in ("smsworks", "smsscheduler")
    )
    async with RoutingGateway(providers=[scheduler, works]) as router:
        message = Message(number(1), "Hi")
        await works.send(message)
        uncertain = Outcome(0, U, None, message, error=works_error(), key=message.key)

        assert router.can_find
        found = await router.find(uncertain)
        assert found is not None
        assert found.to == number(1)
        # A bare key: SMS Scheduler cannot look, so "not found" is not an answer.
        found = await router.find(message.key)
        assert found is not None
        assert found.to == number(1)
        with pytest.raises(UnsupportedFeature, match="smsscheduler"):
            await router.find("not-anywhere")


def works_error():
    return ProviderUnavailable(provider="smsworks", http_status=502)


# === resolve ======================================================================================


@pytest.mark.parametrize("path", ["/message/send", "/batch/any"])
@pytest.mark.parametrize("fault", ["500", "502", "504", "drop"])
async def test_a_run_resolves_sends_the_provider_stored_into_accepted(works, sandbox, path, fault):
    sandbox.inject("smsworks", fault, path=path)
    rows = messages(1 if path == "/message/send" else 4)

    outcomes = [o async for o in send_many(works, rows, resolve_uncertain=True, resolve_patience=1)]

    assert {o.status for o in outcomes} == {A}
    stored = {sms.id for sms in sandbox.messages("smsworks")}
    assert {receipt_of(o).message_id for o in outcomes} == stored  # the provider's own ids
    assert len(stored) == len(rows)  # nothing sent twice


async def test_a_run_leaves_what_the_provider_never_stored_uncertain(works, sandbox):
    sandbox.inject("smsworks", "502", stored=False, path="/batch/any")
    run = send_many(works, messages(5), resolve_uncertain=True, resolve_patience=0.3)

    outcomes = [o async for o in run]

    assert {o.status for o in outcomes} == {U}
    assert all(isinstance(o.error, Unresolved) for o in outcomes)
    assert "not found after 0 s of looking" in str(outcomes[0].error)
    assert sandbox.messages("smsworks") == []  # and nothing was sent again
    assert (run.summary.uncertain, run.summary.resolved) == (5, 0)


async def test_resolve_turns_found_outcomes_accepted_and_keeps_the_rest():
    gateway = FakeGateway()
    lost = TransportError("no answer", provider="fake", maybe_sent=True)
    gateway.fail(lost, to=number(0), after_accepting=True)  # taken, then the answer lost
    gateway.fail(lost, to=number(1))  # never taken
    outcomes = [o async for o in send_many(gateway, messages(3))]
    by_index = {o.index: o for o in outcomes}
    assert [by_index[i].status for i in range(3)] == [U, U, A]

    resolved = await resolve(gateway, [by_index[i] for i in range(3)], patience=0.2, interval=0.05)

    assert [o.status for o in resolved] == [A, U, A]
    assert receipt_of(resolved[0]).to == number(0)
    assert isinstance(resolved[1].error, Unresolved)
    assert resolved[2] is by_index[2]
    assert [m.to for m in gateway.outbox] == [number(0), number(2)]  # nothing sent again


async def test_resolve_keeps_trying_a_lookup_that_fails_within_its_patience():
    gateway = FakeGateway()
    gateway.fail(TransportError("x", provider="fake", maybe_sent=True), after_accepting=True)
    [outcome] = [o async for o in send_many(gateway, messages(1))]
    gateway.fail(TransportError("down", provider="fake", maybe_sent=True), operation="find")

    [resolved] = await resolve(gateway, [outcome], patience=0.5, interval=0.05)

    assert resolved.status is A


async def test_resolve_says_why_when_the_lookups_keep_failing():
    gateway = FakeGateway()
    gateway.fail(TransportError("x", provider="fake", maybe_sent=True), after_accepting=True)
    [outcome] = [o async for o in send_many(gateway, messages(1))]
    gateway.fail(
        TransportError("down", provider="fake", maybe_sent=True), operation="find", times=None
    )

    [resolved] = await resolve(gateway, [outcome], patience=0.2, interval=0.05)

    assert resolved.status is U
    assert "could not look it up" in str(resolved.error)


async def test_resolve_leaves_a_shared_key_uncertain_with_the_conflict():
    gateway = FakeGateway()
    message = Message(number(1), "Hi")
    await gateway.send(message)
    uncertain = Outcome(0, U, None, message, error=works_error(), key=message.key)
    await gateway.send(message)

    [resolved] = await resolve(gateway, [uncertain], patience=0)

    assert resolved.status is U
    assert isinstance(resolved.error, KeyConflict)


async def test_a_scheduled_batch_carries_no_keys_and_is_never_looked_up(works, sandbox):
    sandbox.inject("smsworks", "502", path="/batch/schedule")
    at = datetime.now(UTC) + timedelta(hours=1)

    run = send_many(works, messages(3, "Later"), at=at, resolve_uncertain=True, resolve_patience=1)
    outcomes = [o async for o in run]

    assert {(o.status, o.key) for o in outcomes} == {(U, None)}
    assert isinstance(outcomes[0].error, ProviderUnavailable)
    assert len(sandbox.messages("smsworks")) == 3  # they may well have gone: only a person knows


async def test_resolving_needs_a_gateway_that_can_look_messages_up(scheduler):
    with pytest.raises(UnsupportedFeature, match="smsscheduler does not support looking"):
        send_many(scheduler, messages(1), resolve_uncertain=True)
    with pytest.raises(UnsupportedFeature):
        await resolve(scheduler, [])


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"patience": -1}, "patience"),
        ({"interval": "x"}, "interval"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
async def test_resolve_refuses_bad_arguments(options, field):
    with pytest.raises(ValidationError) as caught:
        await resolve(FakeGateway(), [], **options)
    assert caught.value.field == field


# --- what the first review of these rules found --------------------------------------------


async def test_a_lookup_that_raises_an_unexpected_error_never_hangs_a_run():
    gateway = FakeGateway()
    gateway.fail(ProviderUnavailable(provider="fake", http_status=500), after_accepting=True)
    gateway.fail(ValidationError("ref", "odd"), operation="find")

    summary = await asyncio.wait_for(
        smsgate.send_all(gateway, messages(1), resolve_uncertain=True, resolve_patience=0),
        timeout=5,
    )

    assert (summary.accepted, summary.uncertain) == (0, 1)
    [outcome] = summary.uncertainties
    assert isinstance(outcome.error, Unresolved)
    assert "could not look it up" in str(outcome.error)
    assert len(gateway.outbox) == 1


async def test_a_send_refused_then_stopped_while_waiting_to_retry_is_unsent(monkeypatch, sandbox):
    async def wait_long(seconds):
        await asyncio.sleep(10)

    smsgate.retry.set_testing(False)
    monkeypatch.setattr(smsgate.providers.base, "_retry_sleep", wait_long)  # no retry in time
    sandbox.inject("smsworks", "429")
    async with smsgate.from_config(sandbox.config("smsworks") | {"retries": 1}) as gateway:
        outcome = await try_send(gateway, Message(number(1), "Hi"), within=0.3)

    assert outcome.status is N  # the provider refused it: nothing was taken
    assert outcome.key is None
    assert sandbox.messages("smsworks") == []


async def test_a_message_resent_after_5001_is_found_under_its_key(works, sandbox):
    message = Message(number(1), "Hi")
    sandbox.inject("smsworks", "5001")
    first = await try_send(works, message)
    sandbox.inject("smsworks", "500")  # the second send is stored, then answered 500
    second = await try_send(works, message)

    [resolved] = await resolve(works, [second], patience=0)

    assert (first.status, second.status, resolved.status) == (F, U, A)
    stored = sandbox.messages("smsworks")
    assert len(stored) == 2  # under one key: the rejected one, and the one sent
    assert [s.outcome for s in stored].count("REJECTED") == 1
    assert receipt_of(resolved).message_id == stored[1].id


async def test_a_found_message_the_provider_rejected_is_failed_not_accepted():
    gateway = FakeGateway()
    gateway.fail(ProviderUnavailable(provider="fake", http_status=500), after_accepting=True)
    gateway.script(number(1), DeliveryStatus.REJECTED)
    outcome = await try_send(gateway, Message(number(1), "Hi"))
    await gateway.status("fake-1")  # the provider's record moves on: it rejected the message

    [resolved] = await resolve(gateway, [outcome], patience=0)

    assert resolved.status is F
    assert "logged as rejected" in str(resolved.error)
    assert isinstance(resolved.error, GatewayError)
    assert resolved.error.maybe_sent is False


async def test_find_with_keys_off_says_so_for_an_outcome_too(sandbox):
    config = sandbox.config("smsworks") | {"idempotency_keys": False}
    async with smsgate.from_config(config) as gateway:
        assert isinstance(gateway, SmsWorksGateway)
        sandbox.inject("smsworks", "500")
        outcome = await try_send(gateway, Message(number(1), "Hi"))
        with pytest.raises(UnsupportedFeature, match="idempotency_keys off"):
            await gateway.find(outcome)
