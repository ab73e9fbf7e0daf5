import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest

import smsgate
from smsgate import (
    AuthenticationError,
    BatchReceipt,
    ConfigurationError,
    DeliveryStatus,
    FailureReason,
    InsufficientCredit,
    InvalidRequest,
    KeyConflict,
    Message,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Receipt,
    SmsGateway,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import on_dispatch
from smsgate.model import normalize_number
from smsgate.outcomes import Outcome, OutcomeStatus
from smsgate.providers._wire import write
from smsgate.providers.base import USER_AGENT, HttpResponse
from smsgate.providers.smsworks import (
    ERRORS,
    STATUSES,
    SmsWorksGateway,
    batch_payload,
    check_sender,
    message_payload,
    parse_batch_status,
    parse_logged,
    parse_status,
    parse_time,
    schedule_time,
    search_query,
)
from tests.support.leaks import leaks
from tests.support.providers import SMSWORKS, schema_errors

BASE, TOKEN = SMSWORKS.base, SMSWORKS.token
fixture, calls, sent = SMSWORKS.fixture, SMSWORKS.calls, SMSWORKS.sent

TO = "+447700900123"
OTHER = "+447700900456"


def in_an_hour():
    return datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
async def gateway():
    async with SmsWorksGateway(token=TOKEN, sender="Acme") as works:
        yield works


# === the status table =======================================================================


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("SCHEDULED", DeliveryStatus.SCHEDULED),
        ("ACCEPTED", DeliveryStatus.QUEUED),
        ("SENT", DeliveryStatus.SENT),
        ("PROCESSED", DeliveryStatus.SENT),
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("UNDELIVERED", DeliveryStatus.UNDELIVERED),
        ("UNDELIVERABLE", DeliveryStatus.UNDELIVERED),
        ("EXPIRED", DeliveryStatus.EXPIRED),
        ("REJECTED", DeliveryStatus.REJECTED),
        ("CANCELLED", DeliveryStatus.CANCELLED),
        ("DELETED", DeliveryStatus.CANCELLED),
        ("UNKNOWN", DeliveryStatus.UNKNOWN),
    ],
)
def test_each_status_word_maps_as_designed(word, status):
    assert parse_status(word) is status
    assert STATUSES[word] is status


def test_the_status_table_has_exactly_the_documented_words():
    assert len(STATUSES) == 12


@pytest.mark.parametrize("word", ["INCOMING", "QUEUED_AT_NETWORK", "", "   "])
def test_an_unknown_status_word_is_unknown_never_an_error(word):
    assert parse_status(word) is DeliveryStatus.UNKNOWN


def test_status_words_are_read_whatever_their_case():
    assert parse_status(" delivered ") is DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("DELIVERED", None),
        ("SENT", None),
        ("EXPIRED", FailureReason.EXPIRED),
        ("UNDELIVERED", FailureReason.UNKNOWN),
        ("REJECTED", FailureReason.UNKNOWN),
    ],
)
def test_a_failed_status_carries_a_reason(word, reason):
    report = parse_logged(fixture("message_delivered") | {"status": word})
    assert report.reason is reason


# === the error table ========================================================================


def answer(status, body=None, headers=None):
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


_I, _P = InvalidRequest, PermissionDenied
_R = FailureReason


@pytest.mark.parametrize(
    ("code", "http_status", "error_class", "reason", "permanent", "retryable"),
    [
        (4001, 400, _I, _R.INVALID_CONTENT, True, False),
        (4002, 400, _I, _R.INVALID_CONTENT, True, False),
        (4003, 400, _I, _R.INVALID_SENDER, True, False),
        (4004, 400, _I, _R.INVALID_RECIPIENT, True, False),
        (4005, 400, _I, _R.INVALID_REQUEST, True, False),
        (4006, 400, _I, _R.INVALID_CONTENT, True, False),
        (4007, 400, _I, _R.ACCOUNT, True, False),
        (4011, 401, AuthenticationError, _R.ACCOUNT, True, False),
        (4021, 402, InsufficientCredit, _R.INSUFFICIENT_CREDIT, True, False),
        (4031, 403, _P, _R.ACCOUNT, True, False),
        (4032, 403, _P, _R.ACCOUNT, True, False),
        (4033, 403, _P, _R.ACCOUNT, True, False),
        (4034, 403, _P, _R.UNSUPPORTED_DESTINATION, True, False),
        (5001, 503, ProviderUnavailable, _R.PROVIDER_ERROR, True, False),
        (5002, 503, ProviderUnavailable, _R.PROVIDER_ERROR, False, True),
    ],
)
def test_each_error_code_maps_as_documented(
    gateway, code, http_status, error_class, reason, permanent, retryable
):
    body = {"message": f"Error {code} happened", "errorCode": code, "status": "ERROR"}
    error = gateway.error_from_response(answer(http_status, body))
    assert type(error) is error_class
    assert (error.reason, error.permanent, error.retryable) == (reason, permanent, retryable)
    # Every documented code says the message was not taken: none leaves a send uncertain.
    assert error.maybe_sent is False
    assert (error.code, error.http_status, error.detail) == (code, http_status, body["message"])
    assert error.body == body
    assert str(error).startswith(f"smsworks answered HTTP {http_status} error {code}: Error")
    assert ERRORS[code].error_class is error_class


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"message": "Internal error"}),
        (502, "<html><h1>502 Bad Gateway</h1></html>"),
        (503, {"message": "Try later", "errorCode": 5999}),  # a code the guide does not list
        (503, None),
        (504, "<html>Gateway Time-out</html>"),
    ],
)
def test_any_other_5xx_leaves_a_send_uncertain(gateway, status, body):
    raw = b"" if body is None else (json.dumps(body) if isinstance(body, dict) else body).encode()
    error = gateway.error_from_response(HttpResponse(status, {}, raw))
    assert type(error) is ProviderUnavailable
    assert error.maybe_sent is True
    assert "check before sending it again" in str(error)


