"""The SMS Works' JSON, as attrs classes named after the schemas of its OpenAPI spec.

Each class lists the fields smsgate writes or reads, with Python names; the wire names are
given once, below, on the one converter (`smsgate.providers._wire.converter`). Unknown keys
in answers are ignored. The API's own names and limits come first.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from smsgate.providers._wire import converter, register

__all__ = [
    "BASE_URL",
    "KEY_NAME",
    "MAX_BATCH",
    "MAX_SEARCH",
    "NAME",
    "BatchMessage",
    "BatchMessageResponse",
    "CancelledMessageResponse",
    "CreditsResponse",
    "IncomingMessage",
    "Message",
    "MessageFailure",
    "MessageResponse",
    "MetaData",
    "Query",
    "ScheduledMessageResponse",
    "SendMessageResponse",
    "TokenResponse",
]

NAME: Final = "smsworks"
BASE_URL: Final = "https://api.thesmsworks.co.uk/v1"
MAX_BATCH: Final = 5000
"""Messages in one batch request (the guide once said 500; the spec and SDK say 5000)."""
KEY_NAME: Final = "smsgate_key"
"""The metadata key under which each message carries smsgate's idempotency key."""
MAX_SEARCH: Final = 1000
"""Messages one ``POST /messages`` returns at most (the spec's limit and default)."""


@attrs.frozen
class MetaData:
    """A key/value pair a message carries."""

    key: str
    value: str


@attrs.frozen
class Message:
    """One message: the body of ``/message/send`` and an item of ``/batch/any``."""

    sender: str
    destination: str
    content: str
    tag: str | None = None
    metadata: list[MetaData] | None = None
    validity: int | None = None
    schedule: str | None = None
    delivery_report_url: str | None = None
    ttl: int | None = None
    response_email: list[str] | None = None
    ai: bool | None = None


@attrs.frozen
class BatchMessage:
    """One text to many numbers: ``/batch/send`` and ``/batch/schedule``."""

    sender: str
    destinations: list[str]
    content: str
    tag: str | None = None
    validity: int | None = None
    schedule: str | None = None
    delivery_report_url: str | None = None
    ttl: int | None = None
    ai: bool | None = None


@attrs.frozen
class SendMessageResponse:
    """The answer of ``/message/send``."""

    message_id: str
    status: str
    credits_used: float | None = None
    message_parts: int | None = None


@attrs.frozen
class ScheduledMessageResponse:
    """The answer of ``/message/schedule``."""

    message_id: str
    status: str


@attrs.frozen
class CancelledMessageResponse:
    """The answer of ``DELETE /messages/schedule/{id}`` and ``/batches/schedule/{id}``."""

    message_id: str
    status: str


@attrs.frozen
class BatchMessageResponse:
    """The answer of the batch endpoints."""

    batch_id: str
    status: str


@attrs.frozen
class Query:
    """The body of ``POST /messages``: the spec's Query."""

    status: str | None = None
    destination: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    skip: int | None = None
    metadata: list[MetaData] | None = None


@attrs.frozen
class MessageFailure:
    """MessageResponse's ``failurereason``."""

    code: int | None = None
    details: str | None = None
    permanent: bool | None = None


@attrs.frozen
class MessageResponse:
    """MessageResponse: a message as the provider logged it."""

    message_id: str
    status: str
    destination: str | None = None
    batch_id: str | None = None
    failure_reason: MessageFailure | None = None
    modified: str | None = None
    metadata: Any = None


@attrs.frozen
class IncomingMessage:
    """An incoming SMS, as the guide's "Incoming SMS" shows it."""

    message_id: str
    sender: str
    to: str
    content: str


@attrs.frozen
class CreditsResponse:
    """The answer of ``GET /credits/balance``."""

    credits: float


@attrs.frozen
class TokenResponse:
    """The answer of ``POST /auth/token``."""

    token: str


for _cls in (Message, BatchMessage):
    register(
        converter, _cls, delivery_report_url="deliveryreporturl", response_email="responseemail"
    )
register(
    converter,
    SendMessageResponse,
    message_id="messageid",
    credits_used="creditsUsed",
    message_parts="messageparts",
)
register(converter, ScheduledMessageResponse, message_id="messageid")
register(converter, CancelledMessageResponse, message_id="messageid")
register(converter, BatchMessageResponse, batch_id="batchid")
register(
    converter,
    MessageResponse,
    message_id="messageid",
    batch_id="batchid",
    failure_reason="failurereason",
)
register(converter, IncomingMessage, message_id="messageid", sender="from")
register(converter, Query, since="from", until="to")
