"""The sandbox's The SMS Works search, ``POST /messages``, as the spec's Query describes it."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.sandbox import Sandbox
from tests.support.providers import schema_errors
from tests.support.sandbox import FAST, raw


def item(i: int, text: str = "Hi", **fields):
    return {"sender": "Sandbox", "destination": f"4477009{i:05d}", "content": text, **fields}


def key(value: str):
    return [{"key": "smsgate_key", "value": value}]


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


async def search(sandbox, **query):
    status, found = await raw(sandbox, "POST", "/messages", json=query)
    assert status == 200, found
    return found


async def test_messages_keep_their_metadata_and_show_it_when_listed(sandbox):
    pairs = [{"key": "order", "value": "17"}, {"key": "smsgate_key", "value": "k-1"}]
    status, sent = await raw(sandbox, "POST", "/message/send", json=item(1, metadata=pairs))
    assert status == 201

    _, logged = await raw(sandbox, "GET", f"/messages/{sent['messageid']}")

    assert logged["metadata"] == pairs
    assert schema_errors(logged, "MessageResponse") == []
    [sms] = sandbox.messages("smsworks")
    assert sms.metadata == pairs


@pytest.mark.parametrize(
    "metadata",
    [{"key": "k", "value": "v"}, [{"key": "k"}], [{"key": "k", "value": 1}], ["k=v"]],
)
async def test_metadata_that_is_not_key_value_pairs_is_refused(sandbox, metadata):
    status, answer = await raw(sandbox, "POST", "/message/send", json=item(1, metadata=metadata))

    assert (status, answer["message"]) == (400, "metadata must be an array of {key, value} strings")
    assert sandbox.messages("smsworks") == []


async def test_a_search_by_metadata_finds_the_messages_with_every_pair_given(sandbox):
    both = [{"key": "campaign", "value": "x"}, {"key": "smsgate_key", "value": "k-2"}]
    await raw(sandbox, "POST", "/message/send", json=item(1, metadata=key("k-1")))
    await raw(sandbox, "POST", "/batch/any", json=[item(2, metadata=both), item(3)])

    one = await search(sandbox, metadata=key("k-2"))
    none = await search(sandbox, metadata=[*key("k-1"), {"key": "campaign", "value": "x"}])
    campaign = await search(sandbox, metadata=[{"key": "campaign", "value": "x"}])

    assert [m["destination"] for m in one] == [447700900002]
    assert one[0]["metadata"] == both
    assert "batchid" in one[0]
    assert none == []
    assert [m["destination"] for m in campaign] == [447700900002]
    for found in one:
        assert schema_errors(found, "MessageResponse") == []


async def test_a_search_by_destination_reads_either_form_of_a_uk_number(sandbox):
    await raw(sandbox, "POST", "/batch/any", json=[item(1), item(2), item(1, "Again")])

    international = await search(sandbox, destination="447700900001")
    national = await search(sandbox, destination="07700900001")

    assert [m["content"] for m in international] == ["Hi", "Again"]  # oldest first
    assert national == international


async def test_a_search_by_status_word_follows_the_messages(sandbox):
    await raw(sandbox, "POST", "/message/send", json=item(1))
    assert len(await search(sandbox, status="SENT")) == 1
    assert await search(sandbox, status="DELIVERED") == []

    await asyncio.sleep(0.1)
    await sandbox.settle()

    assert len(await search(sandbox, status="DELIVERED")) == 1
    assert await search(sandbox, status="SENT") == []


async def test_undeliverable_in_a_query_means_undelivered():
    async with Sandbox(seed=3, failure_rate=1, **FAST) as sandbox:
        await raw(sandbox, "POST", "/batch/any", json=[item(i) for i in range(40)])
        await asyncio.sleep(0.1)
        await sandbox.settle()
        undelivered = [s for s in sandbox.messages("smsworks") if s.outcome == "UNDELIVERED"]

        found = await search(sandbox, status="UNDELIVERABLE")
        rejected = await search(sandbox, status="REJECTED")

    assert undelivered
    assert sorted(m["messageid"] for m in found) == sorted(s.id for s in undelivered)
    assert {m["status"] for m in rejected} == {"REJECTED"}


async def test_a_search_by_date_range_uses_when_the_message_was_created(sandbox):
    await raw(sandbox, "POST", "/message/send", json=item(1))
    await asyncio.sleep(0.01)  # dates are read to the millisecond, as JavaScript reads them
    middle = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await raw(sandbox, "POST", "/message/send", json=item(2))
    hour_ago = datetime.now(UTC) - timedelta(hours=1)

    javascript = hour_ago.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (UTC)")  # as the guide shows

    after = await search(sandbox, **{"from": middle.isoformat()})
    before = await search(sandbox, to=middle.isoformat())
    since_an_hour = await search(sandbox, **{"from": javascript})
    until_an_hour = await search(sandbox, to=javascript)

    assert [m["destination"] for m in after] == [447700900002]
    assert [m["destination"] for m in before] == [447700900001]
    assert (len(since_an_hour), len(until_an_hour)) == (2, 0)


async def test_a_search_by_sender_tag_and_credits(sandbox):
    await raw(sandbox, "POST", "/message/send", json=item(1, tag="spring"))
    await raw(sandbox, "POST", "/message/send", json={**item(2), "sender": "Other"})
    await raw(sandbox, "POST", "/message/send", json=item(3, "x" * 200))

    assert [m["destination"] for m in await search(sandbox, tag="spring")] == [447700900001]
    assert [m["destination"] for m in await search(sandbox, sender="Other")] == [447700900002]
    assert [m["destination"] for m in await search(sandbox, credits=2)] == [447700900003]
    assert await search(sandbox, keyword="PIZZA") == []  # only incoming messages have one


async def test_a_search_returns_1000_at_most_and_pages_with_skip(sandbox):
    await raw(sandbox, "POST", "/batch/any", json=[item(i, f"n{i}") for i in range(2500)])

    first = await search(sandbox)
    second = await search(sandbox, skip=1000)
    third = await search(sandbox, skip=2000, limit=1000)
    small = await search(sandbox, limit=3, skip=10)
    capped = await search(sandbox, limit=5000)

    assert (len(first), len(second), len(third)) == (1000, 1000, 500)
    contents = [m["content"] for m in first + second + third]
    assert contents == [f"n{i}" for i in range(2500)]
    assert [m["content"] for m in small] == ["n10", "n11", "n12"]
    assert len(capped) == 1000


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ({"limit": -1}, "limit must be a whole number"),
        ({"skip": "2"}, "skip must be a whole number"),
        ({"status": 3}, "status must be a string"),
        ({"destination": "not a number"}, "Invalid destination number"),
        ({"from": "yesterday"}, "from must be a date"),
        ({"credits": "2"}, "credits must be a number"),
        ({"metadata": {"key": "k", "value": "v"}}, "metadata must be an array"),
    ],
)
async def test_a_bad_query_is_refused(sandbox, query, problem):
    status, answer = await raw(sandbox, "POST", "/messages", json=query)

    assert status == 400
    assert problem in answer["message"]


async def test_a_search_needs_the_token(sandbox):
    assert await raw(sandbox, "POST", "/messages", json={}, auth="JWT forged") == (
        401,
        {"message": "Not authenticated", "errorCode": 4011, "status": "401", "permanent": True},
    )
