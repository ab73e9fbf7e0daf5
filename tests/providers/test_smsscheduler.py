import asyncio
import json
import logging
import re
import zoneinfo
from datetime import UTC, datetime, timedelta, timezone

import pytest

import smsgate
from smsgate import (
    AuthenticationError,
    BatchReceipt,
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    InvalidRequest,
    Message,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    Receipt,
    SmsGateway,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.providers._wire import WireError
from smsgate.providers.base import USER_AGENT, HttpResponse
from smsgate.providers.smsscheduler import (
    STATUSES,
    SmsSchedulerGateway,
    delivery_date,
    immediate_date,
    parse_code,
    parse_created,
    parse_success,
    sms_payload,
)
from tests.support.leaks import leaks
from tests.support.mocking import recorded
from tests.support.providers import SMSSCHEDULER

BASE, TOKEN = SMSSCHEDULER.base, SMSSCHEDULER.token
fixture, calls, sent = SMSSCHEDULER.fixture, SMSSCHEDULER.calls, SMSSCHEDULER.sent
TO = "+33612345678"
OTHER = "+33698765432"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def in_a_day():
    return datetime.now(UTC) + timedelta(days=1)


@pytest.fixture
async def gateway():
    async with SmsSchedulerGateway(
        token=TOKEN, sender_id=123, senders={"Acme": 123, "Shop": 456}, timezone="Europe/Paris"
    ) as scheduler:
        yield scheduler


# === the status table =======================================================================


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        (10, DeliveryStatus.SCHEDULED, None),
        (11, DeliveryStatus.QUEUED, None),
        (12, DeliveryStatus.SENT, None),
        (13, DeliveryStatus.DELIVERED, None),
        (20, DeliveryStatus.REJECTED, FailureReason.INVALID_RECIPIENT),
        (21, DeliveryStatus.REJECTED, FailureReason.INVALID_CONTENT),
        (22, DeliveryStatus.REJECTED, FailureReason.INVALID_CONTENT),
        (23, DeliveryStatus.REJECTED, FailureReason.INVALID_SENDER),
        (24, DeliveryStatus.REJECTED, FailureReason.INVALID_SENDER),
        (25, DeliveryStatus.REJECTED, FailureReason.INSUFFICIENT_CREDIT),
        (26, DeliveryStatus.REJECTED, FailureReason.BLOCKED),
        (27, DeliveryStatus.EXPIRED, FailureReason.EXPIRED),
        (28, DeliveryStatus.REJECTED, FailureReason.UNSUPPORTED_DESTINATION),
        (29, DeliveryStatus.REJECTED, FailureReason.PROVIDER_ERROR),
        (30, DeliveryStatus.UNDELIVERED, FailureReason.INVALID_RECIPIENT),
        (31, DeliveryStatus.UNDELIVERED, FailureReason.BLOCKED),
        (32, DeliveryStatus.EXPIRED, FailureReason.EXPIRED),
        (33, DeliveryStatus.UNDELIVERED, FailureReason.NETWORK),
        (38, DeliveryStatus.UNDELIVERED, FailureReason.UNKNOWN),
        (39, DeliveryStatus.UNDELIVERED, FailureReason.PROVIDER_ERROR),
    ],
)
def test_each_documented_code_maps_as_designed(code, status, reason):
    rule, raw = parse_code(code)
    assert (rule.status, rule.reason, raw) == (status, reason, code)
    assert STATUSES[code] == rule


def test_the_table_has_exactly_the_documented_codes():
    assert sorted(STATUSES) == [10, 11, 12, 13, *range(20, 34), 38, 39]


@pytest.mark.parametrize(
    ("code", "status", "reason", "final"),
    [
        (14, DeliveryStatus.UNKNOWN, None, False),
        (19, DeliveryStatus.UNKNOWN, None, False),
        (34, DeliveryStatus.UNDELIVERED, FailureReason.UNKNOWN, True),
        (37, DeliveryStatus.UNDELIVERED, FailureReason.UNKNOWN, True),
        (40, DeliveryStatus.UNKNOWN, None, False),
        (0, DeliveryStatus.UNKNOWN, None, False),
        (-13, DeliveryStatus.UNKNOWN, None, False),
        ("13", DeliveryStatus.DELIVERED, None, True),
        ("Received", DeliveryStatus.UNKNOWN, None, False),
        (None, DeliveryStatus.UNKNOWN, None, False),
        (True, DeliveryStatus.UNKNOWN, None, False),
        (13.0, DeliveryStatus.UNKNOWN, None, False),
    ],
)
def test_unlisted_codes_map_by_their_tens_digit_and_never_raise(code, status, reason, final):
    rule, _ = parse_code(code)
    assert (rule.status, rule.reason, rule.status.is_final) == (status, reason, final)


