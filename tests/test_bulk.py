import asyncio
import gc
import itertools
import re
import weakref
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from aioresponses import CallbackResult

from smsgate import (
    BatchingGateway,
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    GatewayError,
    InvalidRequest,
    Message,
    NotFound,
    Outcome,
    OutcomeStatus,
    Progress,
    ProviderUnavailable,
    RateLimited,
    Receipt,
    TransportError,
    UnsupportedFeature,
    ValidationError,
    send_all,
    send_many,
)
from smsgate.gateway import announce_dispatch
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.testing import FakeGateway
from tests.support.bulk import cancel_after
from tests.support.mocking import sent_json
from tests.support.outcomes import message_of
from tests.support.providers import SMSSCHEDULER, SMSWORKS

WORKS, SCHEDULER = SMSWORKS.base, SMSSCHEDULER.base
TOKEN, fixture = SMSWORKS.token, SMSWORKS.fixture


def number(i: int) -> str:
    return f"+4477009{i:05d}"


def messages(n: int, text: str = "Hi {i}") -> list[Message]:
    return [Message(number(i), text.format(i=i), reference=f"r{i}") for i in range(n)]


async def collect(run):
    return [outcome async for outcome in run]


class SlowGateway(FakeGateway):
    """A fake whose sends take time, and which records how many run at once."""

    def __init__(self, delay: float = 0.01, **options):
        super().__init__(**options)
        self.delay = delay
        self.running = 0
        self.most = 0

    async def send(self, message):
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.delay)
            return await super().send(message)
        finally:
            self.running -= 1


# === every input gets one outcome =================================================================


async def test_every_input_gets_exactly_one_outcome_with_its_index_and_reference():
    gateway = FakeGateway()
    outcomes = await collect(send_many(gateway, messages(50), concurrency=4))
    assert sorted(o.index for o in outcomes) == list(range(50))
    assert all(o.status is OutcomeStatus.ACCEPTED for o in outcomes)
    assert all(o.reference == f"r{o.index}" for o in outcomes)
    assert all(o.receipt.to == number(o.index) for o in outcomes)
    assert len(gateway.outbox) == 50


async def test_input_may_be_a_list_an_iterator_or_an_async_iterator():
    async def stream():
        for message in messages(5):
            await asyncio.sleep(0)
            yield message

    for source in (messages(5), iter(messages(5)), (m for m in messages(5)), stream()):
        summary = await send_all(FakeGateway(), source)
        assert summary.accepted == 5


async def test_with_one_request_at_a_time_outcomes_come_in_input_order():
    outcomes = await collect(send_many(FakeGateway(), messages(20), concurrency=1))
    assert [o.index for o in outcomes] == list(range(20))


async def test_an_empty_input_gives_no_outcomes():
    summary = await send_all(FakeGateway(), [])
    assert (summary.total, summary.accepted) == (0, 0)


# === bad input fails alone ========================================================================


async def test_mappings_become_messages_in_the_gateways_region():
    rows = [{"to": "07700 900123", "text": "Hi", "reference": "a", "metadata": {"k": "v"}}]
    [outcome] = await collect(send_many(FakeGateway(default_region="GB"), rows))
    assert outcome.status is OutcomeStatus.ACCEPTED
    assert outcome.message.to == "+447700900123"
    assert (outcome.reference, dict(outcome.receipt.metadata)) == ("a", {"k": "v"})


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"to": "not a number", "text": "x", "reference": "bad"}, "to"),
        ({"to": "07700 900123", "text": "   ", "reference": "bad"}, "text"),
        ({"to": "07700 900123", "reference": "bad"}, "text"),
        ({"text": "x", "reference": "bad"}, "to"),
        ({"to": "07700 900123", "text": "x", "colour": "red", "reference": "bad"}, "message"),
        (42, "message"),
    ],
)
async def test_an_invalid_input_fails_alone_before_any_request(bad, field):
    gateway = FakeGateway(default_region="GB")
    items = [*messages(3), bad, *messages(3)]
    outcomes = {o.index: o for o in await collect(send_many(gateway, items))}
    assert len(outcomes) == 7
    failed = outcomes[3]
    assert failed.status is OutcomeStatus.FAILED
    assert isinstance(failed.error, ValidationError)
    assert failed.error.field == field
    assert failed.reference == ("bad" if isinstance(bad, dict) else None)
    assert len(gateway.outbox) == 6


