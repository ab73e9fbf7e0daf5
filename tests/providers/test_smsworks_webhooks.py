"""Reading what The SMS Works posts: delivery reports and incoming SMS."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsgate import DeliveryStatus, FailureReason, InboundMessage, StatusReport, ValidationError
from smsgate.providers.smsworks import (
    STATUSES,
    SmsWorksGateway,
    parse_delivery_report,
    parse_inbound,
    parse_webhook,
)
from smsgate.registry import webhook_parser
from tests.support.providers import SMSWORKS

RECEIVED = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def report_with(**fields):
    return {**SMSWORKS.fixture("delivery_report"), **fields}


def incoming_with(**fields):
    return {**SMSWORKS.fixture("incoming"), **fields}


# --- delivery reports ----------------------------------------------------------------------


def test_the_guides_delivery_report_reads_as_a_status_report():
    data = SMSWORKS.fixture("delivery_report")

    report = parse_delivery_report(data)

    assert report == StatusReport(
        provider="smsworks",
        message_id="128032521395903584",
        status=DeliveryStatus.DELIVERED,
        to="+447777777777",
        provider_status="DELIVERED",
        updated_at=datetime(2017, 3, 25, 21, 43, 13, 229000, tzinfo=UTC),
    )
    assert report.raw is data


@pytest.mark.parametrize(("word", "status"), STATUSES.items())
def test_every_status_word_of_a_delivery_report_maps_to_its_unified_status(word, status):
    report = parse_delivery_report(report_with(status=word))

    assert (report.status, report.provider_status) == (status, word)


def test_a_new_status_word_is_unknown_not_an_error():
    report = parse_delivery_report(report_with(status="VAPORISED"))

    assert (report.status, report.provider_status) == (DeliveryStatus.UNKNOWN, "VAPORISED")


def test_an_undelivered_report_carries_the_providers_failure_words():
    data = report_with(
        status="UNDELIVERED", failurereason={"code": 1, "details": "Absent", "permanent": False}
    )

    report = parse_delivery_report(data)

    assert report.status is DeliveryStatus.UNDELIVERED
    assert report.reason is FailureReason.UNKNOWN
    assert report.detail == "Absent (code 1)"


def test_an_expired_report_says_expired():
    assert parse_delivery_report(report_with(status="EXPIRED")).reason is FailureReason.EXPIRED


@pytest.mark.parametrize(
    ("destination", "to"),
    [
        (447777777777, "+447777777777"),
        ("447777777777", "+447777777777"),
        ("07777777777", "+447777777777"),
        ("33612345678", "+33612345678"),
        ("not a number", None),
        (None, None),
    ],
)
def test_the_destination_is_read_into_e164_or_left_empty(destination, to):
    assert parse_delivery_report(report_with(destination=destination)).to == to


def test_unknown_fields_are_ignored():
    report = parse_delivery_report(report_with(brandnew={"nested": [1, 2]}, __v=7))

    assert report.message_id == "128032521395903584"


def test_a_report_in_a_batch_carries_its_batch_id():
    assert parse_delivery_report(report_with(batchid="b-1")).batch_id == "b-1"


@pytest.mark.parametrize("field", ["messageid", "status"])
@pytest.mark.parametrize("value", ["<absent>", None, ""])
def test_a_report_without_a_required_field_names_it(field, value):
    data = SMSWORKS.fixture("delivery_report")
    if value == "<absent>":
        del data[field]
    else:
        data[field] = value

    with pytest.raises(ValidationError) as raised:
        parse_delivery_report(data)

    assert raised.value.field == field
    assert str(raised.value) == f"{field}: is missing from the delivery report"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "must be a JSON object, not an array"),
        ("DELIVERED", "must be a JSON object, not str"),
        (42, "must be a JSON object, not int"),
        (None, "must be a JSON object, not NoneType"),
    ],
)
def test_a_report_that_is_not_an_object_is_refused(data, problem):
    with pytest.raises(ValidationError, match=problem) as raised:
        parse_delivery_report(data)

    assert raised.value.field == "delivery report"


@pytest.mark.parametrize(
    "fields",
    [
        {"status": ["DELIVERED"]},
        {"status": 5},
        {"messageid": {"id": 1}},
        {"modified": [2017]},
        {"batchid": []},
        {"destination": True},
    ],
)
def test_a_report_with_a_field_of_the_wrong_type_is_refused_naming_it(fields):
    with pytest.raises(ValidationError, match="must be text in the delivery report") as raised:
        parse_delivery_report(report_with(**fields))

    assert raised.value.field == next(iter(fields))


# --- incoming SMS --------------------------------------------------------------------------


def test_the_guides_incoming_sms_reads_as_an_inbound_message():
    data = SMSWORKS.fixture("incoming")

    message = parse_inbound(data, received_at=RECEIVED)

    assert message == InboundMessage(
        provider="smsworks",
        message_id="6170167",
        sender="+447777777777",
        to="+447777777778",
        text="INCOMING CONTENT",
        received_at=RECEIVED,
    )
    assert message.raw is data


def test_an_incoming_sms_is_stamped_with_the_time_it_was_read():
    before = datetime.now(UTC)

    received_at = parse_inbound(SMSWORKS.fixture("incoming")).received_at

    assert before <= received_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("447777777777", "+447777777777"),
        ("+447777777777", "+447777777777"),
        ("07777777777", "+447777777777"),
        ("60777", "60777"),  # a short code, as keywords arrive on
        ("VODAFONE", "VODAFONE"),  # not a number: kept, never dropped
        (" 447777777777 ", "+447777777777"),
    ],
)
def test_incoming_numbers_are_e164_and_short_codes_stay_as_written(written, read):
    message = parse_inbound(incoming_with(**{"from": written, "to": written}))

    assert (message.sender, message.to) == (read, read)


def test_an_incoming_message_id_may_be_a_number():
    assert parse_inbound(incoming_with(messageid=6170167)).message_id == "6170167"


def test_an_empty_incoming_text_is_kept():
    assert parse_inbound(incoming_with(content="")).text == ""


@pytest.mark.parametrize("field", ["messageid", "from", "to", "content"])
def test_an_incoming_message_without_a_required_field_names_it(field):
    data = SMSWORKS.fixture("incoming")
    del data[field]

    with pytest.raises(ValidationError) as raised:
        parse_inbound(data)

    assert str(raised.value) == f"{field}: is missing from the incoming message"


@pytest.mark.parametrize("fields", [{"content": 5}, {"from": ["447777777777"]}, {"to": {}}])
def test_an_incoming_message_with_a_field_of_the_wrong_type_is_refused(fields):
    with pytest.raises(ValidationError):
        parse_inbound(incoming_with(**fields))


# --- telling them apart --------------------------------------------------------------------


def test_a_payload_marked_incoming_is_an_inbound_message():
    assert isinstance(parse_webhook(SMSWORKS.fixture("incoming")), InboundMessage)


def test_any_other_payload_is_a_delivery_report():
    assert isinstance(parse_webhook(SMSWORKS.fixture("delivery_report")), StatusReport)


def test_an_incoming_payload_without_its_fields_is_refused_as_incoming():
    with pytest.raises(ValidationError, match="incoming message"):
        parse_webhook({"messagetype": "incoming", "messageid": "1"})


def test_the_provider_registers_its_webhook_parser_by_name():
    assert webhook_parser("smsworks") is parse_webhook
    assert not hasattr(SmsWorksGateway, "parse_webhook")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
field_values = st.none() | st.integers() | st.text(max_size=20) | json_values


@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {},
            optional=dict.fromkeys(
                ("messageid", "status", "destination", "modified", "batchid"), field_values
            )
            | {"failurereason": json_values},
        ),
        st.fixed_dictionaries(
            {"messagetype": st.just("incoming")},
            optional=dict.fromkeys(("messageid", "from", "to", "content"), field_values),
        ),
    )
)
def test_no_payload_raises_anything_but_a_validation_error(data):
    try:
        result = parse_webhook(data)
    except ValidationError:
        return
    assert isinstance(result, StatusReport | InboundMessage)
