"""Following statuses by asking: wait_for_final and track."""

import asyncio
import itertools
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

import smsgate
from smsgate import (
    AuthenticationError,
    DeliveryStatus,
    NotFound,
    ProviderUnavailable,
    RateLimited,
    Receipt,
    StatusReport,
    StatusTimeout,
    ValidationError,
    track,
    wait_for_final,
)
from smsgate.testing import FakeGateway
from tests.support.mocking import recorded
from tests.support.providers import SMSSCHEDULER, SMSWORKS
from tests.support.tracking import Polling

S = DeliveryStatus
TO = "+447700900123"
FAST: Polling = {"interval": 0.01, "max_interval": 0.02}


class Watched:
    """Wraps a gateway; records when each status request starts and how many run at once."""

    def __init__(self, gateway: FakeGateway, delay: float = 0.0) -> None:
        self.gateway = gateway
        self.delay = delay
        self.started: list[float] = []
        self.running = 0
        self.most_running = 0

    async def status(self, ref):
        self.started.append(asyncio.get_running_loop().time())
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            return await self.gateway.status(ref)
        finally:
            self.running -= 1

    def __getattr__(self, name):
        return getattr(self.gateway, name)


@pytest.fixture
async def fake():
    async with FakeGateway() as gateway:
        yield gateway


async def sent(fake: FakeGateway, to: str = TO, *steps) -> Receipt:
    if steps:
        fake.script(to, *steps)
    return await fake.send(fake.message(to, "Hi"))


async def collected(tracker) -> list[StatusReport]:
    async with asyncio.timeout(10):
        return [report async for report in tracker]


# --- each change once ----------------------------------------------------------------------


async def test_each_change_of_status_is_yielded_once(fake):
    receipt = await sent(fake, TO, S.QUEUED, S.SENT, S.SENT, S.DELIVERED)
    tracker = track(fake, [receipt], **FAST)

    reports = await collected(tracker)

    assert [r.status for r in reports] == [S.SENT, S.DELIVERED]
    assert tracker.latest == {receipt: reports[-1]}
    assert (tracker.unfinished, tracker.errors) == ([], {})


async def test_reports_carry_the_receipts_reference(fake):
    fake.script(TO, S.DELIVERED)
    receipt = await fake.send(fake.message(TO, "Hi", reference="order-17"))

    [report] = await collected(track(fake, [receipt], **FAST))

    assert (report.reference, report.status) == ("order-17", S.DELIVERED)


async def test_a_bare_id_yields_its_first_status_too(fake):
    receipt = await sent(fake, TO, S.QUEUED, S.DELIVERED)
    assert receipt.message_id is not None

    reports = await collected(track(fake, [receipt.message_id], **FAST))

    assert [r.status for r in reports] == [S.QUEUED, S.DELIVERED]


async def test_a_message_already_final_is_asked_about_once(fake):
    receipt = await sent(fake, TO, S.DELIVERED)
    watched = Watched(fake)

    reports = await collected(track(watched, [receipt], **FAST))

    assert [r.status for r in reports] == [S.DELIVERED]
    assert len(watched.started) == 1


async def test_many_messages_are_followed_with_at_most_concurrency_requests_at_once(fake):
    receipts = [await sent(fake, f"+4477009001{n:02}", S.SENT, S.DELIVERED) for n in range(40)]
    watched = Watched(fake, delay=0.005)
    tracker = track(watched, receipts, concurrency=5, **FAST)

    reports = await collected(tracker)

    assert watched.most_running == 5
    assert len(reports) == 80
    assert {r.to: r.status for r in reports} == {r.to: S.DELIVERED for r in receipts}
    assert len(watched.started) == 80


async def test_a_repeated_ref_is_followed_once(fake):
    receipt = await sent(fake, TO, S.DELIVERED)
    watched = Watched(fake)

    await collected(track(watched, [receipt, receipt], **FAST))

    assert len(watched.started) == 1


# --- pacing --------------------------------------------------------------------------------


async def test_looks_slow_down_while_nothing_changes(fake):
    receipt = await sent(fake)  # stays QUEUED
    watched = Watched(fake)

    await collected(track(watched, [receipt], interval=0.02, max_interval=0.08, timeout=0.5))

    gaps = [b - a for a, b in itertools.pairwise(watched.started)]
    assert [
        round(g, 2) >= want for g, want in zip(gaps[:4], [0.02, 0.04, 0.08, 0.08], strict=True)
    ] == [True] * 4
    assert max(gaps) < 0.2  # never beyond max_interval (with room for a slow machine)


