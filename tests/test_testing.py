from datetime import UTC, datetime, timedelta

import pytest

import smsgate
from smsgate import (
    DeliveryStatus,
    FailureReason,
    InvalidRequest,
    Message,
    NotFound,
    ProviderUnavailable,
    RateLimited,
    SmsGateway,
    TransportError,
    ValidationError,
)
from smsgate.model import MessageFields
from smsgate.testing import FakeGateway

TO = "+447700900123"
OTHER = "+447700900456"


def in_an_hour():
    return datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
async def gateway():
    async with FakeGateway(default_region="GB") as fake:
        yield fake


def test_the_fake_is_an_sms_gateway():
    assert isinstance(FakeGateway(), SmsGateway)


def test_the_fake_is_registered_as_provider_fake():
    gateway = smsgate.from_config({"provider": "fake", "default_region": "GB"})
    assert isinstance(gateway, FakeGateway)


# --- send and schedule -----------------------------------------------------------------------


async def test_send_keeps_the_message_and_returns_a_queued_receipt(gateway):
    message = Message(TO, "Hello", reference="order-17", metadata={"customer": "42"})
    receipt = await gateway.send(message)
    assert gateway.outbox == [message]
    assert receipt.provider == "fake"
    assert receipt.message_id == "fake-1"
    assert receipt.to == TO
    assert receipt.status is DeliveryStatus.QUEUED
    assert receipt.reference == "order-17"
    assert dict(receipt.metadata) == {"customer": "42"}
    assert receipt.parts == 1
    assert receipt.scheduled_at is None


async def test_each_message_gets_its_own_id(gateway):
    ids = {(await gateway.send(Message(TO, f"n{i}"))).message_id for i in range(5)}
    assert len(ids) == 5


async def test_receipts_count_parts(gateway):
    receipt = await gateway.send(Message(TO, "ж" * 71))
    assert receipt.parts == 2


async def test_schedule_returns_a_scheduled_receipt(gateway):
    at = in_an_hour()
    receipt = await gateway.schedule(Message(TO, "Later"), at)
    assert receipt.status is DeliveryStatus.SCHEDULED
    assert receipt.scheduled_at == at
    assert [m.text for m in gateway.outbox] == ["Later"]


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (datetime(2030, 1, 1, 9, 0), "has no time zone"),
        (datetime(2020, 1, 1, 9, 0, tzinfo=UTC), "is not in the future"),
    ],
)
async def test_schedule_refuses_bad_times_and_keeps_nothing(gateway, at, problem):
    with pytest.raises(ValidationError, match=problem):
        await gateway.schedule(Message(TO, "Later"), at)
    assert gateway.outbox == []


async def test_send_refuses_anything_but_a_message(gateway):
    with pytest.raises(ValidationError, match="message: must be a Message, not dict"):
        await gateway.send({"to": TO, "text": "Hi"})


def test_message_reads_national_numbers_in_the_default_region():
    gateway = FakeGateway(default_region="GB")
    assert gateway.message("07700 900123", "Hi").to == TO
    assert gateway.message("06 12 34 56 78", "Salut", region="FR").to == "+33612345678"
    with pytest.raises(ValidationError, match="has no country code"):
        FakeGateway().message("07700 900123", "Hi")


def test_message_passes_every_field_through():
    fields: MessageFields = {
        "sender": "Acme",
        "reference": "r",
        "tag": "t",
        "metadata": {"k": "v"},
        "validity": timedelta(minutes=5),
        "provider_options": {"smsworks": {"flash": True}},
    }
    assert FakeGateway().message(TO, "Hi", **fields) == Message(TO, "Hi", **fields)


# --- status ----------------------------------------------------------------------------------


async def test_without_a_script_a_message_stays_where_it_was_accepted(gateway):
    receipt = await gateway.send(Message(TO, "Hi"))
    for _ in range(3):
        assert (await gateway.status(receipt)).status is DeliveryStatus.QUEUED


async def test_status_plays_the_script_one_step_per_call_then_stays(gateway):
    gateway.script(
        "07700 900123",
        DeliveryStatus.SENT,
        (DeliveryStatus.UNDELIVERED, FailureReason.INVALID_RECIPIENT),
    )
    receipt = await gateway.send(Message(TO, "Hi", reference="r-1", metadata={"k": "v"}))
    first = await gateway.status(receipt)
    assert (first.status, first.reason) == (DeliveryStatus.SENT, None)
    second = await gateway.status(receipt.message_id)
    assert second.status is DeliveryStatus.UNDELIVERED
    assert second.reason is FailureReason.INVALID_RECIPIENT
    assert second.provider_status == "undelivered"
    third = await gateway.status(receipt)
    assert third == second
    # reference and metadata come back even when asked by id alone
    assert (second.reference, dict(second.metadata), second.to) == ("r-1", {"k": "v"}, TO)


async def test_a_script_applies_only_to_its_recipient(gateway):
    gateway.script(TO, DeliveryStatus.DELIVERED)
    mine = await gateway.send(Message(TO, "Hi"))
    other = await gateway.send(Message(OTHER, "Hi"))
    assert (await gateway.status(mine)).status is DeliveryStatus.DELIVERED
    assert (await gateway.status(other)).status is DeliveryStatus.QUEUED