def test_the_error_table_has_exactly_the_documented_codes():
    documented = [4001, 4002, 4003, 4004, 4005, 4006, 4007, 4011, 4021, 4031, 4032, 4033, 4034]
    assert sorted(ERRORS) == [*documented, 5001, 5002]


def test_the_providers_own_permanent_flag_wins(gateway):
    body = {"message": "Rejected", "errorCode": 5001, "status": "ERROR", "permanent": False}
    assert gateway.error_from_response(answer(503, body)).permanent is False


@pytest.mark.parametrize(
    ("status", "body", "error_class", "detail"),
    [
        (404, {"message": "Message not found"}, NotFound, "Message not found"),  # ErrorModel
        (401, None, AuthenticationError, None),
        (502, b"<html><h1>Bad gateway</h1></html>", ProviderUnavailable, "<html>"),
        (400, {"errors": ["something"]}, InvalidRequest, None),
        (400, ["not", "an", "object"], InvalidRequest, None),
        (500, "just a string", ProviderUnavailable, None),
        (400, {"message": "Odd", "errorCode": 4999}, InvalidRequest, "Odd"),
        (400, {"message": "Odd", "errorCode": "x"}, InvalidRequest, "Odd"),
        (400, {"message": 17, "errorCode": 4004}, InvalidRequest, None),
        (418, {"message": "teapot"}, ProviderError, "teapot"),
    ],
)
def test_any_other_error_answer_is_read_without_crashing(
    gateway, status, body, error_class, detail
):
    error = gateway.error_from_response(answer(status, body))
    assert type(error) is error_class
    assert error.http_status == status
    if detail is None:
        assert error.detail is None
    else:
        assert detail in error.detail


def test_a_429_carries_retry_after(gateway):
    error = gateway.error_from_response(answer(429, {"message": "slow"}, {"Retry-After": "3"}))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0


def test_a_401_with_a_token_says_to_check_the_token(gateway):
    error = gateway.error_from_response(answer(401, {"message": "Unauthorized"}))
    assert "check the token" in str(error)


def test_a_401_with_key_and_secret_says_to_check_them():
    gateway = SmsWorksGateway(customer_id="c-1", key="k-1", secret="s-1")
    error = gateway.error_from_response(answer(401, {"message": "Bad", "errorCode": 4011}))
    assert "check customer_id, key and secret" in str(error)


# === building requests ======================================================================


def test_a_full_message_becomes_the_documented_json():
    message = Message(
        TO,
        "Hello €",
        sender="Acme",
        tag="summer",
        metadata={"order": "17", "customer": "42"},
        validity=timedelta(hours=2),
        provider_options={
            "smsworks": {
                "deliveryreporturl": "https://example.test/dlr",
                "ttl": 10,
                "responseemail": ["ops@example.test"],
                "ai": False,
            }
        },
    )
    body = write(message_payload(message, "Acme"))
    assert body == {
        "sender": "Acme",
        "destination": "447700900123",
        "content": "Hello €",
        "tag": "summer",
        "metadata": [{"key": "order", "value": "17"}, {"key": "customer", "value": "42"}],
        "validity": 120,
        "deliveryreporturl": "https://example.test/dlr",
        "ttl": 10,
        "responseemail": ["ops@example.test"],
        "ai": False,
    }
    assert schema_errors(body, "Message") == []


def test_a_minimal_message_sends_only_what_it_has():
    body = write(message_payload(Message(TO, "Hi"), "Acme"))
    assert body == {"sender": "Acme", "destination": "447700900123", "content": "Hi"}


@pytest.mark.parametrize(
    ("validity", "minutes"),
    [(timedelta(minutes=1), 1), (timedelta(seconds=61), 2), (timedelta(days=2), 2880)],
)
def test_validity_is_sent_in_whole_minutes_rounded_up(validity, minutes):
    payload = message_payload(Message(TO, "Hi", validity=validity), "Acme")
    assert payload.validity == minutes


def test_a_validity_beyond_48_hours_is_refused():
    with pytest.raises(ValidationError, match="at most 2880 minutes"):
        message_payload(Message(TO, "Hi", validity=timedelta(days=2, minutes=1)), "Acme")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"flsh": True}, "smsworks has no option 'flsh'; it knows ai, deliveryreporturl, flash"),
        ({"ttl": "10"}, "smsworks option 'ttl' must be a int"),
        ({"ttl": True}, "smsworks option 'ttl' must be a int"),
        ({"flash": "yes"}, "smsworks option 'flash' must be a bool"),
        ({"responseemail": "a@b.test"}, "option 'responseemail' must be a list"),
        ({"responseemail": [1]}, "option 'responseemail' takes strings"),
    ],
)
def test_bad_provider_options_are_refused(options, problem):
    message = Message(TO, "Hi", provider_options={"smsworks": options})
    with pytest.raises(ValidationError) as caught:
        message_payload(message, "Acme")
    assert caught.value.field == "provider_options"
    assert problem in caught.value.problem


def test_other_providers_options_are_ignored():
    message = Message(TO, "Hi", provider_options={"smsscheduler": {"message_stop": True}})
    assert message_payload(message, "Acme").ttl is None