async def test_after_a_change_the_next_look_comes_soon_again(fake):
    receipt = await sent(fake, TO, S.QUEUED, S.QUEUED, S.QUEUED, S.SENT, S.SENT, S.DELIVERED)
    watched = Watched(fake)

    await collected(track(watched, [receipt], interval=0.02, max_interval=0.16))

    gaps = [b - a for a, b in itertools.pairwise(watched.started)]
    assert gaps[2] >= 0.075  # three quiet looks: 0.02, 0.04, 0.08
    assert gaps[3] < 0.075  # SENT was new, so back to 0.02


async def test_time_running_out_ends_the_tracking_with_the_unfinished_listed(fake):
    done = await sent(fake, TO, S.DELIVERED)
    stuck = await sent(fake, "+447700900456")
    loop = asyncio.get_running_loop()
    start = loop.time()

    tracker = track(fake, [done, stuck], interval=0.01, max_interval=0.02, timeout=0.2)
    reports = await collected(tracker)

    assert 0.2 <= loop.time() - start < 2
    assert [r.to for r in reports] == [done.to]
    assert tracker.unfinished == [stuck]
    assert tracker.latest[stuck].status is S.QUEUED


# --- failures ------------------------------------------------------------------------------


async def test_a_failure_that_may_pass_is_asked_again(fake):
    receipt = await sent(fake, TO, S.DELIVERED)
    fake.fail(ProviderUnavailable(provider="fake", http_status=503), operation="status", times=2)

    reports = await collected(track(fake, [receipt], **FAST))

    assert [r.status for r in reports] == [S.DELIVERED]


async def test_a_rate_limit_is_waited_out(fake):
    receipt = await sent(fake, TO, S.DELIVERED)
    fake.fail(RateLimited(provider="fake", http_status=429, retry_after=0.15), operation="status")
    watched = Watched(fake)

    await collected(track(watched, [receipt], **FAST))

    assert len(watched.started) == 2
    assert watched.started[1] - watched.started[0] >= 0.15


async def test_a_lasting_failure_stops_that_message_only(fake):
    bad = await sent(fake, TO, S.DELIVERED)
    good = await sent(fake, "+447700900456", S.SENT, S.DELIVERED)
    error = AuthenticationError(provider="fake", http_status=401)
    fake.fail(error, to=TO, operation="status")

    tracker = track(fake, [bad, good], **FAST)
    reports = await collected(tracker)

    assert [r.to for r in reports] == [good.to, good.to]
    assert tracker.errors == {bad: error}
    assert tracker.unfinished == []


async def test_a_receipts_message_not_listed_yet_is_asked_again(fake):
    receipt = await sent(fake, TO, S.DELIVERED)
    fake.fail(NotFound("not listed yet", provider="fake", http_status=404), operation="status")

    reports = await collected(track(fake, [receipt], **FAST))

    assert [r.status for r in reports] == [S.DELIVERED]


async def test_a_bare_id_the_provider_does_not_know_is_an_error_at_once(fake):
    tracker = track(fake, ["no-such-id"], **FAST)

    assert await collected(tracker) == []
    assert isinstance(tracker.errors["no-such-id"], NotFound)


async def test_stopping_early_cancels_the_requests_in_flight(fake):
    receipts = [await sent(fake, f"+4477009001{n:02}") for n in range(4)]
    watched = Watched(fake, delay=10)
    tracker = track(watched, receipts, concurrency=4, **FAST)
    iterator = aiter(tracker)
    assert isinstance(iterator, AsyncGenerator)

    task = asyncio.ensure_future(anext(iterator))
    await asyncio.sleep(0.05)
    assert watched.running == 4
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await iterator.aclose()

    assert watched.running == 0


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["", "   ", 42, None])
def test_a_bad_ref_is_refused_before_any_request(fake, ref):
    with pytest.raises(ValidationError) as raised:
        track(fake, [ref])

    assert raised.value.field == "ref"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"interval": 0}, "interval"),
        ({"interval": -1}, "interval"),
        ({"max_interval": "60"}, "max_interval"),
        ({"interval": 10, "max_interval": 5}, "max_interval"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
    ],
)
def test_bad_settings_are_refused(fake, options, field):
    with pytest.raises(ValidationError) as raised:
        track(fake, [], **options)

    assert raised.value.field == field


async def test_a_tracker_runs_once(fake):
    tracker = track(fake, [], **FAST)
    await collected(tracker)

    with pytest.raises(RuntimeError, match="iterated once"):
        aiter(tracker)


# --- wait_for_final ------------------------------------------------------------------------


async def test_wait_for_final_returns_the_final_report(fake):
    receipt = await sent(fake, TO, S.SENT, S.UNDELIVERED)

    async with asyncio.timeout(10):
        report = await wait_for_final(fake, receipt, **FAST)

    assert (report.status, report.to) == (S.UNDELIVERED, TO)