async def test_a_message_the_provider_cannot_take_fails_alone_before_any_request(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    items = [*messages(2), Message(number(9), "x", sender="Not Valid"), *messages(2)]
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        outcomes = {o.index: o for o in await collect(send_many(gateway, items))}
    assert outcomes[2].status is OutcomeStatus.FAILED
    assert outcomes[2].error.field == "sender"
    [call] = mock_http.requests[("POST", smsgate_url(WORKS, "/batch/any"))]
    assert len(sent_json(call.kwargs)) == 4


async def test_without_any_sender_only_the_messages_lacking_one_fail_and_the_rest_are_sent(
    mock_http,
):
    """The gateway has no default sender: each message without its own fails alone, before
    any request, however the checked senders alternate."""
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    items = [Message(number(i), "Hi", sender="Acme" if i % 2 else None) for i in range(8)]
    async with SmsWorksGateway(token=TOKEN) as gateway:
        outcomes = {o.index: o for o in await collect(send_many(gateway, items))}
    assert [outcomes[i].status for i in range(8)] == [
        OutcomeStatus.ACCEPTED if i % 2 else OutcomeStatus.FAILED for i in range(8)
    ]
    assert {outcomes[i].error.field for i in range(0, 8, 2)} == {"sender"}
    [call] = mock_http.requests[("POST", smsgate_url(WORKS, "/batch/any"))]
    assert [item["destination"] for item in sent_json(call.kwargs)] == [
        number(i)[1:] for i in range(1, 8, 2)
    ]


async def test_send_all_raises_a_failing_source_and_accounts_for_every_input_read():
    def rows():
        yield from messages(5)
        raise RuntimeError("the CSV file is truncated")

    gateway = FakeGateway()
    run = send_many(gateway, rows())
    with pytest.raises(RuntimeError, match="truncated"):
        async with run:
            await run._drain()  # what send_all does
    assert (run.summary.total, run.summary.accepted) == (5, 5)
    assert len(gateway.outbox) == 5
    with pytest.raises(RuntimeError, match="truncated"):
        await send_all(FakeGateway(), rows())


def smsgate_url(base, path):
    from yarl import URL

    return URL(base + path)


# === failures are isolated ========================================================================


async def test_a_provider_error_fails_only_its_message():
    gateway = FakeGateway()
    gateway.fail(RateLimited(provider="fake", http_status=429), to=number(3))
    outcomes = {o.index: o for o in await collect(send_many(gateway, messages(10)))}
    assert outcomes[3].status is OutcomeStatus.FAILED
    assert isinstance(outcomes[3].error, RateLimited)
    assert sum(o.status is OutcomeStatus.ACCEPTED for o in outcomes.values()) == 9


@pytest.mark.parametrize(
    ("maybe_sent", "status"), [(True, OutcomeStatus.UNCERTAIN), (False, OutcomeStatus.FAILED)]
)
async def test_a_transport_error_is_uncertain_exactly_when_it_may_have_sent(maybe_sent, status):
    gateway = FakeGateway()
    gateway.fail(TransportError("lost", provider="fake", maybe_sent=maybe_sent), to=number(0))
    outcomes = {o.index: o for o in await collect(send_many(gateway, messages(3)))}
    assert outcomes[0].status is status
    assert outcomes[0].error.maybe_sent is maybe_sent


async def test_an_adapters_own_bug_after_its_request_is_uncertain_and_does_not_stop_the_run():
    class Buggy(FakeGateway):
        async def send(self, message):
            receipt = await super().send(message)
            if message.to == number(1):
                raise KeyError("messageid")  # reading the answer failed: the message went out
            return receipt

    gateway = Buggy()
    summary = await send_all(gateway, messages(4))
    assert (summary.accepted, summary.uncertain) == (3, 1)
    [uncertain] = summary.uncertainties
    assert isinstance(uncertain.error, GatewayError)
    assert "KeyError" in str(uncertain.error)
    assert number(1) in [m.to for m in gateway.outbox]  # uncertain, and indeed sent


async def test_an_adapters_own_bug_before_its_request_leaves_is_a_failure():
    class Buggy(FakeGateway):
        async def send(self, message):
            if message.to == number(1):
                raise KeyError("sender")  # building the request failed: nothing left
            return await super().send(message)

    gateway = Buggy()
    summary = await send_all(gateway, messages(4))
    assert (summary.accepted, summary.failed, summary.uncertain) == (3, 1, 0)
    assert number(1) not in [m.to for m in gateway.outbox]


async def test_a_failing_input_stops_reading_but_every_read_message_gets_its_outcome():
    def rows():
        yield from messages(5)
        raise RuntimeError("the CSV file is truncated")

    seen = []

    async def consume():
        async for outcome in send_many(FakeGateway(), rows()):
            seen.append(outcome.index)

    with pytest.raises(RuntimeError, match="truncated"):
        await consume()
    assert sorted(seen) == [0, 1, 2, 3, 4]


# === concurrency and memory =======================================================================


async def test_requests_in_flight_never_exceed_the_concurrency():
    gateway = SlowGateway(delay=0.005)
    summary = await send_all(gateway, messages(60), concurrency=5)
    assert summary.accepted == 60
    assert gateway.most == 5


async def test_a_huge_generator_is_read_only_as_far_as_it_is_consumed():
    read = 0

    def endless():
        nonlocal read
        for i in itertools.count():
            read += 1
            yield Message(number(i % 90000), "Hi")

    taken = 0
    async with send_many(FakeGateway(), endless(), concurrency=4) as run:
        async for _ in run:
            taken += 1
            if taken == 200:
                break
    # Held at most: concurrency x chunk size (1 without batching), plus what is being handed on.
    assert read <= taken + 4 + 2


async def test_messages_held_by_a_batching_run_stay_within_concurrency_times_chunk_size(mock_http):
    read = 0

    def endless():
        nonlocal read
        for i in itertools.count():
            read += 1
            yield Message(number(i % 90000), f"Hi {i}")

    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    taken = 0
    gateway = SmsWorksGateway(token=TOKEN, sender="Acme")
    async with gateway, send_many(gateway, endless(), concurrency=2, chunk_size=100) as run:
        async for _ in run:
            taken += 1
            if taken == 1000:
                break
    assert read <= taken + 2 * 100 + 2


# === progress and summary =========================================================================


async def test_progress_reports_running_counts_after_each_request():
    seen: list[Progress] = []
    gateway = FakeGateway()
    gateway.fail(RateLimited(provider="fake", http_status=429), to=number(7))
    summary = await send_all(gateway, messages(30), concurrency=3, on_progress=seen.append)
    assert len(seen) == 30
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    last = seen[-1]
    assert (last.read, last.accepted, last.failed, last.uncertain) == (30, 29, 1, 0)
    assert (summary.accepted, summary.failed) == (29, 1)
    assert last.elapsed >= 0


async def test_the_summary_counts_reasons_and_keeps_the_first_failures():
    gateway = FakeGateway()
    gateway.fail(RateLimited(provider="fake", http_status=429), times=None)
    summary = await send_all(gateway, messages(30), keep=5)
    assert summary.failed == 30
    assert summary.reasons == {"provider_error": 30}
    assert len(summary.failures) == 5
    assert summary.total == 30


# === cancelling ===================================================================================


class Counted:
    """A source that counts the inputs taken from it."""

    def __init__(self, items):
        self.items, self.taken = items, 0

    def __iter__(self):
        for item in self.items:
            self.taken += 1
            yield item


class InFlightGateway(FakeGateway):
    """A fake whose requests leave at once and are answered (and accepted) after a delay."""

    def __init__(self, delay: float = 0.05, **options):
        super().__init__(**options)
        self.delay = delay
        self.left: list[str] = []

    async def send(self, message):
        await announce_dispatch(keyed=True)
        self.left.append(message.to)
        await asyncio.sleep(self.delay)
        return await super().send(message)


async def test_cancelling_accounts_for_every_input_taken_with_the_exact_split():
    gateway = InFlightGateway(delay=0.05)
    source = Counted(messages(10_000))
    run = send_many(gateway, source, concurrency=4)
    seen, took = await cancel_after(run, 12)
    assert took < 1.0
    summary = run.summary
    outcomes = seen + summary.unseen
    assert sorted(o.index for o in outcomes) == list(range(source.taken))
    assert summary.total == source.taken
    accepted = {message_of(o).to for o in outcomes if o.status is OutcomeStatus.ACCEPTED}
    uncertain = {message_of(o).to for o in outcomes if o.status is OutcomeStatus.UNCERTAIN}
    unsent = {message_of(o).to for o in outcomes if o.status is OutcomeStatus.UNSENT}
    assert accepted == {m.to for m in gateway.outbox}  # what the provider took, exactly
    # The four requests in flight left, and had no answer: uncertain, each of them.
    assert uncertain == set(gateway.left) - accepted
    assert summary.uncertain == 4
    # Everything else was read but never left.
    assert unsent.isdisjoint(gateway.left)
    assert summary.unsent == source.taken - summary.accepted - 4
    assert sorted(o.index for o in summary.unsent_inputs) == sorted(
        o.index for o in outcomes if o.status is OutcomeStatus.UNSENT
    )


async def test_cancelling_before_requests_leave_leaves_them_unsent():
    gateway = SlowGateway(delay=0.05)  # waits before its request leaves
    source = Counted(messages(10_000))
    run = send_many(gateway, source, concurrency=4)
    await cancel_after(run, 12)
    summary = run.summary
    assert summary.total == source.taken
    assert summary.accepted == len(gateway.outbox)
    assert summary.uncertain == 0  # none of the four waiting requests had left
    assert summary.unsent == source.taken - summary.accepted == 4


async def test_closing_early_with_async_with_cancels_requests_in_flight():
    gateway = SlowGateway(delay=0.05)
    async with send_many(gateway, messages(100), concurrency=3) as run:
        async for _ in run:
            break
    await asyncio.sleep(0.1)
    sent = len(gateway.outbox)
    await asyncio.sleep(0.1)
    assert len(gateway.outbox) == sent  # nothing more goes out after the block
    assert run.summary.total == 1 + len(run.summary.unseen)


# === arguments ====================================================================================


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"at": datetime(2031, 1, 1)}, "at"),
        ({"at": datetime(2021, 1, 1, tzinfo=UTC)}, "at"),
    ],
)
def test_bad_arguments_are_refused_at_once(options, field):
    with pytest.raises(ValidationError) as caught:
        send_many(FakeGateway(), [], **options)
    assert caught.value.field == field