@pytest.mark.parametrize("sender", ["Acme", "ACME2026", "abc", "Abcdefghijk", "07900123456", "1"])
def test_senders_the_provider_takes(sender):
    assert check_sender(sender) == sender


@pytest.mark.parametrize(
    "sender", ["AB", "Abcdefghijkl", "Acme Ltd", "Acme-Ltd", "Café", "1234567890123456", "+447700"]
)
def test_senders_the_provider_refuses(sender):
    with pytest.raises(ValidationError, match="cannot be a The SMS Works sender"):
        check_sender(sender)


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2026, 11, 22, 15, 34, 23, tzinfo=UTC), "2026-11-22T15:34:23+00:00"),
        (
            datetime(2026, 7, 1, 9, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1))),
            "2026-07-01T09:00:00+01:00",
        ),
    ],
)
def test_schedule_times_are_iso_8601_with_an_offset(at, text):
    assert schedule_time(at) == text


def test_one_text_to_many_numbers_is_a_batch_message():
    messages = [Message(TO, "Hi", tag="t"), Message(OTHER, "Hi", tag="t")]
    payload = batch_payload(messages, ["Acme", "Acme"])
    body = write(payload)
    assert body == {
        "sender": "Acme",
        "destinations": ["447700900123", "447700900456"],
        "content": "Hi",
        "tag": "t",
    }
    assert schema_errors(body, "BatchMessage") == []


@pytest.mark.parametrize(
    ("second", "senders"),
    [
        (Message(OTHER, "Bye"), ["Acme", "Acme"]),
        (Message(OTHER, "Hi", tag="other"), ["Acme", "Acme"]),
        (Message(OTHER, "Hi", metadata={"k": "v"}), ["Acme", "Acme"]),
        (Message(OTHER, "Hi", validity=timedelta(hours=1)), ["Acme", "Acme"]),
        (Message(OTHER, "Hi", provider_options={"smsworks": {"ttl": 5}}), ["Acme", "Acme"]),
        (Message(OTHER, "Hi"), ["Acme", "Other"]),
    ],
)
def test_messages_that_differ_are_not_one_batch_message(second, senders):
    assert batch_payload([Message(TO, "Hi"), second], senders) is None


# === reading answers ========================================================================


def test_a_logged_message_becomes_a_status_report():
    report = parse_logged(fixture("message"))
    assert report.provider == "smsworks"
    assert report.message_id == "123456789"
    assert report.status is DeliveryStatus.UNDELIVERED
    assert report.reason is FailureReason.UNKNOWN
    assert report.provider_status == "UNDELIVERED"
    assert report.detail == "Handset error (code 34)"
    assert report.to == "+447777777777"  # destination arrives as a number
    assert report.batch_id == "2586749"
    assert report.updated_at == datetime(
        2017, 7, 19, 20, 53, 49, tzinfo=timezone(timedelta(hours=1))
    )
    assert report.raw == fixture("message")


@pytest.mark.parametrize(
    ("metadata", "read"),
    [
        ([{"key": "order", "value": "17"}, {"key": "smsgate_key", "value": "k"}], {"order": "17"}),
        ({"order": "17", "smsgate_key": "k"}, {"order": "17"}),  # an object, should it come so
        ([{"key": "order"}, "junk", {"key": 1, "value": "x"}], {}),
        (None, {}),
    ],
)
def test_a_logged_messages_metadata_is_the_callers_own(metadata, read):
    logged = {**fixture("message"), "metadata": metadata}
    assert parse_logged(logged).metadata == read


@pytest.mark.parametrize(
    ("word", "scheduled", "status"),
    [
        ("SCHEDULED", False, DeliveryStatus.QUEUED),  # the answer to a batch sent now
        ("SCHEDULED", True, DeliveryStatus.SCHEDULED),
        ("SENT", False, DeliveryStatus.SENT),
        ("ACCEPTED", False, DeliveryStatus.QUEUED),
        ("SOMETHING", False, DeliveryStatus.UNKNOWN),
    ],
)
def test_a_batch_answers_status_depends_on_whether_it_was_scheduled(word, scheduled, status):
    assert parse_batch_status(word, scheduled=scheduled) is status


def test_smsgates_own_metadata_key_is_refused_in_a_messages_metadata():
    message = Message(TO, "Hi", metadata={"smsgate_key": "mine"})
    with pytest.raises(ValidationError, match="'smsgate_key' is smsgate's own key"):
        message_payload(message, "Acme")


@pytest.mark.parametrize(
    ("options", "body"),
    [
        ({}, {"limit": 1000}),
        (
            {"metadata": {"smsgate_key": "k-1", "campaign": "x"}, "limit": 2, "skip": 10},
            {
                "limit": 2,
                "skip": 10,
                "metadata": [
                    {"key": "smsgate_key", "value": "k-1"},
                    {"key": "campaign", "value": "x"},
                ],
            },
        ),
        (
            {
                "to": "07700 900123",
                "status": "DELIVERED",
                "since": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
                "until": datetime(2026, 12, 2, 9, 0, tzinfo=timezone(timedelta(hours=1))),
            },
            {
                "status": "DELIVERED",
                "destination": "447700900123",
                "from": "2026-12-01T09:00:00+00:00",
                "to": "2026-12-02T09:00:00+01:00",
                "limit": 1000,
            },
        ),
    ],
)
def test_a_search_becomes_the_specs_query(options, body):
    if "to" in options:
        options = {**options, "to": normalize_number(options["to"], "GB")}
    query = write(search_query(**options))
    assert query == body
    assert schema_errors(query, "Query") == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"since": datetime(2026, 1, 1)}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"limit": 1001}, "limit"),
        ({"limit": 0}, "limit"),
    ],
)
def test_a_bad_search_is_refused_before_any_request(options, field):
    with pytest.raises(ValidationError) as caught:
        search_query(**options)
    assert caught.value.field == field