# === building requests ======================================================================


def test_immediate_dates_are_in_the_past_in_every_time_zone():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    date = datetime.strptime(immediate_date(now), "%Y-%m-%d %H:%M:%S")
    for offset in range(-12, 15):
        local_now = now.astimezone(timezone(timedelta(hours=offset))).replace(tzinfo=None)
        assert date < local_now


@pytest.mark.parametrize(
    ("at", "zone", "date"),
    [
        (datetime(2026, 12, 24, 17, 0, tzinfo=UTC), "Europe/Paris", "2026-12-24 18:00:00"),
        (datetime(2026, 7, 14, 8, 30, 15, 999, tzinfo=UTC), "Europe/Paris", "2026-07-14 10:30:15"),
        (datetime(2026, 7, 14, 8, 30, tzinfo=UTC), "America/New_York", "2026-07-14 04:30:00"),
        (datetime(2026, 7, 14, 8, 30, tzinfo=PARIS), "Asia/Tokyo", "2026-07-14 15:30:00"),
        # the hour that is skipped when clocks go forward does not exist as a wall time
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/Paris", "2026-03-29 03:30:00"),
    ],
)
def test_schedule_times_are_the_accounts_wall_clock(at, zone, date):
    assert delivery_date(at, zoneinfo.ZoneInfo(zone)) == date


def test_a_wall_time_that_happens_twice_is_refused():
    # 25 October 2026, Paris: 02:00-03:00 happens twice (CEST, then CET).
    with pytest.raises(ValidationError, match="happens twice in Europe/Paris"):
        delivery_date(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), PARIS)
    with pytest.raises(ValidationError, match="happens twice"):
        delivery_date(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), PARIS)
    assert delivery_date(datetime(2026, 10, 25, 2, 0, tzinfo=UTC), PARIS) == "2026-10-25 03:00:00"


def test_the_body_has_every_field_with_international_numbers():
    body = sms_payload(
        [Message(TO, "Hello", provider_options={"smsscheduler": {"message_stop": True}})],
        123,
        "2026-12-24 18:00:00",
    )
    assert body == {
        "message_text": "Hello",
        "delivery_date": "2026-12-24 18:00:00",
        "sender_id": 123,
        "phone_numbers": ["+33612345678"],
        "message_stop": True,
    }


def test_message_stop_is_left_out_unless_asked_for():
    body = sms_payload([Message(TO, "Hi")], 1, "2026-12-24 18:00:00")
    assert "message_stop" not in body
    assert body["phone_numbers"] == [TO]


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"stop": True}, "smsscheduler has no option 'stop'; it knows message_stop"),
        ({"message_stop": "yes"}, "smsscheduler option 'message_stop' must be a bool"),
    ],
)
def test_bad_provider_options_are_refused(options, problem):
    with pytest.raises(ValidationError, match=problem):
        sms_payload([Message(TO, "Hi", provider_options={"smsscheduler": options})], 1, "x")


def test_a_validity_period_is_unsupported():
    with pytest.raises(UnsupportedFeature, match="smsscheduler does not support a validity"):
        sms_payload([Message(TO, "Hi", validity=timedelta(hours=1))], 1, "x")


# === reading answers ========================================================================


@pytest.mark.parametrize(
    ("answer", "ids"),
    [
        (fixture("created_lists"), {TO: ["123456", "123457"]}),
        (fixture("created_integer"), {TO: ["123456"]}),
    ],
)
def test_sms_ids_as_lists_or_integers_become_one_list_per_recipient(answer, ids):
    assert parse_created(answer, [TO]) == ("123456", ids)


