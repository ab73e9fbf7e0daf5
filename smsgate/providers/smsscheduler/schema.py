"""SMS Scheduler's JSON, as attrs classes on the one converter (`smsgate.providers._wire`).

The API page publishes no schema names, so each class is named after its endpoint. Fields
whose type the published pages disagree on (ids as numbers or strings, ``sms_ids`` values as
lists or single integers, ``success`` as a boolean or a count) are read as they come and
checked by the codec, which says what was wrong.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Deleted", "FieldErrors", "SmsCreated", "SmsReport", "SmsRequest"]


@attrs.frozen
class SmsRequest:
    """The body of ``POST /sms``: one text to many numbers."""

    message_text: str
    delivery_date: str
    sender_id: int
    phone_numbers: list[str]
    message_stop: bool | None = None


@attrs.frozen
class SmsCreated:
    """The answer of ``POST /sms``: the message id, and each number's SMS ids."""

    message_id: Any = None
    sms_ids: Any = None


@attrs.frozen
class SmsReport:
    """One SMS: the answer of ``GET /sms/{id}``, and an item of ``GET /message/{id}``."""

    status: Any = None
    phone_number: Any = None
    id: Any = None


@attrs.frozen
class Deleted:
    """The answer of ``DELETE /sms/{id}`` (true or false) and ``/message/{id}`` (a count)."""

    success: Any = None


@attrs.frozen
class FieldErrors:
    """A 400's body: ``{"errors": {field: [messages]}}``."""

    errors: Any = None