def test_a_logged_message_with_a_string_destination_and_iso_times():
    report = parse_logged(fixture("message_delivered"))
    assert report.status is DeliveryStatus.DELIVERED
    assert report.to == "+447777777777"
    assert report.updated_at == datetime(2017, 3, 25, 21, 43, 13, 229000, tzinfo=UTC)
    assert (report.reason, report.detail, report.batch_id) == (None, None, None)


@pytest.mark.parametrize(
    ("destination", "to"),
    [("07700900123", "+447700900123"), ("33612345678", "+33612345678"), ("12", None), ("", None)],
)
def test_logged_destinations_become_e164_where_they_can(destination, to):
    assert parse_logged(fixture("message_delivered") | {"destination": destination}).to == to


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2017-03-25T21:43:13.229Z", datetime(2017, 3, 25, 21, 43, 13, 229000, tzinfo=UTC)),
        (
            "Sun Sep 03 2017 15:34:23 GMT+0100 (BST)",
            datetime(2017, 9, 3, 15, 34, 23, tzinfo=timezone(timedelta(hours=1))),
        ),
        (
            "Tue Apr 25 2023 16:47:00 GMT+0100 (British Summer Time)",
            datetime(2023, 4, 25, 16, 47, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_provider_times_are_read_in_both_formats(text, when):
    assert parse_time(text) == when


# === the gateway over HTTP ==================================================================


def test_the_gateway_is_an_sms_gateway_registered_as_smsworks():
    gateway = smsgate.connect("smsworks", token=TOKEN)
    assert isinstance(gateway, SmsWorksGateway)
    assert isinstance(gateway, SmsGateway)
    assert gateway.base_url == BASE


async def test_send_posts_the_message_and_returns_a_receipt(gateway, mock_http):
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"))
    message = Message(TO, "Hello", reference="order-17", metadata={"k": "v"}, key="order-17-k")
    receipt = await gateway.send(message)
    headers, body = sent(mock_http, "POST", "/message/send")
    assert headers == {
        "Authorization": TOKEN,
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    assert body == {
        "sender": "Acme",
        "destination": "447700900123",
        "content": "Hello",
        "metadata": [{"key": "k", "value": "v"}, {"key": "smsgate_key", "value": "order-17-k"}],
    }
    assert schema_errors(body, "Message") == []
    assert receipt == Receipt(
        provider="smsworks",
        message_id="5b4ce5ba2b1e7a3a8c2a8d51",
        to=TO,
        status=DeliveryStatus.SENT,
        reference="order-17",
        metadata={"k": "v"},
        parts=2,
        credits=2.0,
        key="order-17-k",
    )
    assert receipt.raw == fixture("send")


async def test_a_send_answer_without_messageparts_still_reads(gateway, mock_http):
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send_without_parts"))
    receipt = await gateway.send(Message(TO, "Hello"))
    assert (receipt.message_id, receipt.parts, receipt.credits) == ("123456789", None, 2.0)


async def test_the_messages_own_sender_wins_over_the_default(gateway, mock_http):
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"))
    await gateway.send(Message(TO, "Hello", sender="07900123456"))
    assert sent(mock_http, "POST", "/message/send")[1]["sender"] == "07900123456"


async def test_a_flash_message_goes_to_the_flash_endpoint(gateway, mock_http):
    mock_http.post(BASE + "/message/flash", status=201, payload=fixture("flash"))
    message = Message(TO, "Now!", provider_options={"smsworks": {"flash": True}})
    receipt = await gateway.send(message)
    _, body = sent(mock_http, "POST", "/message/flash")
    assert body == {
        "sender": "Acme",
        "destination": "447700900123",
        "content": "Now!",
        "metadata": [{"key": "smsgate_key", "value": message.key}],
    }
    assert receipt.message_id == "123456790"
    assert calls(mock_http, "POST", "/message/send") == []


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (Message(TO, "Hi", sender="Acme Ltd"), "sender"),
        (Message(TO, "Hi", provider_options={"smsworks": {"tll": 1}}), "provider_options"),
        (Message(TO, "Hi", validity=timedelta(days=3)), "validity"),
    ],
)
async def test_bad_input_is_refused_before_any_request(gateway, mock_http, message, field):
    with pytest.raises(ValidationError) as caught:
        await gateway.send(message)
    assert caught.value.field == field
    assert mock_http.requests == {}


async def test_a_message_without_any_sender_is_refused_before_any_request(mock_http):
    async with SmsWorksGateway(token=TOKEN) as gateway:
        with pytest.raises(ValidationError, match="The SMS Works needs a sender"):
            await gateway.send(Message(TO, "Hi"))
    assert mock_http.requests == {}


@pytest.mark.parametrize("payload", [fixture("schedule_array"), fixture("schedule_object")])
async def test_schedule_posts_an_iso_time_and_reads_either_answer(gateway, mock_http, payload):
    mock_http.post(BASE + "/message/schedule", status=200, payload=payload)
    at = datetime(2030, 6, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    message = Message(TO, "Later", reference="r")
    receipt = await gateway.schedule(message, at)
    _, body = sent(mock_http, "POST", "/message/schedule")
    assert body == {
        "sender": "Acme",
        "destination": "447700900123",
        "content": "Later",
        "metadata": [{"key": "smsgate_key", "value": message.key}],
        "schedule": "2030-06-01T09:30:00+01:00",
    }
    assert schema_errors(body, "Message") == []
    assert receipt.key == message.key
    assert receipt.message_id == "123456789"
    assert receipt.status is DeliveryStatus.SCHEDULED
    assert (receipt.scheduled_at, receipt.reference) == (at, "r")


@pytest.mark.parametrize(
    ("at", "problem"),
    [(datetime(2030, 1, 1), "has no time zone"), (datetime(2020, 1, 1, tzinfo=UTC), "future")],
)
async def test_schedule_refuses_bad_times_before_any_request(gateway, mock_http, at, problem):
    with pytest.raises(ValidationError, match=problem):
        await gateway.schedule(Message(TO, "Later"), at)
    assert mock_http.requests == {}


async def test_a_scheduled_flash_message_is_unsupported(gateway, mock_http):
    message = Message(TO, "Later", provider_options={"smsworks": {"flash": True}})
    with pytest.raises(UnsupportedFeature, match="smsworks does not support scheduled flash"):
        await gateway.schedule(message, in_an_hour())
    assert mock_http.requests == {}


async def test_an_empty_schedule_array_is_an_unusable_answer(gateway, mock_http):
    mock_http.post(BASE + "/message/schedule", status=200, payload=[])
    with pytest.raises(TransportError) as caught:
        await gateway.schedule(Message(TO, "Later"), in_an_hour())
    assert caught.value.maybe_sent is True


async def test_status_gets_the_message_and_keeps_the_receipts_reference(gateway, mock_http):
    mock_http.get(BASE + "/messages/123456789", payload=fixture("message"))
    receipt = Receipt(
        provider="smsworks",
        message_id="123456789",
        to="+447777777777",
        status=DeliveryStatus.SENT,
        reference="order-17",
        metadata={"k": "v"},
    )
    report = await gateway.status(receipt)
    headers, body = sent(mock_http, "GET", "/messages/123456789")
    assert headers["Authorization"] == TOKEN
    assert "Content-Type" not in headers
    assert body is None
    assert report.status is DeliveryStatus.UNDELIVERED
    assert (report.reference, dict(report.metadata)) == ("order-17", {"k": "v"})


async def test_status_by_id_alone(gateway, mock_http):
    mock_http.get(BASE + "/messages/128032521395903584", payload=fixture("message_delivered"))
    report = await gateway.status("128032521395903584")
    assert (report.status, report.reference) == (DeliveryStatus.DELIVERED, None)


async def test_ids_are_escaped_in_paths(gateway, mock_http):
    mock_http.get(BASE + "/messages/a%2F..%2Fb", payload=fixture("message_delivered"))
    await gateway.status("a/../b")
    assert len(calls(mock_http, "GET", "/messages/a%2F..%2Fb")) == 1


async def test_status_of_an_unknown_message_is_not_found(gateway, mock_http):
    mock_http.get(BASE + "/messages/404", status=404, payload={"message": "Message not found"})
    with pytest.raises(NotFound, match="Message not found"):
        await gateway.status("404")


async def test_a_status_answer_of_the_wrong_shape_is_a_clear_error(gateway, mock_http):
    mock_http.get(BASE + "/messages/1", payload={"id": "1"})
    with pytest.raises(TransportError) as caught:
        await gateway.status("1")
    assert "required field missing" in str(caught.value)


async def test_cancel_deletes_the_scheduled_message(gateway, mock_http):
    mock_http.delete(BASE + "/messages/schedule/5620320", payload=fixture("cancelled"))
    report = await gateway.cancel("5620320")
    assert calls(mock_http, "DELETE", "/messages/schedule/5620320")
    assert report.status is DeliveryStatus.CANCELLED
    assert (report.message_id, report.provider_status) == ("5620320", "CANCELLED")


async def test_the_balance_is_a_number_of_credits(gateway, mock_http):
    mock_http.get(BASE + "/credits/balance", payload=fixture("credits"))
    assert await gateway.balance() == 180.5


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (
            402,
            {"message": "Insufficient credit", "errorCode": 4021, "status": "ERROR"},
            InsufficientCredit,
        ),
        (
            400,
            {"message": "Invalid destination", "errorCode": 4004, "status": "ERROR"},
            InvalidRequest,
        ),
        (
            503,
            {"message": "Service database error", "errorCode": 5002, "status": "ERROR"},
            ProviderUnavailable,
        ),
    ],
)
async def test_error_answers_to_a_send_raise_the_mapped_error(
    gateway, mock_http, status, body, error_class
):
    mock_http.post(BASE + "/message/send", status=status, payload=body)
    with pytest.raises(error_class) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert caught.value.code == body["errorCode"]