def test_sms_ids_keyed_by_the_providers_own_writing_of_the_number():
    message_id, ids = parse_created(fixture("created_two_numbers"), [TO, OTHER])
    assert message_id == "777"
    assert ids == {TO: ["9001"], OTHER: ["9002"]}


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ([], "expected an object"),
        ({"sms_ids": {TO: 1}}, "message_id is None, not an id"),
        ({"message_id": 1}, "sms_ids is None, not an object"),
        ({"message_id": 1, "sms_ids": {OTHER: 5}}, f"no SMS id for {TO}"),
        ({"message_id": 1, "sms_ids": {TO: []}}, f"no SMS id for {TO}"),
        ({"message_id": 1, "sms_ids": {TO: [None]}}, "the SMS id of"),
        ({"message_id": True, "sms_ids": {TO: 1}}, "message_id is True"),
    ],
)
def test_created_answers_of_the_wrong_shape_are_wire_errors(answer, problem):
    with pytest.raises(WireError, match=re.escape(problem)):
        parse_created(answer, [TO])


@pytest.mark.parametrize(
    ("answer", "count"),
    [
        ({"success": True}, 1),
        ({"success": False}, 0),
        ({"success": 3}, 3),
        ({"success": 0}, 0),
        ({"success": -1}, None),
        ({"success": "yes"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_success_as_a_boolean_or_a_count(answer, count):
    assert parse_success(answer) == count


# === errors =================================================================================


def error_answer(status, body=None):
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, {}, raw)


def test_a_400_carries_every_field_error_and_names_the_bad_number(gateway):
    error = gateway.error_from_response(error_answer(400, fixture("errors")))
    assert isinstance(error, InvalidRequest)
    assert error.errors == fixture("errors")["errors"]
    assert error.reason is FailureReason.INVALID_RECIPIENT
    assert "The following phone number is invalid: +123456789" in str(error)
    assert error.http_status == 400


@pytest.mark.parametrize(
    ("errors", "reason"),
    [
        ({"message_text": ["The field is required"]}, FailureReason.INVALID_CONTENT),
        ({"sender_id": ["Unknown sender"]}, FailureReason.INVALID_SENDER),
        ({"delivery_date": ["Invalid date"]}, FailureReason.INVALID_REQUEST),
        ({"phone_numbers": "one message, not a list"}, FailureReason.INVALID_RECIPIENT),
    ],
)
def test_the_field_in_error_gives_the_reason(gateway, errors, reason):
    error = gateway.error_from_response(error_answer(400, {"errors": errors}))
    assert error.reason is reason
    assert all(isinstance(m, list) for m in error.errors.values())


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (401, None, AuthenticationError),
        (401, {"message": "Invalid token"}, AuthenticationError),
        (404, None, NotFound),
        (404, {"message": "Not found"}, NotFound),
        (400, b"Bad Request", InvalidRequest),
        (400, {"errors": ["not", "a", "mapping"]}, InvalidRequest),
        (500, b"<html>oops</html>", ProviderUnavailable),
        (409, {"anything": 1}, ProviderError),
    ],
)
def test_other_error_answers_with_or_without_a_body(gateway, status, body, error_class):
    error = gateway.error_from_response(error_answer(status, body))
    assert type(error) is error_class
    assert error.http_status == status


def test_a_401_says_where_to_get_a_token(gateway):
    error = gateway.error_from_response(error_answer(401))
    assert str(error) == (
        "smsscheduler answered HTTP 401 (check the token; a new one is made on the SMS "
        "Scheduler account page)"
    )


# === the gateway over HTTP ==================================================================


def test_registered_as_smsscheduler_with_the_https_production_url():
    gateway = smsgate.connect("smsscheduler", token=TOKEN)
    assert isinstance(gateway, SmsSchedulerGateway)
    assert isinstance(gateway, SmsGateway)
    assert gateway.base_url == "https://sms-scheduler.com/api/v1"


def test_the_test_host_can_be_set():
    gateway = smsgate.connect(
        "smsscheduler", token=TOKEN, base_url="http://test.sms-scheduler.com/api/v1"
    )
    assert isinstance(gateway, SmsSchedulerGateway)
    assert gateway.base_url == "http://test.sms-scheduler.com/api/v1"


async def test_send_posts_at_once_and_returns_the_recipients_sms(gateway, mock_http):
    mock_http.post(BASE + "/sms", payload=fixture("created_integer"))
    before = datetime.now(UTC)
    receipt = await gateway.send(Message(TO, "Hello", reference="r-1", metadata={"k": "v"}))
    headers, body = sent(mock_http, "POST", "/sms")
    assert headers == {
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    assert set(body) == {"message_text", "delivery_date", "sender_id", "phone_numbers"}
    assert (body["message_text"], body["sender_id"], body["phone_numbers"]) == ("Hello", 123, [TO])
    sent_date = datetime.strptime(body["delivery_date"], "%Y-%m-%d %H:%M:%S")
    assert sent_date.replace(tzinfo=UTC) <= before - timedelta(hours=23)
    assert receipt == Receipt(
        provider="smsscheduler",
        message_id="123456",
        to=TO,
        status=DeliveryStatus.QUEUED,
        batch_id="123456",
        reference="r-1",
        metadata={"k": "v"},
    )


async def test_an_immediate_send_needs_no_time_zone(mock_http):
    mock_http.post(BASE + "/sms", payload=fixture("created_integer"))
    async with SmsSchedulerGateway(token=TOKEN, sender_id=1) as gateway:
        receipt = await gateway.send(Message(TO, "Now"))
    assert receipt.message_id == "123456"


async def test_the_first_of_several_sms_ids_is_the_receipts(gateway, mock_http):
    mock_http.post(BASE + "/sms", payload=fixture("created_lists"))
    receipt = await gateway.send(Message(TO, "Hello"))
    assert (receipt.message_id, receipt.batch_id) == ("123456", "123456")


@pytest.mark.parametrize(("sender", "sender_id"), [(None, 123), ("Acme", 123), ("Shop", 456)])
async def test_senders_are_named_or_the_default(gateway, mock_http, sender, sender_id):
    mock_http.post(BASE + "/sms", payload=fixture("created_integer"))
    await gateway.send(Message(TO, "Hi", sender=sender))
    assert sent(mock_http, "POST", "/sms")[1]["sender_id"] == sender_id


async def test_an_unknown_sender_name_is_refused_before_any_request(gateway, mock_http):
    with pytest.raises(
        ValidationError, match=r"'Other' is not one of the gateway's senders \(Acme, Shop\)"
    ):
        await gateway.send(Message(TO, "Hi", sender="Other"))
    assert mock_http.requests == {}


async def test_no_sender_at_all_is_refused_before_any_request(mock_http):
    async with SmsSchedulerGateway(token=TOKEN) as gateway:
        with pytest.raises(ValidationError, match="SMS Scheduler needs a sender"):
            await gateway.send(Message(TO, "Hi"))
    assert mock_http.requests == {}


async def test_schedule_posts_the_accounts_wall_clock_time(gateway, mock_http):
    mock_http.post(BASE + "/sms", payload=fixture("created_integer"))
    at = datetime(2030, 12, 24, 17, 0, tzinfo=UTC)
    receipt = await gateway.schedule(Message(TO, "Joyeux Noël"), at)
    _, body = sent(mock_http, "POST", "/sms")
    assert body["delivery_date"] == "2030-12-24 18:00:00"
    assert (receipt.status, receipt.scheduled_at) == (DeliveryStatus.SCHEDULED, at)


async def test_scheduling_without_a_time_zone_says_what_to_set(mock_http):
    async with SmsSchedulerGateway(token=TOKEN, sender_id=1) as gateway:
        with pytest.raises(ConfigurationError, match="set timezone"):
            await gateway.schedule(Message(TO, "Later"), in_a_day())
    assert mock_http.requests == {}


@pytest.mark.parametrize(
    ("at", "problem"),
    [
        (datetime(2030, 1, 1, 9, 0), "has no time zone"),
        (datetime(2020, 1, 1, tzinfo=UTC), "is not in the future"),
        (datetime(2030, 10, 27, 0, 30, tzinfo=UTC), "happens twice in Europe/Paris"),
    ],
)
async def test_bad_schedule_times_are_refused_before_any_request(gateway, mock_http, at, problem):
    with pytest.raises(ValidationError, match=problem):
        await gateway.schedule(Message(TO, "Later"), at)
    assert mock_http.requests == {}


async def test_a_send_the_provider_refuses_raises_its_field_errors(gateway, mock_http):
    mock_http.post(BASE + "/sms", status=400, payload=fixture("errors"))
    with pytest.raises(InvalidRequest) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert "+123456789" in str(caught.value)


@pytest.mark.parametrize(
    "answer", [{"message_id": 1}, {"message_id": 1, "sms_ids": {OTHER: 2}}, []]
)
async def test_a_created_answer_of_the_wrong_shape_may_have_sent(gateway, mock_http, answer):
    mock_http.post(BASE + "/sms", payload=answer)
    with pytest.raises(TransportError) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert caught.value.maybe_sent is True


async def test_status_gets_one_sms(gateway, mock_http):
    mock_http.get(BASE + "/sms/123456", payload=fixture("sms"))
    receipt = Receipt(
        provider="smsscheduler",
        message_id="123456",
        to=TO,
        status=DeliveryStatus.QUEUED,
        batch_id="99",
        reference="r-1",
    )
    report = await gateway.status(receipt)
    headers, body = sent(mock_http, "GET", "/sms/123456")
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert body is None
    assert report.status is DeliveryStatus.DELIVERED
    assert (report.message_id, report.to, report.batch_id, report.reference) == (
        "123456",
        TO,
        "99",
        "r-1",
    )
    assert report.provider_status == 13


async def test_status_of_a_failed_sms_says_why(gateway, mock_http):
    mock_http.get(BASE + "/sms/5", payload={"phone_number": "33612345678", "status": 31})
    report = await gateway.status("5")
    assert (report.status, report.reason) == (DeliveryStatus.UNDELIVERED, FailureReason.BLOCKED)
    assert report.detail == "Missed - Blacklisted phone number or blocked by phone carrier"
    assert report.to == TO


async def test_status_of_an_unknown_sms_is_not_found_even_without_a_body(gateway, mock_http):
    mock_http.get(BASE + "/sms/404", status=404)
    with pytest.raises(NotFound):
        await gateway.status("404")


async def test_cancel_deletes_one_sms(gateway, mock_http):
    mock_http.delete(BASE + "/sms/123456", payload=fixture("deleted_sms"))
    report = await gateway.cancel("123456")
    assert calls(mock_http, "DELETE", "/sms/123456")
    assert (report.status, report.message_id) == (DeliveryStatus.CANCELLED, "123456")


async def test_a_cancel_the_provider_did_not_carry_out_is_refused(gateway, mock_http):
    mock_http.delete(BASE + "/sms/1", payload={"success": False})
    with pytest.raises(InvalidRequest, match="SMS 1 was not deleted"):
        await gateway.cancel("1")


async def test_a_cancel_answer_of_the_wrong_shape_is_a_clear_error(gateway, mock_http):
    mock_http.delete(BASE + "/sms/1", payload={"deleted": True})
    with pytest.raises(TransportError, match="unexpected answer"):
        await gateway.cancel("1")


async def test_batch_status_reports_every_number_of_one_message(gateway, mock_http):
    mock_http.get(BASE + "/message/123456", payload=fixture("message"))
    reports = await gateway.batch_status("123456")
    assert [(r.message_id, r.to, r.status, r.batch_id) for r in reports] == [
        ("123456", TO, DeliveryStatus.DELIVERED, "123456"),
        ("123457", OTHER, DeliveryStatus.UNDELIVERED, "123456"),
    ]
    assert reports[1].reason is FailureReason.INVALID_RECIPIENT


async def test_batch_status_takes_a_receipt_of_that_message(gateway, mock_http):
    mock_http.get(BASE + "/message/99", payload=[])
    receipt = Receipt(
        provider="smsscheduler", message_id="1", to=TO, status=DeliveryStatus.QUEUED, batch_id="99"
    )
    assert await gateway.batch_status(receipt) == []


@pytest.mark.parametrize(
    ("answer", "count"), [(fixture("deleted_message"), 3), ({"success": True}, None)]
)
async def test_cancel_batch_cancels_every_sms_of_one_message(gateway, mock_http, answer, count):
    mock_http.delete(BASE + "/message/123456", payload=answer)
    receipt = await gateway.cancel_batch("123456")
    assert receipt == BatchReceipt(
        provider="smsscheduler", batch_id="123456", status=DeliveryStatus.CANCELLED
    )
    assert receipt.raw == answer
    assert len(recorded(mock_http, "DELETE", BASE + "/message/123456")) == 1


async def test_cancel_batch_with_nothing_left_to_cancel_is_refused(gateway, mock_http):
    mock_http.delete(BASE + "/message/123456", payload={"success": 0})
    with pytest.raises(InvalidRequest, match="nothing to cancel: no SMS of message 123456"):
        await gateway.cancel_batch("123456")


@pytest.mark.parametrize(
    ("answer", "count"),
    [(fixture("deleted_message"), 3), ({"success": True}, None), ({"success": 0}, 0)],
)
async def test_the_old_names_still_work_and_warn(gateway, mock_http, answer, count):
    mock_http.get(BASE + "/message/123456", payload=fixture("message"))
    mock_http.delete(BASE + "/message/123456", payload=answer)
    with pytest.warns(DeprecationWarning, match="message_status is deprecated; use batch_status"):
        reports = await gateway.message_status("123456")
    assert [r.message_id for r in reports] == ["123456", "123457"]
    with pytest.warns(DeprecationWarning, match="cancel_message is deprecated; use cancel_batch"):
        assert await gateway.cancel_message("123456") == count


async def test_batch_calls_need_a_batch_id(gateway):
    receipt = Receipt(provider="smsscheduler", message_id="1", to=TO, status=DeliveryStatus.QUEUED)
    with pytest.raises(ValidationError, match="batch: this receipt has no batch id"):
        await gateway.batch_status(receipt)
    with pytest.raises(ValidationError, match="must be a BatchReceipt or a batch id"):
        await gateway.cancel_batch("")


# === configuration and secrets ==============================================================


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "missing option 'token' for provider 'smsscheduler'"),
        ({"token": " "}, "token: give the API token"),
        ({"token": "t", "sender_id": 0}, "sender_id: must be a positive whole number"),
        ({"token": "t", "sender_id": 12.5}, "sender_id: must be a positive whole number"),
        ({"token": "t", "sender_id": True}, "sender_id: must be a positive whole number"),
        ({"token": "t", "senders": {"Acme": "12"}}, "senders: must map sender names"),
        ({"token": "t", "timezone": "Paris"}, "timezone: must be an IANA time zone name"),
        ({"token": "t", "timezone": "../etc/passwd"}, "timezone: must be an IANA time zone name"),
    ],
)
def test_bad_configuration_is_refused(options, problem):
    with pytest.raises(ConfigurationError, match=problem):
        smsgate.connect("smsscheduler", **options)


