"""One set of behavioural tests that every gateway passes, so all behave alike to callers.

Each gateway is built by configuration (`smsgate.connect`) and driven through the
`SmsGateway` protocol only. A harness per provider arranges what the provider answers:
aioresponses with the provider's documented answers for HTTP adapters, scripts and injected
errors for `FakeGateway`.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import pytest

import smsgate
from smsgate import (
    AuthenticationError,
    DeliveryStatus,
    FailureReason,
    InvalidRequest,
    NotFound,
    ProviderUnavailable,
    SmsGateway,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import can_find
from smsgate.testing import FakeGateway
from tests.pigeon.support import registered
from tests.support.providers import SMSSCHEDULER, SMSWORKS

Outcome = Literal["delivered", "undelivered"]
Refusal = Literal["auth", "invalid_recipient", "unavailable", "not_found", "bad_gateway"]
TO = "+447700900123"


def anything_under(base: str, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(base + path) + r"[^/]*$")


class FakeHarness:
    name = "fake"
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, mocked: Any) -> None:
        self.gateway: FakeGateway

    def attach(self, gateway: SmsGateway) -> None:
        assert isinstance(gateway, FakeGateway)
        self.gateway = gateway

    def requests(self) -> int:
        return len(self.gateway.outbox)

    def accept_send(self) -> None:
        pass

    accept_schedule = accept_send

    def will_report(self, outcome: Outcome) -> None:
        step = (
            DeliveryStatus.DELIVERED
            if outcome == "delivered"
            else (DeliveryStatus.UNDELIVERED, FailureReason.INVALID_RECIPIENT)
        )
        self.gateway.script(TO, step)

    def accept_cancel(self) -> None:
        pass

    def refuse(self, refusal: Refusal) -> None:
        error = {
            "auth": AuthenticationError(provider="fake", http_status=401),
            "invalid_recipient": InvalidRequest(
                provider="fake", http_status=400, reason=FailureReason.INVALID_RECIPIENT
            ),
            "unavailable": ProviderUnavailable(provider="fake", http_status=503),
            "not_found": NotFound(provider="fake", http_status=404),
            "bad_gateway": ProviderUnavailable(provider="fake", http_status=502),
        }[refusal]
        self.gateway.fail(error, after_accepting=refusal == "bad_gateway")

    def will_find(self, receipt: smsgate.Receipt) -> None:
        pass


class HttpHarness:
    """What the HTTP harnesses share: answers come from aioresponses."""

    def __init__(self, mocked: Any) -> None:
        self.mocked = mocked

    def attach(self, gateway: SmsGateway) -> None:
        pass

    def requests(self) -> int:
        return sum(len(calls) for calls in self.mocked.requests.values())


class SmsWorksHarness(HttpHarness):
    name = "smsworks"
    options: ClassVar[dict[str, Any]] = {"token": SMSWORKS.token, "sender": "Acme"}
    base = SMSWORKS.base

    def accept_send(self) -> None:
        self.mocked.post(self.base + "/message/send", status=201, payload=SMSWORKS.fixture("send"))

    def accept_schedule(self) -> None:
        self.mocked.post(
            self.base + "/message/schedule", payload=SMSWORKS.fixture("schedule_array")
        )

    def will_report(self, outcome: Outcome) -> None:
        word = "DELIVERED" if outcome == "delivered" else "UNDELIVERED"
        answer = SMSWORKS.fixture("message") | {"status": word}
        self.mocked.get(anything_under(self.base, "/messages/"), payload=answer)

    def accept_cancel(self) -> None:
        self.mocked.delete(
            anything_under(self.base, "/messages/schedule/"), payload=SMSWORKS.fixture("cancelled")
        )

    def refuse(self, refusal: Refusal) -> None:
        status, code = {
            "auth": (401, 4011),
            "invalid_recipient": (400, 4004),
            "unavailable": (503, 5002),
            "not_found": (404, None),
            "bad_gateway": (502, None),
        }[refusal]
        body = {"message": f"refused ({refusal})", "errorCode": code, "status": "ERROR"}
        for method in ("post", "get", "delete"):
            answer: dict[str, Any] = {"status": status}
            if code is None and status == 502:
                answer["body"] = "<html><h1>502 Bad Gateway</h1></html>"
            else:
                answer["payload"] = body
            getattr(self.mocked, method)(re.compile(re.escape(self.base) + ".*"), **answer)

    def will_find(self, receipt: smsgate.Receipt) -> None:
        logged = SMSWORKS.fixture("message") | {
            "messageid": receipt.message_id,
            "destination": int(TO[1:]),
            "metadata": [{"key": "smsgate_key", "value": receipt.key}],
        }
        self.mocked.post(self.base + "/messages", payload=[logged])


class SmsSchedulerHarness(HttpHarness):
    name = "smsscheduler"
    options: ClassVar[dict[str, Any]] = {
        "token": SMSSCHEDULER.token,
        "sender_id": 1,
        "timezone": "Europe/London",
    }
    base = SMSSCHEDULER.base

    def accept_send(self) -> None:
        self.mocked.post(self.base + "/sms", payload={"message_id": 7, "sms_ids": {TO: [70]}})

    accept_schedule = accept_send

    def will_report(self, outcome: Outcome) -> None:
        code = 13 if outcome == "delivered" else 30
        self.mocked.get(
            anything_under(self.base, "/sms/"), payload={"phone_number": TO, "status": code}
        )

    def accept_cancel(self) -> None:
        self.mocked.delete(anything_under(self.base, "/sms/"), payload={"success": True})

    def refuse(self, refusal: Refusal) -> None:
        status, body = {
            "auth": (401, None),
            "invalid_recipient": (
                400,
                {"errors": {"phone_numbers": [f"The following phone number is invalid: {TO}"]}},
            ),
            "unavailable": (503, "<html>Service Unavailable</html>"),
            "not_found": (404, None),
            "bad_gateway": (502, "<html><h1>502 Bad Gateway</h1></html>"),
        }[refusal]
        for method in ("post", "get", "delete"):
            answer: dict[str, Any] = {"status": status}
            if isinstance(body, dict):
                answer["payload"] = body
            elif body is not None:
                answer["body"] = body
            getattr(self.mocked, method)(re.compile(re.escape(self.base) + ".*"), **answer)


class PigeonHarness(HttpHarness):
    """Pigeon Post: the example provider added from outside smsgate (tests/pigeon)."""

    name = "pigeon"
    options: ClassVar[dict[str, Any]] = {"key": "pigeon-key-0123"}
    base = "https://api.pigeon.invalid/v2"

    def accept_send(self) -> None:
        self.mocked.post(
            self.base + "/messages", status=202, payload={"id": "p-1", "state": "queued"}
        )

    def accept_schedule(self) -> None:
        self.mocked.post(
            self.base + "/messages", status=202, payload={"id": "p-1", "state": "scheduled"}
        )

    def will_report(self, outcome: Outcome) -> None:
        answer = {"id": "p-1", "to": TO, "state": "delivered", "error": None}
        if outcome == "undelivered":
            answer |= {"state": "failed", "error": "bad_number"}
        self.mocked.get(anything_under(self.base, "/messages/"), payload=answer)

    def accept_cancel(self) -> None:
        answer = {"id": "p-1", "to": TO, "state": "cancelled", "error": None}
        self.mocked.delete(anything_under(self.base, "/messages/"), payload=answer)

    def refuse(self, refusal: Refusal) -> None:
        status, body = {
            "auth": (401, {"error": {"code": "bad_key", "message": "unknown key"}}),
            "invalid_recipient": (400, {"error": {"code": "bad_number", "message": "bad number"}}),
            "unavailable": (503, "<html>Service Unavailable</html>"),
            "not_found": (404, {"error": {"code": "unknown", "message": "no such message"}}),
            "bad_gateway": (502, "<html><h1>502 Bad Gateway</h1></html>"),
        }[refusal]
        for method in ("post", "get", "delete"):
            answer: dict[str, Any] = {"status": status}
            if isinstance(body, dict):
                answer["payload"] = body
            else:
                answer["body"] = body
            getattr(self.mocked, method)(re.compile(re.escape(self.base) + ".*"), **answer)


HARNESSES = [FakeHarness, SmsWorksHarness, SmsSchedulerHarness, PigeonHarness]


@pytest.fixture(params=HARNESSES, ids=lambda h: h.name)
async def harness(request, mock_http):
    made = request.param(mock_http)
    with registered() if made.name == "pigeon" else contextlib.nullcontext():
        gateway = smsgate.connect(made.name, default_region="GB", **made.options)
        made.attach(gateway)
        made.gateway_under_test = gateway
        yield made
        await gateway.aclose()


def later() -> datetime:
    return datetime.now(UTC) + timedelta(days=2)


def message(gateway: SmsGateway, **fields: Any) -> smsgate.Message:
    return gateway.message("07700 900123", "Your code is 2468", **fields)


# --- identity --------------------------------------------------------------------------------


async def test_the_gateway_is_an_sms_gateway_named_as_configured(harness):
    gateway = harness.gateway_under_test
    assert isinstance(gateway, SmsGateway)
    assert gateway.name == harness.name


# --- send and schedule -----------------------------------------------------------------------


async def test_send_returns_the_recipients_receipt(harness):
    gateway = harness.gateway_under_test
    harness.accept_send()
    receipt = await gateway.send(message(gateway, reference="order-17", metadata={"k": "v"}))
    assert receipt.provider == harness.name
    assert receipt.to == TO
    assert isinstance(receipt.message_id, str)
    assert receipt.message_id
    assert receipt.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENT)
    assert not receipt.status.is_final
    assert (receipt.reference, dict(receipt.metadata)) == ("order-17", {"k": "v"})
    assert harness.requests() == 1


async def test_schedule_returns_a_scheduled_receipt(harness):
    gateway = harness.gateway_under_test
    harness.accept_schedule()
    at = later()
    receipt = await gateway.schedule(message(gateway, reference="r"), at)
    assert receipt.status is DeliveryStatus.SCHEDULED
    assert (receipt.scheduled_at, receipt.to, receipt.reference) == (at, TO, "r")


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (datetime(2031, 1, 1, 9, 0), "has no time zone"),
        (datetime(2021, 1, 1, 9, 0, tzinfo=UTC), "is not in the future"),
    ],
)
async def test_schedule_refuses_bad_times_before_any_request(harness, at, problem):
    gateway = harness.gateway_under_test
    with pytest.raises(ValidationError, match=problem) as caught:
        await gateway.schedule(message(gateway), at)
    assert caught.value.field == "at"
    assert harness.requests() == 0


# --- status and cancel -----------------------------------------------------------------------


async def test_status_of_a_delivered_message(harness):
    gateway = harness.gateway_under_test
    harness.accept_send()
    harness.will_report("delivered")
    receipt = await gateway.send(message(gateway, reference="order-17"))
    report = await gateway.status(receipt)
    assert report.provider == harness.name
    assert report.status is DeliveryStatus.DELIVERED
    assert report.status.is_final
    assert report.reason is None
    assert report.reference == "order-17"
    assert report.to is not None
    assert report.provider_status is not None


async def test_status_of_an_undelivered_message_says_why(harness):
    gateway = harness.gateway_under_test
    harness.accept_send()
    harness.will_report("undelivered")
    receipt = await gateway.send(message(gateway))
    report = await gateway.status(receipt.message_id)
    assert report.status is DeliveryStatus.UNDELIVERED
    assert report.status.is_final
    assert isinstance(report.reason, FailureReason)


async def test_cancel_of_a_scheduled_message_is_cancelled(harness):
    gateway = harness.gateway_under_test
    harness.accept_schedule()
    harness.accept_cancel()
    receipt = await gateway.schedule(message(gateway, reference="r"), later())
    report = await gateway.cancel(receipt)
    assert report.status is DeliveryStatus.CANCELLED
    assert report.status.is_final
    assert report.reference == "r"


# --- bad input -------------------------------------------------------------------------------


async def test_a_number_that_cannot_be_a_phone_number_is_refused(harness):
    gateway = harness.gateway_under_test
    with pytest.raises(ValidationError) as caught:
        gateway.message("07700", "Hi")
    assert caught.value.field == "to"


async def test_a_national_number_in_another_region_is_read_there(harness):
    assert harness.gateway_under_test.message("06 12 34 56 78", "Hi", region="FR").to == (
        "+33612345678"
    )


async def test_anything_but_a_message_is_refused_before_any_request(harness):
    with pytest.raises(ValidationError, match="must be a Message"):
        await harness.gateway_under_test.send({"to": TO, "text": "Hi"})
    assert harness.requests() == 0


@pytest.mark.parametrize("ref", ["", None, 42])
async def test_a_bad_reference_is_refused(harness, ref):
    with pytest.raises(ValidationError, match="ref: must be a Receipt or a message id"):
        await harness.gateway_under_test.status(ref)


# --- provider errors -------------------------------------------------------------------------


async def test_refused_credentials_are_an_authentication_error(harness):
    gateway = harness.gateway_under_test
    harness.refuse("auth")
    with pytest.raises(AuthenticationError) as caught:
        await gateway.send(message(gateway))
    assert (caught.value.provider, caught.value.http_status) == (harness.name, 401)
    assert caught.value.permanent
    assert not caught.value.retryable
    assert "check the token" in str(caught.value)


async def test_a_recipient_the_provider_refuses_is_an_invalid_request(harness):
    gateway = harness.gateway_under_test
    harness.refuse("invalid_recipient")
    with pytest.raises(InvalidRequest) as caught:
        await gateway.send(message(gateway))
    assert caught.value.reason is FailureReason.INVALID_RECIPIENT
    assert caught.value.permanent


async def test_a_failing_provider_is_unavailable_not_permanent(harness):
    gateway = harness.gateway_under_test
    harness.refuse("unavailable")
    with pytest.raises(ProviderUnavailable) as caught:
        await gateway.send(message(gateway))
    assert caught.value.permanent is False


async def test_a_5xx_to_a_send_may_have_sent(harness):
    gateway = harness.gateway_under_test
    harness.refuse("bad_gateway")
    with pytest.raises(ProviderUnavailable) as caught:
        await gateway.send(message(gateway))
    assert caught.value.maybe_sent is True
    assert smsgate.may_have_sent(caught.value)
    assert caught.value.provider == harness.name


async def test_a_sent_message_is_found_by_its_key_where_the_provider_can_search(harness):
    gateway = harness.gateway_under_test
    harness.accept_send()
    sent = message(gateway)
    receipt = await gateway.send(sent)
    if not can_find(gateway):
        assert receipt.key is None
        with pytest.raises(UnsupportedFeature):
            await gateway.find(sent.key)
        return
    assert gateway.can_find
    assert receipt.key == sent.key
    harness.will_find(receipt)
    report = await gateway.find(receipt.key)
    assert (report.message_id, report.to) == (receipt.message_id, TO)


async def test_status_of_an_unknown_message_is_not_found(harness):
    harness.refuse("not_found")
    with pytest.raises(NotFound) as caught:
        await harness.gateway_under_test.status("no-such-id")
    assert caught.value.provider == harness.name


# --- closing ---------------------------------------------------------------------------------


async def test_a_closed_gateway_sends_nothing_and_says_it_is_safe_to_retry(harness):
    gateway = harness.gateway_under_test
    harness.accept_send()
    await gateway.aclose()
    await gateway.aclose()
    with pytest.raises(TransportError) as caught:
        await gateway.send(message(gateway))
    assert caught.value.maybe_sent is False
    assert harness.requests() == 0


async def test_async_with_closes_the_gateway(harness):
    gateway = harness.gateway_under_test
    async with gateway as entered:
        assert entered is gateway
    with pytest.raises(TransportError):
        await gateway.status("any")