@pytest.mark.parametrize(
    "payload", [{"id": "1"}, [], "SENT", {"messageid": None, "status": "SENT"}]
)
async def test_a_send_answer_of_the_wrong_shape_may_have_sent(gateway, mock_http, payload):
    mock_http.post(BASE + "/message/send", status=201, payload=payload)
    with pytest.raises(TransportError) as caught:
        await gateway.send(Message(TO, "Hi"))
    assert caught.value.maybe_sent is True
    assert "answered POST /message/send with an unexpected answer" in str(caught.value)


# === batches ================================================================================


async def test_send_batch_of_one_text_goes_through_batch_any_with_a_key_each(gateway, mock_http):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    messages = [Message(TO, "Hi"), Message(OTHER, "Hi")]
    batch = await gateway.send_batch(messages)
    _, body = sent(mock_http, "POST", "/batch/any")
    assert body == [
        {
            "sender": "Acme",
            "destination": number[1:],
            "content": "Hi",
            "metadata": [{"key": "smsgate_key", "value": m.key}],
        }
        for number, m in zip((TO, OTHER), messages, strict=True)
    ]
    assert schema_errors(body, "MessageArray") == []
    assert calls(mock_http, "POST", "/batch/send") == []
    # The spec's answer to a batch sent now says SCHEDULED: it is queued for processing.
    assert batch == BatchReceipt(
        provider="smsworks",
        batch_id="2586749",
        status=DeliveryStatus.QUEUED,
        recipients=(TO, OTHER),
    )