def test_configuration_from_the_environment_reads_ids_and_senders():
    gateway = smsgate.from_env(
        {
            "SMSGATE_PROVIDER": "smsscheduler",
            "SMSGATE_TOKEN": TOKEN,
            "SMSGATE_SENDER_ID": "123",
            "SMSGATE_SENDERS": '{"Acme": 123}',
            "SMSGATE_TIMEZONE": "Europe/Paris",
        }
    )
    assert isinstance(gateway, SmsSchedulerGateway)
    assert (gateway.sender_id, dict(gateway.senders), gateway.timezone) == (
        123,
        {"Acme": 123},
        PARIS,
    )


def test_senders_from_the_environment_must_be_json():
    with pytest.raises(ConfigurationError, match="option 'senders' must be JSON"):
        smsgate.from_env(
            {"SMSGATE_PROVIDER": "smsscheduler", "SMSGATE_TOKEN": "t", "SMSGATE_SENDERS": "Acme=1"}
        )


async def test_the_token_never_shows(mock_http, caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate")
    mock_http.post(BASE + "/sms", status=401, body=f"token {TOKEN} revoked")
    gateway = SmsSchedulerGateway(token=TOKEN, sender_id=1)
    with pytest.raises(AuthenticationError) as caught:
        await gateway.send(Message(TO, "Hi"))
    await gateway.aclose()
    assert leaks("s3cr3t", caught.value, gateway, caplog.text) == []


async def test_concurrent_sends_share_one_session(gateway, mock_http):
    mock_http.post(BASE + "/sms", payload=fixture("created_integer"), repeat=True)
    await asyncio.gather(*(gateway.send(Message(TO, f"n{i}")) for i in range(20)))
    assert len(calls(mock_http, "POST", "/sms")) == 20
