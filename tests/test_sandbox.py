"""Full round trips through both adapters, the bulk sender and the tracker, against the sandbox."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

import smsgate
from smsgate import (
    AuthenticationError,
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    InsufficientCredit,
    InvalidRequest,
    NotFound,
    OutcomeStatus,
)
from smsgate.providers.smsscheduler import SmsSchedulerGateway
from smsgate.providers.smsworks import SmsWorksGateway
from smsgate.sandbox import Sandbox
from smsgate.sandbox._engine import Stage
from smsgate.webhooks import WebhookReceiver
from tests.support.outcomes import receipt_of
from tests.support.sandbox import FAST, raw
from tests.support.tracking import Polling

S = DeliveryStatus
POLL: Polling = {"interval": 0.02, "max_interval": 0.05}
UK = "+447700900123"
FR = "+33612345678"


@pytest.fixture
async def sandbox():
    async with Sandbox(seed=1, failure_rate=0, **FAST) as running:
        yield running


@pytest.fixture(params=["smsworks", "smsscheduler"])
async def gateway(request, sandbox):
    async with smsgate.from_config(sandbox.config(request.param)) as connected:
        yield connected


def soon(seconds=30):
    return datetime.now(UTC) + timedelta(seconds=seconds)


# --- both providers, through the protocol --------------------------------------------------


async def test_a_message_goes_out_and_is_delivered(gateway, sandbox):
    receipt = await gateway.send(gateway.message(UK, "Your code is 2468"))

    report = await smsgate.wait_for_final(gateway, receipt, **POLL)

    assert (report.status, report.to, report.message_id) == (S.DELIVERED, UK, receipt.message_id)
    [sms] = sandbox.messages(gateway.name)
    assert (sms.to, sms.text, sms.id) == (UK, "Your code is 2468", receipt.message_id)


async def test_statuses_progress_queued_then_sent_then_delivered(gateway):
    receipt = await gateway.send(gateway.message(UK, "Hi"))

    async with asyncio.timeout(10):
        seen = [r.status async for r in smsgate.track(gateway, [receipt.message_id], **POLL)]

    assert seen[-1] is S.DELIVERED
    assert set(seen) <= {S.QUEUED, S.SENT, S.DELIVERED}
    assert seen == sorted(seen, key=[S.QUEUED, S.SENT, S.DELIVERED].index)


async def test_a_scheduled_message_waits_and_can_be_cancelled(gateway, sandbox):
    before = sandbox.credits(gateway.name)
    receipt = await gateway.schedule(gateway.message(UK, "Later"), soon())

    assert receipt.status is S.SCHEDULED
    assert (await gateway.status(receipt)).status is S.SCHEDULED
    assert sandbox.credits(gateway.name) < before
    cancelled = await gateway.cancel(receipt)

    assert cancelled.status is S.CANCELLED
    assert sandbox.credits(gateway.name) == before
    assert [sms.stage for sms in sandbox.messages(gateway.name)] == [Stage.CANCELLED]


async def test_a_scheduled_message_goes_out_at_its_time(gateway):
    receipt = await gateway.schedule(gateway.message(UK, "Soon"), soon(1.2))

    report = await smsgate.wait_for_final(gateway, receipt, timeout=10, **POLL)

    assert report.status is S.DELIVERED


async def test_a_message_already_sent_cannot_be_cancelled(gateway):
    receipt = await gateway.send(gateway.message(UK, "Now"))

    with pytest.raises(InvalidRequest):
        await gateway.cancel(receipt)


async def test_an_unknown_message_is_not_found(gateway):
    with pytest.raises(NotFound):
        await gateway.status("999")


async def test_a_bulk_run_sends_every_message_once(gateway, sandbox):
    rows = [{"to": f"+4477009{i:05d}", "text": f"Code {i % 7}"} for i in range(2000)]

    summary = await smsgate.send_all(gateway, rows, concurrency=4)

    assert (summary.accepted, summary.failed, summary.uncertain) == (2000, 0, 0)
    sent = Counter(sms.to for sms in sandbox.messages(gateway.name))
    assert sent == Counter(row["to"] for row in rows)


async def test_the_tracker_follows_a_bulk_run_to_the_sandboxes_outcomes():
    async with Sandbox(seed=7, failure_rate=0.3, **FAST) as sandbox:
        for provider in ("smsworks", "smsscheduler"):
            async with smsgate.from_config(sandbox.config(provider)) as gateway:
                rows = [{"to": f"+4477009{i:05d}", "text": "Sale"} for i in range(200)]
                receipts = [receipt_of(o) async for o in smsgate.send_many(gateway, rows)]
                tracker = smsgate.track(gateway, receipts, timeout=20, **POLL)
                async with asyncio.timeout(30):
                    async for _ in tracker:
                        pass

            assert tracker.unfinished == []
            assert tracker.errors == {}
            finals = Counter(report.status for report in tracker.latest.values())
            assert finals[S.DELIVERED] < 200  # some failed, as the seed says
            emulated = sandbox.messages(provider)
            assert Counter(r.to for r in tracker.latest.values() if r.status is S.DELIVERED) == (
                Counter(s.to for s in emulated if not s.failed)
            )


async def test_the_same_seed_gives_the_same_outcomes():
    async def outcomes(seed):
        async with Sandbox(seed=seed, failure_rate=0.5, **FAST) as sandbox:
            async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
                for i in range(20):
                    await gateway.send(gateway.message(f"+4477009001{i:02d}", "Hi"))
            return [sms.outcome for sms in sandbox.messages("smsscheduler")]

    first, again, other = await outcomes(5), await outcomes(5), await outcomes(6)

    assert first == again
    assert first != other
    assert len(set(first)) > 1


# --- The SMS Works -------------------------------------------------------------------------


async def test_smsworks_issues_a_token_for_the_key_and_secret(sandbox):
    config = {
        "provider": "smsworks",
        "base_url": sandbox.base_url("smsworks"),
        "customer_id": "sandbox",
        "key": "sandbox-key",
        "secret": "sandbox-secret",
        "sender": "Sandbox",
    }
    async with smsgate.from_config(config) as gateway:
        receipt = await gateway.send(gateway.message(UK, "Hi"))

    assert receipt.status is S.SENT


async def test_smsworks_refuses_a_wrong_secret_and_a_wrong_token(sandbox):
    url = sandbox.base_url("smsworks")
    async with smsgate.connect(
        "smsworks", base_url=url, customer_id="sandbox", key="sandbox-key", secret="nope-nope"
    ) as gateway:
        with pytest.raises(AuthenticationError) as raised:
            await gateway.send(gateway.message(UK, "Hi", sender="Sandbox"))
        assert (raised.value.http_status, raised.value.code) == (401, 4011)
    async with smsgate.connect("smsworks", base_url=url, token="JWT forged") as gateway:
        assert isinstance(gateway, SmsWorksGateway)
        with pytest.raises(AuthenticationError):
            await gateway.balance()
    assert sandbox.messages("smsworks") == []


GOOD = {"sender": "Sandbox", "destination": "447700900123", "content": "Hi"}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({**GOOD, "sender": "Has Spaces!"}, 4003, "SenderID is invalid or too long"),
        ({**GOOD, "destination": "44770090012x"}, 4004, "Invalid destination number"),
        ({**GOOD, "destination": "123"}, 4004, "Invalid destination number"),
        ({**GOOD, "content": "x" * 641}, 4002, "Message is too long"),
        ({**GOOD, "tag": "t" * 21}, 4005, "Tag longer than 20 characters"),
    ],
)
async def test_smsworks_answers_the_guides_error_codes(sandbox, body, code, message):
    answer = await raw(sandbox, "POST", "/message/send", json=body)

    assert answer == (
        400,
        {"message": message, "errorCode": code, "status": "400", "permanent": True},
    )
    assert sandbox.messages("smsworks") == []


async def test_smsworks_refuses_calls_without_its_token(sandbox):
    assert await raw(sandbox, "GET", "/credits/balance", auth="JWT forged") == (
        401,
        {"message": "Not authenticated", "errorCode": 4011, "status": "401", "permanent": True},
    )


async def test_smsworks_credits_go_down_and_run_out():
    async with (
        Sandbox(failure_rate=0, credits=3, **FAST) as sandbox,
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
    ):
        assert isinstance(gateway, SmsWorksGateway)
        first = await gateway.send(gateway.message(UK, "x" * 200))  # two parts
        assert (first.parts, first.credits, await gateway.balance()) == (2, 2, 1)
        await gateway.send(gateway.message(UK, "one part"))
        with pytest.raises(InsufficientCredit) as raised:
            await gateway.send(gateway.message(UK, "no more"))

    assert raised.value.code == 4021
    assert len(sandbox.messages("smsworks")) == 2


async def test_smsworks_international_messages_cost_double(sandbox):
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        receipt = await gateway.send(gateway.message(FR, "Bonjour"))

    assert receipt.credits == 2


async def test_smsworks_batches_are_listed_scheduled_and_cancelled(sandbox):
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        assert isinstance(gateway, SmsWorksGateway)
        messages = [gateway.message(f"+4477009001{i:02d}", "Later") for i in range(3)]
        batch = await gateway.schedule_batch(messages, soon())
        listed = await gateway.batch_status(batch)
        cancelled = await gateway.cancel_batch(batch)

    assert batch.status is S.SCHEDULED
    assert [(r.to, r.status) for r in listed] == [(m.to, S.SCHEDULED) for m in messages]
    assert cancelled.status is S.CANCELLED
    assert {sms.stage for sms in sandbox.messages("smsworks")} == {Stage.CANCELLED}


async def test_smsworks_posts_delivery_reports_to_the_webhook(web_server):
    received = []

    async def on_report(report):
        received.append(report)

    receiver = WebhookReceiver("smsworks", secret="sandbox-webhook-secret", on_report=on_report)
    app = web.Application()
    receiver.add_routes(app, "/sms")
    server = await web_server(app)
    hook = str(server.make_url("/sms/sandbox-webhook-secret"))

    async with Sandbox(seed=2, failure_rate=0, webhook_url=hook, **FAST) as sandbox:
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            receipt = await gateway.send(gateway.message(UK, "Hi"))
            await smsgate.wait_for_final(gateway, receipt, **POLL)
        await sandbox.settle()
    await receiver.aclose()

    assert [(r.message_id, r.status, r.to) for r in received] == [
        (receipt.message_id, S.DELIVERED, UK)
    ]
    assert sandbox.reporter.posted == 1


# --- SMS Scheduler -------------------------------------------------------------------------


async def test_smsscheduler_lists_every_bad_field(sandbox):
    body = {
        "message_text": "",
        "delivery_date": "tomorrow",
        "sender_id": 9,
        "phone_numbers": ["0612"],
    }

    status, answer = await raw(sandbox, "POST", "/sms", provider="smsscheduler", json=body)

    assert status == 400
    assert answer == {
        "errors": {
            "message_text": ['The field "message_text" is required'],
            "sender_id": ["The sender 9 does not exist"],
            "delivery_date": ['The field "delivery_date" must be a date "Y-m-d H:i:s"'],
            "phone_numbers": ["The following phone number is invalid: 0612"],
        }
    }


async def test_smsscheduler_refuses_a_wrong_token_with_a_bare_401(sandbox):
    answer = await raw(sandbox, "GET", "/sms/1", provider="smsscheduler", auth="Bearer nope")

    assert answer == (401, "Unauthorized")


async def test_smsscheduler_takes_a_lower_case_bearer(sandbox):
    status, _ = await raw(
        sandbox, "GET", "/sms/1", provider="smsscheduler", auth="bearer sandbox-token"
    )

    assert status == 404


async def test_smsscheduler_without_credits_marks_the_sms_code_25():
    async with (
        Sandbox(failure_rate=0, credits=1, **FAST) as sandbox,
        smsgate.from_config(sandbox.config("smsscheduler")) as gateway,
    ):
        await gateway.send(gateway.message(UK, "paid for"))
        unpaid = await gateway.send(gateway.message(UK, "not paid for"))
        report = await gateway.status(unpaid)

    assert (report.status, report.reason, report.provider_status) == (
        S.REJECTED,
        FailureReason.INSUFFICIENT_CREDIT,
        25,
    )


async def test_smsscheduler_one_request_to_many_numbers(sandbox):
    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        assert isinstance(gateway, SmsSchedulerGateway)
        receipts = await gateway.send_chunk([gateway.message(n, "Hi") for n in (UK, FR)], None)
        assert receipts[0].batch_id is not None
        listed = await gateway.batch_status(receipts[0].batch_id)

    assert {r.to for r in listed} == {UK, FR}
    assert len({r.batch_id for r in receipts}) == 1


async def test_smsscheduler_deletes_a_whole_scheduled_message(sandbox):
    async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
        assert isinstance(gateway, SmsSchedulerGateway)
        receipts = await gateway.send_chunk([gateway.message(n, "Later") for n in (UK, FR)], soon())
        cancelled = await gateway.cancel_batch(receipts[0])

    assert (cancelled.batch_id, cancelled.status) == (receipts[0].batch_id, S.CANCELLED)
    assert cancelled.raw == {"success": 2}
    stored = sandbox.messages("smsscheduler")
    assert sorted(m.to for m in stored) == sorted((UK, FR))
    assert {m.stage.value for m in stored} == {"cancelled"}


# --- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"failure_rate": 1.5}, "failure_rate"),
        ({"send_delay": -1}, "must not be negative"),
        ({"host": "0.0.0.0"}, "loopback only"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_sandbox_settings_are_refused(options, problem):
    with pytest.raises(ConfigurationError, match=problem):
        Sandbox(**options)


async def test_a_sandbox_that_is_not_running_has_no_url():
    with pytest.raises(ConfigurationError, match="not running"):
        Sandbox().config("smsworks")


async def test_the_sandbox_emulates_two_providers_only(sandbox):
    with pytest.raises(ConfigurationError, match="not 'acme'"):
        sandbox.config("acme")


async def test_bulk_outcomes_are_all_accepted_on_both(gateway):
    outcomes = [o async for o in smsgate.send_many(gateway, [{"to": UK, "text": "a"}] * 3)]

    assert [o.status for o in outcomes] == [OutcomeStatus.ACCEPTED] * 3


async def test_delivery_reports_never_leave_the_machine(caplog):
    async with Sandbox(failure_rate=0, webhook_url="https://example.com/hook", **FAST) as sandbox:
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            receipt = await gateway.send(gateway.message(UK, "Hi"))
            await smsgate.wait_for_final(gateway, receipt, **POLL)
        await sandbox.settle()

    assert sandbox.reporter.posted == sandbox.reporter.failed == 0
    assert "not posting a delivery report to https://example.com/hook" in caplog.text