async def test_without_keys_send_batch_of_one_text_uses_batch_send(mock_http):
    mock_http.post(BASE + "/batch/send", status=201, payload=fixture("batch"))
    gateway = SmsWorksGateway(token=TOKEN, sender="Acme", idempotency_keys=False)
    async with gateway:
        batch = await gateway.send_batch([Message(TO, "Hi"), Message(OTHER, "Hi")])
    _, body = sent(mock_http, "POST", "/batch/send")
    assert body == {
        "sender": "Acme",
        "destinations": ["447700900123", "447700900456"],
        "content": "Hi",
    }
    assert schema_errors(body, "BatchMessage") == []
    assert batch.status is DeliveryStatus.QUEUED


async def test_send_batch_of_distinct_messages_uses_batch_any(mock_http):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    messages = [Message(TO, "Hi Ann"), Message(OTHER, "Hi Bob", sender="Shop", tag="x")]
    gateway = SmsWorksGateway(token=TOKEN, sender="Acme", idempotency_keys=False)
    async with gateway:
        await gateway.send_batch(messages)
    _, body = sent(mock_http, "POST", "/batch/any")
    assert body == [
        {"sender": "Acme", "destination": "447700900123", "content": "Hi Ann"},
        {"sender": "Shop", "destination": "447700900456", "content": "Hi Bob", "tag": "x"},
    ]
    assert schema_errors(body, "MessageArray") == []
    assert calls(mock_http, "POST", "/batch/send") == []


async def test_a_batch_with_metadata_uses_batch_any(gateway, mock_http):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    await gateway.send_batch([Message(TO, "Hi", metadata={"k": "v"}), Message(OTHER, "Hi")])
    assert calls(mock_http, "POST", "/batch/any")


@pytest.mark.parametrize(
    ("messages", "error", "problem"),
    [
        ([], ValidationError, "is empty"),
        (
            [Message(TO, "Hi")] * 5001,
            ValidationError,
            "has 5001 messages; The SMS Works takes at most 5000",
        ),
        (["not a message"], ValidationError, "holds a str, not a Message"),
        (
            [Message(TO, "Hi", provider_options={"smsworks": {"flash": True}})],
            UnsupportedFeature,
            "flash messages in a batch",
        ),
        ([Message(TO, "Hi", sender="A B")], ValidationError, "cannot be a The SMS Works sender"),
    ],
)
async def test_bad_batches_are_refused_before_any_request(
    gateway, mock_http, messages, error, problem
):
    with pytest.raises(error, match=problem):
        await gateway.send_batch(messages)
    assert mock_http.requests == {}


async def test_a_batch_of_exactly_5000_goes_in_one_request(gateway, mock_http):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    messages = [Message(f"+4477009{i:05d}", f"Hi {i}") for i in range(5000)]
    batch = await gateway.send_batch(messages)
    assert len(sent(mock_http, "POST", "/batch/any")[1]) == 5000
    assert len(batch.recipients) == 5000


async def test_schedule_batch_posts_one_text_with_its_time(gateway, mock_http):
    mock_http.post(
        BASE + "/batch/schedule", status=201, payload={"batchid": "3200562", "status": "SCHEDULED"}
    )
    at = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
    batch = await gateway.schedule_batch([Message(TO, "Sale!"), Message(OTHER, "Sale!")], at)
    _, body = sent(mock_http, "POST", "/batch/schedule")
    assert body == {
        "sender": "Acme",
        "destinations": ["447700900123", "447700900456"],
        "content": "Sale!",
        "schedule": "2030-06-01T08:00:00+00:00",
    }
    assert schema_errors(body, "BatchMessage") == []
    assert (batch.batch_id, batch.status, batch.scheduled_at) == (
        "3200562",
        DeliveryStatus.SCHEDULED,
        at,
    )


async def test_a_scheduled_batchs_receipts_carry_no_key_as_the_endpoint_takes_none(
    gateway, mock_http
):
    mock_http.post(BASE + "/batch/schedule", status=201, payload=fixture("batch"))
    receipts = await gateway.send_chunk([Message(TO, "A"), Message(OTHER, "A")], in_an_hour())
    assert [(r.key, r.status) for r in receipts] == [(None, DeliveryStatus.SCHEDULED)] * 2


async def test_an_immediate_batchs_receipts_are_queued_with_their_keys(gateway, mock_http):
    mock_http.post(BASE + "/batch/any", status=201, payload=fixture("batch"))
    messages = [Message(TO, "A"), Message(OTHER, "B")]
    receipts = await gateway.send_chunk(messages, None)
    assert [(r.key, r.status) for r in receipts] == [
        (m.key, DeliveryStatus.QUEUED) for m in messages
    ]


# === finding a message by its key ===========================================================


async def test_find_searches_by_the_key_in_metadata(gateway, mock_http):
    mock_http.post(BASE + "/messages", payload=[fixture("message")])
    report = await gateway.find("k-17")
    headers, body = sent(mock_http, "POST", "/messages")
    assert body == {"limit": 2, "metadata": [{"key": "smsgate_key", "value": "k-17"}]}
    assert schema_errors(body, "Query") == []
    assert headers["Authorization"] == TOKEN
    assert report == parse_logged(fixture("message"))


