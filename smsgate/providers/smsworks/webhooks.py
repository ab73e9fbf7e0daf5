"""What The SMS Works posts to the account's URLs, read with no I/O: a delivery report for
each message, and each incoming SMS (`parse_webhook` reads both; `smsgate.webhooks` serves
them, finding `parse_webhook` by the provider's name in `smsgate.registry`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from smsgate.errors import ValidationError
from smsgate.model import InboundMessage, StatusReport
from smsgate.numbers import read_number
from smsgate.providers._wire import WireError, kind_of, read
from smsgate.providers.smsworks import schema
from smsgate.providers.smsworks.codec import NAME, parse_logged

__all__ = ["parse_delivery_report", "parse_inbound", "parse_webhook"]

_SHORT_CODE = re.compile(r"[0-9]{3,8}")


# What the provider posts as text; ids and numbers may also come as JSON numbers. Anything
# else there is no report of its.
_TEXT_FIELDS = ("status", "batchid", "modified", "content", "tag")
_ID_FIELDS = ("messageid", "from", "to", "destination")
_CHECKED = tuple((field, field in _ID_FIELDS) for field in (*_TEXT_FIELDS, *_ID_FIELDS))


def _require(data: Any, what: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        from_wire = "an array" if isinstance(data, list) else type(data).__name__
        raise ValidationError(what, f"must be a JSON object, not {from_wire}")
    for field in fields:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationError(field, f"is missing from the {what}")
    for field, is_id in _CHECKED:
        value = data.get(field)
        if value is None:
            continue
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValidationError(field, f"is not text in the {what}") from None
        elif not (is_id and isinstance(value, int) and not isinstance(value, bool)):
            raise ValidationError(field, f"must be text in the {what}, not {kind_of(value)}")
    return data


def parse_delivery_report(data: Any) -> StatusReport:
    """A delivery report (the guide's "Delivery Reports") as a `StatusReport`.

    A report is the message as ``GET /messages/{id}`` shows it, so it reads the same way:
    unknown fields are ignored, an unknown status word is ``UNKNOWN``, and a destination that
    is not a phone number leaves ``to`` empty rather than losing the report.

    Raises:
        ValidationError: ``data`` is not an object, lacks ``messageid`` or ``status``, or has
            a field of the wrong type; ``field`` names it.
    """
    _require(data, "delivery report", ("messageid", "status"))
    try:
        return parse_logged(data)
    except WireError as exc:
        raise ValidationError("delivery report", str(exc)) from None


def _inbound_number(written: str) -> str:
    """A number of an incoming SMS in E.164; a short code, or a sender that is no phone number,
    as written (a reply is never dropped over how its sender is spelled)."""
    written = written.strip()
    if _SHORT_CODE.fullmatch(written):
        return written
    return read_number(written, "GB") or written


def parse_inbound(data: Any, *, received_at: datetime | None = None) -> InboundMessage:
    """An incoming SMS (the guide's "Incoming SMS") as an `InboundMessage`.

    The payload carries no time, so ``received_at`` is now (UTC) unless given.

    Raises:
        ValidationError: ``data`` is not an object, or lacks ``messageid``, ``from``, ``to``
            or ``content``, or has one of the wrong type; ``field`` names it.
    """
    _require(data, "incoming message", ("messageid", "from", "to"))
    if not isinstance(data.get("content"), str):
        raise ValidationError("content", "is missing from the incoming message")
    try:
        incoming = read(data, schema.IncomingMessage)
    except WireError as exc:  # pragma: no cover - _require has refused every such value
        raise ValidationError("incoming message", str(exc)) from None
    return InboundMessage(
        provider=NAME,
        message_id=incoming.message_id,
        sender=_inbound_number(incoming.sender),
        to=_inbound_number(incoming.to),
        text=incoming.content,
        received_at=datetime.now(UTC) if received_at is None else received_at,
        raw=data,
    )


def parse_webhook(data: Any) -> StatusReport | InboundMessage:
    """Whatever The SMS Works posted: an incoming SMS (``"messagetype": "incoming"``) or a
    delivery report (anything else).

    Raises:
        ValidationError: as `parse_delivery_report` and `parse_inbound`.
    """
    if isinstance(data, dict) and data.get("messagetype") == "incoming":
        return parse_inbound(data)
    return parse_delivery_report(data)