async def test_each_message_plays_its_own_copy_of_the_script(gateway):
    gateway.script(TO, DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    first = await gateway.send(Message(TO, "one"))
    second = await gateway.send(Message(TO, "two"))
    assert (await gateway.status(first)).status is DeliveryStatus.SENT
    assert (await gateway.status(second)).status is DeliveryStatus.SENT


def test_a_script_step_must_be_a_status(gateway):
    with pytest.raises(ValidationError, match="'delivered' is not a DeliveryStatus"):
        gateway.script(TO, "delivered")


async def test_status_of_an_unknown_id_is_not_found(gateway):
    with pytest.raises(NotFound, match="no message with id 'fake-99'"):
        await gateway.status("fake-99")


# --- cancel ----------------------------------------------------------------------------------


async def test_cancel_of_a_scheduled_message_cancels_it_for_good(gateway):
    gateway.script(TO, DeliveryStatus.SENT)
    receipt = await gateway.schedule(Message(TO, "Later"), in_an_hour())
    report = await gateway.cancel(receipt)
    assert report.status is DeliveryStatus.CANCELLED
    assert report.status.is_final
    assert (await gateway.status(receipt)).status is DeliveryStatus.CANCELLED


async def test_cancel_of_a_message_already_sent_is_refused(gateway):
    receipt = await gateway.send(Message(TO, "Now"))
    with pytest.raises(InvalidRequest, match="is queued, not scheduled"):
        await gateway.cancel(receipt)


async def test_cancel_of_an_unknown_id_is_not_found(gateway):
    with pytest.raises(NotFound):
        await gateway.cancel("nope")


# --- injected failures -----------------------------------------------------------------------


def rate_limited():
    return RateLimited(provider="fake", http_status=429, retry_after=1)


async def test_an_injected_error_fails_the_next_call_only(gateway):
    gateway.fail(rate_limited())
    with pytest.raises(RateLimited):
        await gateway.send(Message(TO, "one"))
    await gateway.send(Message(TO, "two"))
    assert [m.text for m in gateway.outbox] == ["two"]


async def test_an_injected_error_can_fail_several_calls_or_all(gateway):
    gateway.fail(rate_limited(), times=2)
    for _ in range(2):
        with pytest.raises(RateLimited):
            await gateway.send(Message(TO, "x"))
    await gateway.send(Message(TO, "x"))
    gateway.fail(rate_limited(), times=None)
    for _ in range(5):
        with pytest.raises(RateLimited):
            await gateway.send(Message(TO, "x"))
    assert len(gateway.outbox) == 1


async def test_an_injected_error_can_target_one_recipient(gateway):
    gateway.fail(rate_limited(), to="07700 900456")
    await gateway.send(Message(TO, "fine"))
    with pytest.raises(RateLimited):
        await gateway.send(Message(OTHER, "fails"))


async def test_an_injected_error_can_target_one_operation(gateway):
    gateway.fail(NotFound(provider="fake", http_status=404), operation="status")
    receipt = await gateway.send(Message(TO, "Hi"))
    with pytest.raises(NotFound):
        await gateway.status(receipt)
    assert (await gateway.status(receipt)).status is DeliveryStatus.QUEUED


async def test_an_injected_error_can_fail_schedule_and_cancel(gateway):
    gateway.fail(rate_limited(), operation="schedule")
    gateway.fail(rate_limited(), operation="cancel")
    with pytest.raises(RateLimited):
        await gateway.schedule(Message(TO, "x"), in_an_hour())
    receipt = await gateway.schedule(Message(TO, "x"), in_an_hour())
    with pytest.raises(RateLimited):
        await gateway.cancel(receipt)
    assert (await gateway.cancel(receipt)).status is DeliveryStatus.CANCELLED


async def test_after_accepting_keeps_the_message_and_still_raises(gateway):
    lost = TransportError("answer lost", provider="fake", maybe_sent=True)
    gateway.fail(lost, after_accepting=True)
    with pytest.raises(TransportError) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert caught.value.maybe_sent is True
    assert [m.text for m in gateway.outbox] == ["Hi"]
    assert (await gateway.status("fake-1")).status is DeliveryStatus.QUEUED


def test_times_must_be_positive(gateway):
    with pytest.raises(ValidationError, match="times: must be at least 1"):
        gateway.fail(rate_limited(), times=0)


# --- closing and naming ----------------------------------------------------------------------


async def test_a_closed_fake_sends_nothing():
    gateway = FakeGateway()
    async with gateway:
        pass
    assert gateway.closed
    with pytest.raises(TransportError) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert caught.value.maybe_sent is False
    with pytest.raises(TransportError):
        await gateway.status("fake-1")
    assert gateway.outbox == []


async def test_fakes_report_the_name_they_are_given():
    async with FakeGateway(name="backup") as gateway:
        receipt = await gateway.send(Message(TO, "Hi"))
    assert (receipt.provider, receipt.message_id) == ("backup", "backup-1")
    assert repr(gateway) == "<FakeGateway 'backup' closed>"


async def test_an_injected_error_raised_again_does_not_pile_up_tracebacks():
    def frames(error):
        tb, count = error.__traceback__, 0
        while tb is not None:
            tb, count = tb.tb_next, count + 1
        return count

    gateway = FakeGateway()
    error = ProviderUnavailable(provider="fake", http_status=503)
    gateway.fail(error, times=None)
    depths = []
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await gateway.send(Message("+447700900123", "Hi"))
        depths.append(frames(error))
    assert depths[0] == depths[1] == depths[2]