async def test_find_of_an_outcome_checks_the_recipient(gateway, mock_http):
    mock_http.post(BASE + "/messages", payload=[fixture("message")], repeat=True)
    mine = Message("+447777777777", "Hi", key="k-1")
    other = Message(TO, "Hi", key="k-1")
    assert (await gateway.find(Outcome(0, OutcomeStatus.UNCERTAIN, None, mine, key="k-1"))).to
    with pytest.raises(KeyConflict):
        await gateway.find(Outcome(0, OutcomeStatus.UNCERTAIN, None, other, key="k-1"))


@pytest.mark.parametrize(("found", "result"), [([], None), ([1, 2], KeyConflict)])
async def test_find_says_none_for_nothing_and_refuses_two(gateway, mock_http, found, result):
    logged = [{**fixture("message"), "messageid": str(i)} for i in found]
    mock_http.post(BASE + "/messages", payload=logged)
    if result is None:
        assert await gateway.find("k") is None
    else:
        with pytest.raises(result):
            await gateway.find("k")


async def test_search_pages_with_skip_until_a_page_is_short(gateway, mock_http):
    def page(start, size):
        return [{**fixture("message"), "messageid": str(i)} for i in range(start, start + size)]

    for payload in (page(0, 3), page(3, 3), page(6, 1)):
        mock_http.post(BASE + "/messages", payload=payload)
    found = [r.message_id async for r in gateway.search(status="DELIVERED", page_size=3)]
    assert found == [str(i) for i in range(7)]
    bodies = [sent(mock_http, "POST", "/messages", n)[1] for n in range(3)]
    assert bodies == [
        {"status": "DELIVERED", "limit": 3},
        {"status": "DELIVERED", "limit": 3, "skip": 3},
        {"status": "DELIVERED", "limit": 3, "skip": 6},
    ]


async def test_a_search_reads_a_national_number_in_the_gateways_region(mock_http):
    mock_http.post(BASE + "/messages", payload=[])
    async with SmsWorksGateway(token=TOKEN, default_region="GB") as works:
        assert [r async for r in works.search(to="07700 900123")] == []
    assert sent(mock_http, "POST", "/messages")[1] == {"destination": "447700900123", "limit": 1000}


async def test_a_search_that_ignores_skip_is_stopped(gateway, mock_http):
    mock_http.post(BASE + "/messages", payload=[fixture("message")] * 2, repeat=True)
    with pytest.raises(TransportError, match="the same page twice"):
        [r async for r in gateway.search(page_size=2)]


async def test_a_search_answer_that_is_not_an_array_is_a_clear_error(gateway, mock_http):
    mock_http.post(BASE + "/messages", payload={"message": "odd"})
    with pytest.raises(TransportError, match="an answer that is not an array"):
        await gateway.find("k")


def test_idempotency_keys_must_be_a_boolean():
    with pytest.raises(ConfigurationError, match="idempotency_keys: must be true or false"):
        SmsWorksGateway(token=TOKEN, idempotency_keys="yes")  # type: ignore[arg-type]


async def test_a_token_request_is_not_announced_as_a_send(mock_http):
    mock_http.post(BASE + "/auth/token", payload=fixture("token"))
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"))
    heard = []

    async def hear(left, keyed):
        heard.append((left and keyed, len(calls(mock_http, "POST", "/auth/token"))))

    gateway = SmsWorksGateway(customer_id="c", key="key-123", secret="secret-456", sender="Acme")
    async with gateway:
        with on_dispatch(hear):
            await gateway.send(Message(TO, "Hi"))
    assert heard == [(True, 1)]  # once, for the message, after the token came


async def test_scheduling_different_texts_in_one_batch_is_unsupported(gateway, mock_http):
    with pytest.raises(UnsupportedFeature, match="scheduling different texts in one batch"):
        await gateway.schedule_batch([Message(TO, "A"), Message(OTHER, "B")], in_an_hour())
    assert mock_http.requests == {}


async def test_batch_status_reports_every_message(gateway, mock_http):
    mock_http.get(BASE + "/batch/2586749", payload=fixture("batch_messages"))
    reports = await gateway.batch_status(
        BatchReceipt(provider="smsworks", batch_id="2586749", status=DeliveryStatus.SENT)
    )
    assert [(r.message_id, r.to, r.status) for r in reports] == [
        ("m-1", TO, DeliveryStatus.DELIVERED),
        ("m-2", OTHER, DeliveryStatus.EXPIRED),
    ]
    assert reports[1].reason is FailureReason.EXPIRED


async def test_batch_status_of_the_wrong_shape_is_a_clear_error(gateway, mock_http):
    mock_http.get(BASE + "/batch/1", payload={"messages": []})
    with pytest.raises(TransportError, match="not an array"):
        await gateway.batch_status("1")


async def test_cancel_batch_deletes_the_scheduled_batch(gateway, mock_http):
    mock_http.delete(
        BASE + "/batches/schedule/3200562", payload={"messageid": "3200562", "status": "CANCELLED"}
    )
    batch = await gateway.cancel_batch("3200562")
    assert (batch.batch_id, batch.status) == ("3200562", DeliveryStatus.CANCELLED)


@pytest.mark.parametrize("batch", ["", None, 17])
async def test_a_batch_reference_must_be_a_receipt_or_an_id(gateway, batch):
    with pytest.raises(ValidationError, match="batch: must be a BatchReceipt or a batch id"):
        await gateway.batch_status(batch)