async def test_wait_for_final_times_out_with_the_last_status(fake):
    receipt = await sent(fake, TO, S.SENT)

    with pytest.raises(StatusTimeout, match=r"^still sent after 0\.1 seconds$") as raised:
        await wait_for_final(fake, receipt, timeout=0.1, **FAST)

    assert raised.value.report is not None
    assert raised.value.report.status is S.SENT
    assert isinstance(raised.value, TimeoutError)


async def test_wait_for_final_raises_what_stopped_it(fake):
    receipt = await sent(fake)
    error = AuthenticationError(provider="fake", http_status=401)
    fake.fail(error, operation="status")

    with pytest.raises(AuthenticationError) as raised:
        await wait_for_final(fake, receipt, **FAST)

    assert raised.value is error


async def test_wait_for_final_gives_no_status_when_none_came(fake):
    receipt = await sent(fake)
    watched = Watched(fake, delay=10)

    with pytest.raises(StatusTimeout, match=r"^no status after 0\.05 seconds$") as raised:
        await wait_for_final(watched, receipt, timeout=0.05, **FAST)

    assert raised.value.report is None


# --- against the adapters ------------------------------------------------------------------


def logged(status: str, **fields) -> dict[str, Any]:
    return {"messageid": "m-1", "status": status, "destination": 447700900123, **fields}


async def test_the_sms_works_message_is_followed_to_delivered(mock_http):
    mock_http.get(SMSWORKS.base + "/messages/m-1", payload=logged("SENT"))
    mock_http.get(SMSWORKS.base + "/messages/m-1", payload=logged("DELIVERED"))
    receipt = Receipt(provider="smsworks", message_id="m-1", to=TO, status=S.QUEUED)

    async with smsgate.connect("smsworks", token="JWT t0k3n") as gateway:
        report = await wait_for_final(gateway, receipt, **FAST)

    assert (report.status, report.provider_status) == (S.DELIVERED, "DELIVERED")


def batch_receipts(count: int, batch_id: str = "b-1") -> Sequence[Receipt]:
    return [
        Receipt(
            provider="smsworks",
            message_id=None,
            to=f"+4477009001{n:02}",
            status=S.QUEUED,
            batch_id=batch_id,
        )
        for n in range(count)
    ]


def batch_listing(receipts: Sequence[Receipt], status: str) -> list[dict[str, Any]]:
    return [
        logged(status, messageid=f"m-{n}", destination=int(r.to[1:]), batchid=r.batch_id)
        for n, r in enumerate(receipts)
    ]


async def test_the_sms_works_batch_is_asked_about_once_per_look_not_once_per_message(
    mock_http,
):
    receipts = batch_receipts(3)
    sent_list = batch_listing(receipts, "SENT")
    delivered = batch_listing(receipts, "DELIVERED")
    delivered[2]["status"] = "SENT"  # one is slower
    mock_http.get(SMSWORKS.base + "/batch/b-1", payload=sent_list)
    mock_http.get(SMSWORKS.base + "/batch/b-1", payload=delivered)
    mock_http.get(SMSWORKS.base + "/batch/b-1", payload=batch_listing(receipts, "DELIVERED"))

    async with smsgate.connect("smsworks", token="JWT t0k3n") as gateway:
        reports = await collected(track(gateway, receipts, **FAST))

    assert len(recorded(mock_http, "GET", SMSWORKS.base + "/batch/b-1")) == 3
    assert [(r.message_id, r.status) for r in reports] == [
        ("m-0", S.SENT),
        ("m-1", S.SENT),
        ("m-2", S.SENT),
        ("m-0", S.DELIVERED),
        ("m-1", S.DELIVERED),
        ("m-2", S.DELIVERED),
    ]


async def test_a_batch_message_not_listed_yet_is_asked_about_again(mock_http):
    receipts = batch_receipts(2)
    mock_http.get(SMSWORKS.base + "/batch/b-1", payload=batch_listing(receipts[:1], "DELIVERED"))
    mock_http.get(SMSWORKS.base + "/batch/b-1", payload=batch_listing(receipts, "DELIVERED"))

    async with smsgate.connect("smsworks", token="JWT t0k3n") as gateway:
        tracker = track(gateway, receipts, **FAST)
        reports = await collected(tracker)

    assert [r.to for r in reports] == [receipts[0].to, receipts[1].to]
    assert tracker.unfinished == []


async def test_an_sms_scheduler_message_is_followed_by_its_codes(mock_http):
    for code in (11, 12, 13):
        mock_http.get(SMSSCHEDULER.base + "/sms/9001", payload={"phone_number": TO, "status": code})
    receipt = Receipt(
        provider="smsscheduler", message_id="9001", to=TO, status=S.QUEUED, batch_id="77"
    )

    async with smsgate.connect("smsscheduler", token="sk-t0k3n", sender_id=1) as gateway:
        reports = await collected(track(gateway, [receipt], **FAST))

    assert [(r.status, r.provider_status) for r in reports] == [(S.SENT, 12), (S.DELIVERED, 13)]
