"""What the emulated SMS Scheduler takes in ``POST /sms``, as pure functions with no I/O.

`check_sms` reads a request body and lists what is wrong with it, field by field, in the
wording of the API page's examples; `read_date` reads a ``delivery_date`` in the account's
time zone. The emulator (`smsgate.sandbox._smsscheduler`) documents the choices they make.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from smsgate.errors import ValidationError
from smsgate.model import normalize_number

__all__ = [
    "DATE_FORMAT",
    "LIST_OF_STRINGS",
    "SmsRequest",
    "check_sms",
    "invalid_number",
    "read_date",
    "required",
    "wrong_type",
]

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# Exactly ``YYYY-MM-DD HH:MM:SS``, zero-padded, ASCII digits: strptime alone would take
# "2020-1-5 1:2:3" and digits of any script.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
# A "+", then digits only: no spaces, hyphens, dots or brackets.
_NUMBER = re.compile(r"\+[0-9]+")

LIST_OF_STRINGS = 'The field "phone_numbers" must be a list of type "string"'
BAD_DATE = 'The field "delivery_date" must be a date "Y-m-d H:i:s"'


def required(field: str) -> str:
    """The message for a required field that is missing, null or empty."""
    return f'The field "{field}" is required'


def wrong_type(field: str, kind: str) -> str:
    """The message for a field of the wrong JSON type, as the page words it."""
    return f'The field "{field}" must be a value of type "{kind}"'


def invalid_number(number: str) -> str:
    """The message for a phone number that is refused, shown as it was sent."""
    return f"The following phone number is invalid: {number}"


@attrs.frozen
class SmsRequest:
    """A ``POST /sms`` body that passed every check.

    ``numbers`` are the numbers in E.164, in the order sent (a number listed twice is there
    twice); ``send_at`` is the delivery date as an instant in UTC.
    """

    text: str
    stop: bool
    sender_id: int
    numbers: list[str]
    send_at: datetime


def read_date(written: str, zone: zoneinfo.ZoneInfo, now: datetime) -> datetime | str:
    """``delivery_date`` as an instant in UTC, or the message saying why it is refused.

    A wall-clock time that does not exist in ``zone`` (clocks go forward) or that happens
    twice there (clocks go back) is refused when it is still to come, since the account
    could send at an hour the sender did not mean; when every reading of it is at or before
    ``now`` it goes out at once, whichever reading is meant.
    """
    if not _DATE.fullmatch(written):
        return BAD_DATE
    try:
        naive = datetime.strptime(written, DATE_FORMAT)
        readings = {naive.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    except (ValueError, OverflowError):
        return BAD_DATE
    if len(readings) == 1:
        return readings.pop()
    if max(readings) <= now:
        return min(readings)
    exists = next(iter(readings)).astimezone(zone).replace(tzinfo=None) == naive
    if not exists:
        return (
            f'The field "delivery_date" is a time that does not exist in {zone.key} '
            f"(clocks go forward then): {written}"
        )
    return (
        f'The field "delivery_date" is a time that happens twice in {zone.key} '
        f"(clocks go back then): {written}"
    )


def _numbers(value: Any, refuse: Callable[[str, str], None]) -> list[str]:
    if isinstance(value, str) and value:
        value = [value]  # "a String for a single number"
    if value is None or value == "" or value == []:
        refuse("phone_numbers", required("phone_numbers"))
        return []
    if not isinstance(value, list):
        refuse("phone_numbers", LIST_OF_STRINGS)
        return []
    if not all(isinstance(number, str) for number in value):
        refuse("phone_numbers", LIST_OF_STRINGS)
    read: list[str] = []
    for number in value:
        if not isinstance(number, str):
            continue
        try:
            if not _NUMBER.fullmatch(number):
                raise ValidationError("phone_numbers", "not + and digits")
            read.append(normalize_number(number))
        except ValidationError:
            refuse("phone_numbers", invalid_number(number))
    return read


def check_sms(
    body: Mapping[str, Any], *, senders: frozenset[int], zone: zoneinfo.ZoneInfo, now: datetime
) -> SmsRequest | dict[str, list[str]]:
    """The request ``body`` describes, or every message about what is wrong, by field."""
    errors: dict[str, list[str]] = {}

    def refuse(field: str, message: str) -> None:
        if message not in errors.setdefault(field, []):
            errors[field].append(message)

    text: Any = body.get("message_text")
    if text is None or text == "":
        refuse("message_text", required("message_text"))
    elif not isinstance(text, str):
        refuse("message_text", wrong_type("message_text", "string"))
    stop = body.get("message_stop", False)
    if not isinstance(stop, bool):
        refuse("message_stop", wrong_type("message_stop", "boolean"))
    sender: Any = body.get("sender_id")
    if sender is None:
        refuse("sender_id", required("sender_id"))
    elif isinstance(sender, bool) or not isinstance(sender, int):
        refuse("sender_id", wrong_type("sender_id", "integer"))
    elif sender not in senders:
        refuse("sender_id", f"The sender {sender} does not exist")
    written = body.get("delivery_date")
    when: datetime | str = now
    if written is None or written == "":
        refuse("delivery_date", required("delivery_date"))
    elif not isinstance(written, str):
        refuse("delivery_date", wrong_type("delivery_date", "string"))
    else:
        when = read_date(written, zone, now)
        if isinstance(when, str):
            refuse("delivery_date", when)
    numbers = _numbers(body.get("phone_numbers"), refuse)
    if errors:
        return errors
    assert isinstance(when, datetime)
    return SmsRequest(text=text, stop=stop, sender_id=sender, numbers=numbers, send_at=when)