# === authentication =========================================================================


async def test_key_and_secret_fetch_one_token_for_100_concurrent_sends(mock_http):
    mock_http.post(BASE + "/auth/token", payload=fixture("token"))
    mock_http.post(BASE + "/message/send", status=201, payload=fixture("send"), repeat=True)
    async with SmsWorksGateway(
        customer_id="cust-1", key="key-1", secret="secret-1", sender="Acme"
    ) as gateway:
        await asyncio.gather(*(gateway.send(Message(TO, f"n{i}")) for i in range(100)))
    assert len(calls(mock_http, "POST", "/auth/token")) == 1
    headers, body = sent(mock_http, "POST", "/auth/token")
    assert body == {"customerid": "cust-1", "key": "key-1", "secret": "secret-1"}
    assert schema_errors(body, "TokenRequest") == []
    assert "Authorization" not in headers
    sends = calls(mock_http, "POST", "/message/send")
    assert len(sends) == 100
    assert {c.kwargs["headers"]["Authorization"] for c in sends} == {fixture("token")["token"]}


async def test_refused_key_and_secret_say_which_credentials_to_check(mock_http):
    mock_http.post(
        BASE + "/auth/token",
        status=401,
        payload={"message": "Not authenticated", "errorCode": 4011, "status": "ERROR"},
    )
    async with SmsWorksGateway(customer_id="c", key="k", secret="s", sender="Acme") as gateway:
        with pytest.raises(AuthenticationError) as caught:
            await gateway.send(Message(TO, "Hi"))
    assert "check customer_id, key and secret" in str(caught.value)
    assert calls(mock_http, "POST", "/message/send") == []


async def test_a_failed_token_request_proves_the_message_was_not_sent(mock_http):
    mock_http.post(BASE + "/auth/token", payload={"no": "token"})
    async with SmsWorksGateway(customer_id="c", key="k", secret="s", sender="Acme") as gateway:
        with pytest.raises(TransportError) as caught:
            await gateway.send(Message(TO, "Hi"))
    assert caught.value.maybe_sent is False
    assert "could not get a token" in str(caught.value)
    assert calls(mock_http, "POST", "/message/send") == []


async def test_a_refused_token_says_to_check_the_token(gateway, mock_http):
    mock_http.post(BASE + "/message/send", status=401, payload={"message": "Unauthorized"})
    with pytest.raises(AuthenticationError, match="check the token"):
        await gateway.send(Message(TO, "Hi"))


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "smsworks needs credentials: token, or all of customer_id, key and secret"),
        ({"customer_id": "c", "key": "k"}, "smsworks needs credentials"),
        ({"token": "t", "key": "k"}, "give either token, or customer_id, key and secret, not both"),
        (
            {"token": "t", "sender": "Acme Ltd"},
            "sender: use 3 to 11 letters and digits",
        ),
    ],
)
def test_bad_configuration_is_refused(options, problem):
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("smsworks", **options)
    assert problem in str(caught.value)


def test_unknown_options_list_every_valid_one_including_the_http_ones():
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect("smsworks", token="t", tokn="x")
    assert str(caught.value) == (
        "unknown option 'tokn' (did you mean 'token'?) for provider 'smsworks'; "
        "valid options: base_url, "
        "connect_timeout, customer_id, default_region, idempotency_keys, key, "
        "messages_per_second, rate_limiter, requests_per_second, retries, retry_backoff, secret, "
        "sender, "
        "session, timeout, token"
    )


def test_configuration_from_the_environment(monkeypatch):
    gateway = smsgate.from_env(
        {
            "SMSGATE_PROVIDER": "smsworks",
            "SMSGATE_TOKEN": TOKEN,
            "SMSGATE_SENDER": "Acme",
            "SMSGATE_TIMEOUT": "12.5",
            "SMSGATE_BASE_URL": "https://sandbox.example.test/v1",
        }
    )
    assert isinstance(gateway, SmsWorksGateway)
    assert (gateway.sender, gateway._timeout.total, gateway.base_url) == (
        "Acme",
        12.5,
        "https://sandbox.example.test/v1",
    )


# === secrets ================================================================================


async def test_credentials_never_show_in_reprs_errors_or_logs(mock_http, caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate")
    echoed = {"message": "bad key key-s3cr3t / secret-s3cr3t", "errorCode": 4011, "status": "ERROR"}
    mock_http.post(BASE + "/auth/token", status=401, payload=echoed)
    gateway = SmsWorksGateway(
        customer_id="cust", key="key-s3cr3t", secret="secret-s3cr3t", sender="Acme"
    )
    with pytest.raises(AuthenticationError) as caught:
        await gateway.send(Message(TO, "Hi"))
    await gateway.aclose()
    assert leaks("s3cr3t", caught.value, gateway, caplog.text) == []


async def test_a_fetched_token_is_a_secret_too(mock_http, caplog):
    caplog.set_level(logging.DEBUG, logger="smsgate")
    issued = fixture("token")["token"]
    mock_http.post(BASE + "/auth/token", payload=fixture("token"))
    mock_http.post(
        BASE + "/message/send",
        status=400,
        payload={"message": f"token {issued} lacks rights", "errorCode": 4031},
    )
    gateway = SmsWorksGateway(
        customer_id="cust-1", key="key-123", secret="secret-123", sender="Acme"
    )
    with pytest.raises(ProviderError) as caught:
        await gateway.send(Message(TO, "Hi"))
    await gateway.aclose()
    assert leaks("issued-s3cr3t", caught.value, gateway, caplog.text) == []