async def test_a_whole_run_can_be_scheduled():
    at = datetime.now(UTC) + timedelta(days=1)
    outcomes = await collect(send_many(FakeGateway(), messages(5), at=at))
    assert {o.receipt.status for o in outcomes} == {DeliveryStatus.SCHEDULED}
    assert {o.receipt.scheduled_at for o in outcomes} == {at}


# === The SMS Works: batch endpoints ===============================================================


def test_both_adapters_can_batch():
    assert isinstance(SmsWorksGateway(token=TOKEN), BatchingGateway)
    assert isinstance(SmsSchedulerGateway(token="t"), BatchingGateway)
    assert not isinstance(FakeGateway(), BatchingGateway)


def batch_sizes(mocked, base, path):
    calls = mocked.requests.get(("POST", smsgate_url(base, path)), [])
    sizes = []
    for call in calls:
        body = sent_json(call.kwargs)
        sizes.append(
            len(body)
            if isinstance(body, list)
            else len(body.get("destinations") or body["phone_numbers"])
        )
    return sizes


async def test_distinct_messages_go_in_chunks_of_5000_through_batch_any(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    mock_http.post(WORKS + "/message/send", status=201, payload=fixture("send"))
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        outcomes = {o.index: o for o in await collect(send_many(gateway, messages(5001)))}
    assert batch_sizes(mock_http, WORKS, "/batch/any") == [5000]
    assert len(outcomes) == 5001
    in_batch, alone = outcomes[0].receipt, outcomes[5000].receipt
    assert (in_batch.message_id, in_batch.batch_id) == (None, "2586749")
    # the last, alone in its chunk, goes through /message/send and gets an id of its own
    assert (alone.message_id, alone.batch_id) == ("5b4ce5ba2b1e7a3a8c2a8d51", None)


async def test_chunk_size_can_be_smaller(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        summary = await send_all(gateway, messages(1000), chunk_size=250, concurrency=2)
    assert summary.accepted == 1000
    assert batch_sizes(mock_http, WORKS, "/batch/any") == [250] * 4


async def test_one_text_to_many_goes_through_batch_any_with_a_key_for_each(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    items = messages(300, text="Sale now on")
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        outcomes = await collect(send_many(gateway, items))
    assert batch_sizes(mock_http, WORKS, "/batch/any") == [300]
    [call] = mock_http.requests[("POST", smsgate_url(WORKS, "/batch/any"))]
    body = sent_json(call.kwargs)
    assert [item["metadata"] for item in body] == [
        [{"key": "smsgate_key", "value": m.key}] for m in items
    ]
    assert {o.key for o in outcomes} == {m.key for m in items}


async def test_without_keys_one_text_to_many_goes_through_batch_send(mock_http):
    mock_http.post(WORKS + "/batch/send", status=201, payload=fixture("batch"), repeat=True)
    gateway = SmsWorksGateway(token=TOKEN, sender="Acme", idempotency_keys=False)
    async with gateway:
        outcomes = await collect(send_many(gateway, messages(300, text="Sale now on")))
    assert batch_sizes(mock_http, WORKS, "/batch/send") == [300]
    assert {o.key for o in outcomes} == {None}


async def test_flash_messages_go_on_their_own(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"), repeat=True)
    mock_http.post(WORKS + "/message/flash", status=201, payload=fixture("flash"), repeat=True)
    flash = Message(number(99), "Now!", provider_options={"smsworks": {"flash": True}})
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        summary = await send_all(gateway, [*messages(3), flash])
    assert summary.accepted == 4
    assert batch_sizes(mock_http, WORKS, "/batch/any") == [3]


async def test_a_scheduled_run_uses_batch_schedule_per_text(mock_http):
    mock_http.post(WORKS + "/batch/schedule", status=201, payload=fixture("batch"), repeat=True)
    at = datetime.now(UTC) + timedelta(days=1)
    items = messages(4, text="A") + messages(3, text="B")
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        summary = await send_all(gateway, items, at=at)
    assert summary.accepted == 7
    assert sorted(batch_sizes(mock_http, WORKS, "/batch/schedule")) == [3, 4]


def refuse_bad_destinations(mocked, bad: set[str]):
    """Answer /batch/any and /message/send, refusing any request with a bad destination."""
    requests = []

    def answer(url, **kwargs):
        body = sent_json(kwargs)
        items = body if isinstance(body, list) else [body]
        requests.append(len(items))
        if any(item["destination"] in bad for item in items):
            refused = {"message": "Invalid destination", "errorCode": 4004}
            return CallbackResult(status=400, payload=refused)
        return CallbackResult(
            status=201, payload=fixture("batch") if isinstance(body, list) else fixture("send")
        )

    for path in ("/batch/any", "/message/send"):
        mocked.post(WORKS + path, callback=answer, repeat=True)
    return requests


async def test_a_batch_refused_for_one_message_is_split_until_it_is_isolated(mock_http):
    requests = refuse_bad_destinations(mock_http, {number(137)[1:]})
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        outcomes = {o.index: o for o in await collect(send_many(gateway, messages(1000)))}
    assert outcomes[137].status is OutcomeStatus.FAILED
    assert outcomes[137].error.reason is FailureReason.INVALID_RECIPIENT
    assert sum(o.status is OutcomeStatus.ACCEPTED for o in outcomes.values()) == 999
    assert len(requests) <= 1 + 2 * 10  # log2(1000) levels, two requests each


async def test_splitting_a_batch_of_bad_messages_stops_within_its_budget(mock_http):
    requests = refuse_bad_destinations(mock_http, {number(i)[1:] for i in range(1000)})
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        summary = await send_all(gateway, messages(1000))
    assert summary.failed == 1000
    assert summary.reasons == {"invalid_recipient": 1000}
    assert len(requests) <= 1 + 4 * 10


async def test_an_error_on_one_chunk_never_stops_the_others(mock_http):
    answers = iter([CallbackResult(status=503, payload={"message": "down", "errorCode": 5001})])

    def answer(url, **kwargs):
        return next(answers, CallbackResult(status=201, payload=fixture("batch")))

    mock_http.post(WORKS + "/batch/any", callback=answer, repeat=True)
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        summary = await send_all(gateway, messages(400), chunk_size=100, concurrency=1)
    assert (summary.accepted, summary.failed) == (300, 100)
    assert isinstance(summary.failures[0].error, ProviderUnavailable)


async def test_a_batch_messages_status_is_found_through_its_batch(mock_http):
    mock_http.post(WORKS + "/batch/any", status=201, payload=fixture("batch"))
    mock_http.get(WORKS + "/batch/2586749", payload=fixture("batch_messages"), repeat=True)
    items = [Message("+447700900123", "A", reference="a"), Message("+447700900999", "B")]
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as gateway:
        outcomes = sorted(await collect(send_many(gateway, items)), key=lambda o: o.index)
        report = await gateway.status(outcomes[0].receipt)
        assert (report.message_id, report.status, report.reference) == (
            "m-1",
            DeliveryStatus.DELIVERED,
            "a",
        )
        with pytest.raises(NotFound, match=r"no message to \+447700900999 is listed"):
            await gateway.status(outcomes[1].receipt)
        with pytest.raises(UnsupportedFeature, match="cancel_batch"):
            await gateway.cancel(outcomes[0].receipt)


# === SMS Scheduler: one POST /sms per group =======================================================


def scheduler_answers():
    """Answer POST /sms with an SMS id per number, as the provider would."""
    requests = []
    ids = itertools.count(1000)

    def answer(url, **kwargs):
        body = sent_json(kwargs)
        requests.append(body)
        return CallbackResult(
            payload={
                "message_id": len(requests),
                "sms_ids": {n: [next(ids)] for n in body["phone_numbers"]},
            }
        )

    return answer, requests


async def test_messages_sharing_text_and_sender_share_one_request(mock_http):
    answer, requests = scheduler_answers()
    mock_http.post(re.compile(re.escape(SCHEDULER) + "/sms$"), callback=answer, repeat=True)
    texts = ["Hello", "Bonjour", "Hallo"]
    items = [Message(number(i), texts[i % 3], reference=str(i)) for i in range(300)]
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        outcomes = await collect(send_many(gateway, items))
    assert len(outcomes) == 300
    assert all(o.status is OutcomeStatus.ACCEPTED for o in outcomes)
    assert sorted((r["message_text"], len(r["phone_numbers"])) for r in requests) == [
        ("Bonjour", 100),
        ("Hallo", 100),
        ("Hello", 100),
    ]
    receipt = next(o.receipt for o in outcomes if o.index == 4)
    assert (receipt.to, receipt.reference) == (number(4), "4")
    assert len({o.receipt.message_id for o in outcomes}) == 300


async def test_grouping_holds_no_more_than_concurrency_times_chunk_size(mock_http):
    answer, requests = scheduler_answers()
    mock_http.post(re.compile(re.escape(SCHEDULER) + "/sms$"), callback=answer, repeat=True)
    texts = ["Hello", "Bonjour", "Hallo"]
    items = [Message(number(i), texts[i % 3]) for i in range(1200)]
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        summary = await send_all(gateway, items, concurrency=2, chunk_size=100)
    assert summary.accepted == 1200
    # 200 messages held at most: groups are sent early, never more than 100 numbers each,
    # and each request still carries one text.
    assert sum(len(r["phone_numbers"]) for r in requests) == 1200
    assert all(len(r["phone_numbers"]) <= 100 for r in requests)
    assert len(requests) <= 1200 // 50


async def test_groups_are_cut_at_500_numbers(mock_http):
    answer, requests = scheduler_answers()
    mock_http.post(re.compile(re.escape(SCHEDULER) + "/sms$"), callback=answer, repeat=True)
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        summary = await send_all(gateway, messages(1200, text="Same"))
    assert summary.accepted == 1200
    assert sorted(len(r["phone_numbers"]) for r in requests) == [200, 500, 500]


async def test_a_number_listed_twice_gets_its_ids_in_turn(mock_http):
    mock_http.post(SCHEDULER + "/sms", payload={"message_id": 5, "sms_ids": {number(1): [11, 12]}})
    items = [Message(number(1), "Hi", reference="a"), Message(number(1), "Hi", reference="b")]
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        outcomes = await collect(send_many(gateway, items))
    assert sorted((o.reference, o.receipt.message_id) for o in outcomes) == [
        ("a", "11"),
        ("b", "12"),
    ]


async def test_a_scheduled_run_without_a_time_zone_ends_before_any_request(mock_http):
    at = datetime.now(UTC) + timedelta(days=1)
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        run = send_many(gateway, messages(10), at=at)
        with pytest.raises(ConfigurationError, match="set timezone"):
            await collect(run)
    assert mock_http.requests == {}
    assert run.summary.unsent == 1


async def test_a_group_refused_for_one_number_is_split(mock_http):
    bad = number(5)

    def answer(url, **kwargs):
        body = sent_json(kwargs)
        if bad in body["phone_numbers"]:
            return CallbackResult(
                status=400,
                payload={
                    "errors": {"phone_numbers": [f"The following phone number is invalid: {bad}"]}
                },
            )
        return CallbackResult(
            payload={"message_id": 1, "sms_ids": dict.fromkeys(body["phone_numbers"], 7)}
        )

    mock_http.post(SCHEDULER + "/sms", callback=answer, repeat=True)
    async with SmsSchedulerGateway(token="t", sender_id=1) as gateway:
        outcomes = {o.index: o for o in await collect(send_many(gateway, messages(20, "Same")))}
    assert outcomes[5].status is OutcomeStatus.FAILED
    assert isinstance(outcomes[5].error, InvalidRequest)
    assert bad in str(outcomes[5].error)
    assert sum(o.status is OutcomeStatus.ACCEPTED for o in outcomes.values()) == 19


async def test_messages_sent_are_let_go_though_their_request_left_a_timer_behind():
    """A request leaves timers behind (its timeout, cancelled, which asyncio keeps until its
    time), with a copy of the context the request ran in; what the run heard the request
    with must not keep the request's messages alive through it."""
    loop = asyncio.get_running_loop()

    class Timing(FakeGateway):
        batch_limit = 10

        def batch_key(self, message, at):
            return "all"

        async def send_chunk(self, chunk, at):
            loop.call_later(3600, lambda: None).cancel()  # as a request's timeout does
            await announce_dispatch(keyed=True)
            # (Receipts of its own: the fake provider keeps what it is sent.)
            return [
                Receipt(provider="fake", message_id=None, to=m.to, status=DeliveryStatus.QUEUED)
                for m in chunk
            ]

    alive: list[weakref.ref[Message]] = []

    def messages():
        for i in range(30):
            message = Message(f"+4477009001{i:02d}", "Hi")
            alive.append(weakref.ref(message))
            yield message

    # A timer due sooner keeps the cancelled ones in the loop's heap, as a busy loop's do.
    sooner = loop.call_later(60, lambda: None)
    summary = await send_all(Timing(), messages(), chunk_size=10)
    gc.collect()
    sooner.cancel()

    assert summary.accepted == 30
    assert [m for m in alive if m() is not None] == []


def test_an_accepted_outcome_is_made_as_outcome_of_makes_it():
    from smsgate.bulk._core import accepted, outcome_of

    message = Message("+447700900123", "Hi", reference="r")
    receipt = Receipt(
        provider="smsworks", message_id=None, to=message.to, status=DeliveryStatus.SENT, key="k"
    )

    made = accepted(4, message, receipt)

    usual = outcome_of(4, OutcomeStatus.ACCEPTED, message, receipt=receipt, key="k")
    assert type(made) is Outcome
    assert attrs.astuple(made, recurse=False) == attrs.astuple(usual, recurse=False)
