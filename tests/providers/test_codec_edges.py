"""The corners of the codecs that the provider suites do not reach."""

from datetime import UTC, datetime

import pytest

from smsgate import ValidationError
from smsgate.providers.codec import parse_retry_after
from smsgate.providers.smsscheduler import parse_created
from smsgate.providers.smsworks import parse_delivery_report

TO = "+447700900123"


def test_an_http_date_without_a_zone_is_read_as_utc():
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=now) == 60.0


def test_ids_written_as_padded_text_are_read_and_unreadable_numbers_are_left_out():
    answer = {"message_id": " 12 ", "sms_ids": {TO: " 7 ", "not a number": 9}}
    assert parse_created(answer, [TO]) == ("12", {TO: ["7"]})


def test_a_report_field_that_is_not_text_is_refused():
    report = {"messageid": "1", "status": "DELIVERED", "content": "\ud800"}
    with pytest.raises(ValidationError, match="content: is not text in the delivery report"):
        parse_delivery_report(report)
