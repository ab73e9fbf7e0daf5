"""Faults injected into the sandbox's sending requests, and its latency."""

import asyncio
import time

import aiohttp
import pytest

from smsgate import ConfigurationError
from smsgate.sandbox import FAULTS, Sandbox
from smsgate.sandbox._engine import Stage
from tests.support.sandbox import FAST, raw

WORKS_BODY = {"sender": "Sandbox", "destination": "447700900123", "content": "Hi"}
SCHEDULER_BODY = {
    "message_text": "Hi",
    "delivery_date": "2020-01-01 00:00:00",
    "sender_id": 1,
    "phone_numbers": ["+447700900123", "+447700900124"],
}


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


@pytest.mark.parametrize(
    ("fault", "stored", "status", "content_type"),
    [
        ("500", True, 500, "application/json"),
        ("502", True, 502, "text/html"),
        ("504", True, 504, "text/html"),
        ("429", False, 429, "application/json"),
        ("5002", False, 503, "application/json"),
    ],
)
async def test_smsworks_faults_answer_as_told_and_store_as_told(
    sandbox, fault, stored, status, content_type
):
    sandbox.inject("smsworks", fault)
    credits = sandbox.credits("smsworks")

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.base_url("smsworks") + "/message/send",
            json=WORKS_BODY,
            headers={"Authorization": "JWT sandbox-token"},
        ) as answer,
    ):
        body = await answer.read()
        assert (answer.status, answer.content_type) == (status, content_type)

    assert len(sandbox.messages("smsworks")) == (1 if stored else 0)
    assert sandbox.credits("smsworks") == credits - (1 if stored else 0)
    if fault == "5002":
        assert b'"errorCode": 5002' in body
    # the next request is served as usual
    assert (await raw(sandbox, "POST", "/message/send", json=WORKS_BODY))[0] == 201


async def test_5001_logs_the_message_as_rejected_never_sent_and_not_charged(sandbox):
    sandbox.inject("smsworks", "5001")
    credits = sandbox.credits("smsworks")

    status, answer = await raw(sandbox, "POST", "/batch/any", json=[WORKS_BODY, WORKS_BODY])

    assert status == 503
    assert (answer["errorCode"], answer["message"]) == (5001, "SMS Message Rejected")
    logged = sandbox.messages("smsworks")
    assert [(s.outcome, s.stage, s.credits) for s in logged] == [("REJECTED", Stage.FINAL, 0)] * 2
    assert sandbox.credits("smsworks") == credits
    _, shown = await raw(sandbox, "GET", f"/messages/{logged[0].id}")
    assert shown["status"] == "REJECTED"
    await asyncio.sleep(0.1)
    await sandbox.settle()
    assert {s.outcome for s in sandbox.messages("smsworks")} == {"REJECTED"}  # never sent


@pytest.mark.parametrize("stored", [True, False])
async def test_a_dropped_connection_stores_or_not_as_told(sandbox, stored):
    sandbox.inject("smsscheduler", "drop", stored=stored)

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw(sandbox, "POST", "/sms", provider="smsscheduler", json=SCHEDULER_BODY)

    assert len(sandbox.messages("smsscheduler")) == (2 if stored else 0)


@pytest.mark.parametrize("fault", ["500", "502", "504"])
async def test_a_5xx_can_come_without_storing_too(sandbox, fault):
    sandbox.inject("smsscheduler", fault, stored=False)

    status, _ = await raw(sandbox, "POST", "/sms", provider="smsscheduler", json=SCHEDULER_BODY)

    assert status == int(fault)
    assert sandbox.messages("smsscheduler") == []


async def test_a_fault_meets_only_its_path_and_only_as_many_times_as_told(sandbox):
    sandbox.inject("smsworks", "500", path="/batch/any", times=2)

    single = await raw(sandbox, "POST", "/message/send", json=WORKS_BODY)
    batches = [(await raw(sandbox, "POST", "/batch/any", json=[WORKS_BODY]))[0] for _ in range(3)]
    searched = await raw(sandbox, "POST", "/messages", json={})

    assert single[0] == 201
    assert batches == [500, 500, 201]
    assert searched[0] == 200  # a search sends nothing: no fault meets it


async def test_an_invalid_request_is_refused_whatever_fault_waits(sandbox):
    sandbox.inject("smsworks", "500")

    status, answer = await raw(sandbox, "POST", "/message/send", json={**WORKS_BODY, "content": ""})

    assert (status, answer["message"]) == (400, "content is required")
    assert sandbox.messages("smsworks") == []


async def test_latency_holds_the_answer_after_the_messages_are_stored():
    async with Sandbox(seed=1, failure_rate=0, latency=0.3, **FAST) as sandbox:
        started = time.monotonic()
        request = asyncio.create_task(raw(sandbox, "POST", "/message/send", json=WORKS_BODY))
        await asyncio.sleep(0.1)
        assert len(sandbox.messages("smsworks")) == 1  # stored, not answered yet
        assert not request.done()
        status, _ = await request
        assert status == 201
        assert time.monotonic() - started >= 0.3
        # Requests that send nothing are not held.
        started = time.monotonic()
        await raw(sandbox, "GET", "/credits/balance")
        assert time.monotonic() - started < 0.25


@pytest.mark.parametrize(
    ("provider", "fault", "options", "problem"),
    [
        ("smsworks", "418", {}, "smsworks can meet one of 500, 502, 504, drop, 429, 5001, 5002"),
        ("smsscheduler", "5001", {}, "smsscheduler can meet one of 500, 502, 504, drop, 429$"),
        ("smsworks", "500", {"times": 0}, "times: must be a whole number of at least 1"),
        ("acme", "500", {}, "the sandbox emulates"),
    ],
)
async def test_bad_faults_are_refused(sandbox, provider, fault, options, problem):
    with pytest.raises(ConfigurationError, match=problem):
        sandbox.inject(provider, fault, **options)


def test_every_fault_is_listed():
    assert FAULTS == ("500", "502", "504", "drop", "429", "5001", "5002")


def test_a_negative_latency_is_refused():
    with pytest.raises(ConfigurationError, match="latency must not be negative"):
        Sandbox(latency=-1)
