"""Bulk sends over a real HTTP server on 127.0.0.1 (benchmarks/server.py)."""

import pytest

from benchmarks.server import COUNTS, make_app
from smsgate import Message, OutcomeStatus, send_all, send_many
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from tests.support.bulk import cancel_after
from tests.support.outcomes import receipt_of


def number(i: int) -> str:
    return f"+4477009{i:05d}"


@pytest.fixture
async def provider(web_server):
    async def start(**options):
        app = make_app(**options)
        server = await web_server(app)
        return str(server.make_url("")).rstrip("/"), app[COUNTS]

    return start


async def test_20000_distinct_messages_go_in_four_batches_with_no_duplicate(provider):
    base, counts = await provider()
    rows = (
        {"to": number(i), "text": f"Your code is {i}", "reference": str(i)} for i in range(20_000)
    )
    async with SmsWorksGateway(token="JWT t", sender="Acme", base_url=base + "/v1") as gateway:
        summary = await send_all(gateway, rows, concurrency=4)
    assert summary.accepted == 20_000
    assert counts.requests == {"/v1/batch/any": 4}
    assert counts.messages["/v1/batch/any"] == 20_000
    assert counts.duplicates == 0
    assert len(counts.destinations) == 20_000


async def test_single_sends_keep_to_the_concurrency(provider):
    base, counts = await provider(delay=0.005)
    messages = [
        Message(number(i), "Hi", provider_options={"smsworks": {"ttl": 5}}) for i in range(300)
    ]

    class Single(SmsWorksGateway):
        batch_limit = 1  # every message in its own request

    async with Single(token="JWT t", sender="Acme", base_url=base + "/v1") as gateway:
        summary = await send_all(gateway, messages, concurrency=10)
    assert summary.accepted == 300
    assert counts.requests == {"/v1/message/send": 300}
    assert counts.most_in_flight <= 10
    assert counts.duplicates == 0


async def test_sms_scheduler_groups_by_text(provider):
    base, counts = await provider()
    texts = [f"Offer {k}" for k in range(10)]
    messages = [Message(number(i), texts[i % 10]) for i in range(5_000)]
    async with SmsSchedulerGateway(token="t", sender_id=1, base_url=base + "/api/v1") as gateway:
        outcomes = [o async for o in send_many(gateway, messages, concurrency=4)]
    assert len(outcomes) == 5_000
    assert all(o.status is OutcomeStatus.ACCEPTED for o in outcomes)
    assert counts.messages["/api/v1/sms"] == 5_000
    assert counts.requests["/api/v1/sms"] <= 5_000 // 50  # grouped, not one by one
    assert len({receipt_of(o).message_id for o in outcomes}) == 5_000
    assert counts.duplicates == 0


async def test_cancelling_over_the_network_stops_promptly_and_nothing_is_sent_twice(provider):
    base, counts = await provider(delay=0.2)
    messages = [Message(number(i), f"n{i}") for i in range(2_000)]
    async with SmsWorksGateway(token="JWT t", sender="Acme", base_url=base + "/v1") as gateway:
        run = send_many(gateway, messages, concurrency=2, chunk_size=50)
        _, took = await cancel_after(run, 100)
        assert took < 1.0
    summary = run.summary
    assert summary.accepted >= 100
    assert summary.total == run._read
    assert counts.duplicates == 0
    assert counts.messages["/v1/batch/any"] <= summary.accepted + summary.uncertain
