"""The SMS Works (https://thesmsworks.co.uk): JSON over HTTPS, authenticated by a JWT.

Endpoints (base ``https://api.thesmsworks.co.uk/v1``) and the methods that call them:

==========================================  ==========================================
``POST /auth/token``                         first request of a key/secret gateway
``POST /message/send``                       `SmsWorksGateway.send`
``POST /message/flash``                      `SmsWorksGateway.send` with ``flash``
``POST /message/schedule``                   `SmsWorksGateway.schedule`
``GET /messages/{id}``                       `SmsWorksGateway.status`
``POST /messages``                           `SmsWorksGateway.search`, `SmsWorksGateway.find`
``DELETE /messages/schedule/{id}``           `SmsWorksGateway.cancel`
``POST /batch/send``                         `SmsWorksGateway.send_batch` (one text)
``POST /batch/any``                          `SmsWorksGateway.send_batch` (distinct texts)
``POST /batch/schedule``                     `SmsWorksGateway.schedule_batch`
``GET /batch/{id}``                          `SmsWorksGateway.batch_status`
``DELETE /batches/schedule/{id}``            `SmsWorksGateway.cancel_batch`
``GET /credits/balance``                     `SmsWorksGateway.balance`
==========================================  ==========================================

Each message carries smsgate's idempotency key (`Message.key`) in its metadata, as
``{"key": "smsgate_key", "value": ...}`` beside the caller's own pairs, so that a send whose
outcome is uncertain can be looked up with ``POST /messages`` (`SmsWorksGateway.find`).
``idempotency_keys=False`` turns this off. ``/batch/send`` and ``/batch/schedule`` (one text
to many numbers) take no metadata: with keys on, immediate batches go through ``/batch/any``,
and scheduled batches go without keys (their messages cannot be looked up).

The SMS Works also POSTs to the account's own URLs: a delivery report for each message, and
each incoming SMS (`parse_webhook` reads both; `smsgate.webhooks` serves them).

The contract is the provider's developer guide and OpenAPI spec 1.10.0. Where they disagree
(content length, tag length, the schedule date format, the shape of ``/message/schedule``'s
answer) the choices are noted beside the code that makes them.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Unpack
from urllib.parse import quote

import attrs

from smsgate.checks import is_whole
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientCredit,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    TransportError,
    UnsupportedFeature,
    ValidationError,
    error_class_for_status,
)
from smsgate.gateway import BatchRef
from smsgate.model import (
    BatchReceipt,
    InboundMessage,
    Message,
    MessageRef,
    Receipt,
    StatusReport,
    batch_id_of,
    check_send_time,
    message_id_of,
    normalize_number,
    with_receipt,
)
from smsgate.outcomes import Outcome, lookup_key, the_match
from smsgate.providers._wire import WireError, kind_of, make_converter, register, structure
from smsgate.providers.base import (
    HttpGateway,
    HttpOptions,
    HttpResponse,
    Secret,
    parse_retry_after,
    provider_options,
)
from smsgate.status import DeliveryStatus, FailureReason

__all__ = [
    "ERRORS",
    "MAX_BATCH",
    "STATUSES",
    "SmsWorksGateway",
    "parse_delivery_report",
    "parse_inbound",
    "parse_webhook",
]

NAME: Final = "smsworks"
BASE_URL: Final = "https://api.thesmsworks.co.uk/v1"
MAX_BATCH: Final = 5000
"""Messages in one batch request (the guide once said 500; the spec and SDK say 5000)."""
KEY_NAME: Final = "smsgate_key"
"""The metadata key under which each message carries smsgate's idempotency key."""
MAX_SEARCH: Final = 1000
"""Messages one ``POST /messages`` returns at most (the spec's limit and default)."""
_ANY_MESSAGE: Final = "any"  # the batch key of messages that can all share /batch/any

# --- statuses and errors -------------------------------------------------------------------

STATUSES: Final[Mapping[str, DeliveryStatus]] = {
    "SCHEDULED": DeliveryStatus.SCHEDULED,
    "ACCEPTED": DeliveryStatus.QUEUED,
    "SENT": DeliveryStatus.SENT,
    "PROCESSED": DeliveryStatus.SENT,  # a scheduled job that has run
    "DELIVERED": DeliveryStatus.DELIVERED,
    "UNDELIVERED": DeliveryStatus.UNDELIVERED,
    "UNDELIVERABLE": DeliveryStatus.UNDELIVERED,  # the word the query docs use
    "EXPIRED": DeliveryStatus.EXPIRED,
    "REJECTED": DeliveryStatus.REJECTED,
    "CANCELLED": DeliveryStatus.CANCELLED,
    "DELETED": DeliveryStatus.CANCELLED,
    "UNKNOWN": DeliveryStatus.UNKNOWN,  # the network itself said unknown
}
"""Status words to unified statuses; any other word is ``UNKNOWN``."""

# The docs give no table for failurereason.code, so a failure's reason follows its status,
# and the provider's own words go in StatusReport.detail.
_FAILURE_REASONS: Final[Mapping[DeliveryStatus, FailureReason]] = {
    DeliveryStatus.EXPIRED: FailureReason.EXPIRED,
    DeliveryStatus.UNDELIVERED: FailureReason.UNKNOWN,
    DeliveryStatus.REJECTED: FailureReason.UNKNOWN,
}


@attrs.frozen
class ErrorRule:
    """How one documented error code is raised."""

    error_class: type[ProviderError]
    reason: FailureReason
    permanent: bool
    retryable: bool
    maybe_sent: bool | None = None
    """For a send: whether the message may have been taken (``None``: the class decides)."""


ERRORS: Final[Mapping[int, ErrorRule]] = {
    4001: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT, True, False),
    4002: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT, True, False),  # too long
    4003: ErrorRule(InvalidRequest, FailureReason.INVALID_SENDER, True, False),
    4004: ErrorRule(InvalidRequest, FailureReason.INVALID_RECIPIENT, True, False),
    4005: ErrorRule(InvalidRequest, FailureReason.INVALID_REQUEST, True, False),  # tag too long
    4006: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT, True, False),  # profanity
    # Blocked terms: the provider also disables the account, so every later send fails too.
    4007: ErrorRule(InvalidRequest, FailureReason.ACCOUNT, True, False),
    4011: ErrorRule(AuthenticationError, FailureReason.ACCOUNT, True, False),
    4021: ErrorRule(InsufficientCredit, FailureReason.INSUFFICIENT_CREDIT, True, False),
    4031: ErrorRule(PermissionDenied, FailureReason.ACCOUNT, True, False),
    4032: ErrorRule(PermissionDenied, FailureReason.ACCOUNT, True, False),
    4033: ErrorRule(PermissionDenied, FailureReason.ACCOUNT, True, False),
    4034: ErrorRule(PermissionDenied, FailureReason.UNSUPPORTED_DESTINATION, True, False),
    # The two 503s the guide documents both say the message will not go out, so, unlike any
    # other 5xx, neither leaves a send uncertain:
    # 5001 "SMS Message Rejected. We were not able to pass your SMS message to the mobile
    # networks. You will not be charged": logged as rejected, never sent; no advice to retry.
    5001: ErrorRule(ProviderUnavailable, FailureReason.PROVIDER_ERROR, True, False, False),
    # 5002 "Service database error. We were not able to schedule your message for sending.
    # Please try again": not taken, and the provider asks for the same request again.
    5002: ErrorRule(ProviderUnavailable, FailureReason.PROVIDER_ERROR, False, True, False),
}
"""The SMS Works error codes (``errorCode`` of ExtendedErrorModel) and how each is raised."""

# --- options a message may carry for this provider -----------------------------------------

_OPTIONS: Final[Mapping[str, type]] = {
    "flash": bool,  # POST /message/flash instead of /message/send
    "deliveryreporturl": str,
    "ttl": int,  # minutes before the delivery report is deleted
    "responseemail": list,
    "ai": bool,
}
_MAX_VALIDITY_MINUTES: Final = 2880  # the spec's maximum for Message.validity

# Alphanumeric senders of 3 to 11 characters, or numeric ones of up to 15 digits.
_SENDER = re.compile(r"[A-Za-z0-9]{3,11}|[0-9]{1,15}")

# --- wire payloads -------------------------------------------------------------------------


@attrs.frozen
class _MetaData:
    key: str
    value: str


@attrs.frozen
class _Message:
    sender: str
    destination: str
    content: str
    tag: str | None = None
    metadata: list[_MetaData] | None = None
    validity: int | None = None
    schedule: str | None = None
    delivery_report_url: str | None = None
    ttl: int | None = None
    response_email: list[str] | None = None
    ai: bool | None = None


@attrs.frozen
class _Batch:
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
class _Sent:
    message_id: str
    status: str
    credits_used: float | None = None
    message_parts: int | None = None


@attrs.frozen
class _Accepted:
    """The answer of /message/schedule and of cancels."""

    message_id: str
    status: str


@attrs.frozen
class _BatchAccepted:
    batch_id: str
    status: str


@attrs.frozen
class _Query:
    """The body of ``POST /messages``: the spec's Query."""

    status: str | None = None
    destination: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int | None = None
    skip: int | None = None
    metadata: list[_MetaData] | None = None


@attrs.frozen
class _Failure:
    code: int | None = None
    details: str | None = None
    permanent: bool | None = None


@attrs.frozen
class _Logged:
    """MessageResponse: a message as the provider logged it."""

    message_id: str
    status: str
    destination: str | None = None
    batch_id: str | None = None
    failure_reason: _Failure | None = None
    modified: str | None = None
    metadata: Any = None


@attrs.frozen
class _Incoming:
    """An incoming SMS, as the guide's "Incoming SMS" shows it."""

    message_id: str
    sender: str
    to: str
    content: str


@attrs.frozen
class _Credits:
    credits: float


@attrs.frozen
class _Token:
    token: str


_wire = make_converter()
for _cls in (_Message, _Batch):
    register(_wire, _cls, delivery_report_url="deliveryreporturl", response_email="responseemail")
register(
    _wire, _Sent, message_id="messageid", credits_used="creditsUsed", message_parts="messageparts"
)
register(_wire, _Accepted, message_id="messageid")
register(_wire, _BatchAccepted, batch_id="batchid")
register(_wire, _Logged, message_id="messageid", batch_id="batchid", failure_reason="failurereason")
register(_wire, _Incoming, message_id="messageid", sender="from")
register(_wire, _Query, since="from", until="to")

# --- building requests ---------------------------------------------------------------------


def wire_number(e164: str) -> str:
    """``+447700900123`` as The SMS Works wants it: ``447700900123``."""
    return e164.removeprefix("+")


def schedule_time(at: datetime) -> str:
    """An aware datetime as ISO 8601 with an explicit offset.

    The guide asks for "JavaScript date format, which is the same as ISO 8601" and shows
    ``Sun Sep 03 2017 15:34:23 GMT+0100 (BST)``; the server reads it with JavaScript's
    ``new Date()``, which reads ISO 8601 with an offset exactly and unambiguously.

    An offset with seconds (``+00:00:30``, which no ``Date`` reads) is written in UTC instead.

    >>> from datetime import timezone, timedelta
    >>> schedule_time(datetime(2026, 11, 22, 15, 34, 23, 999, tzinfo=timezone(timedelta(hours=1))))
    '2026-11-22T15:34:23+01:00'
    >>> schedule_time(datetime(2026, 11, 22, 15, 34, 23, tzinfo=timezone(timedelta(seconds=30))))
    '2026-11-22T15:33:53+00:00'
    """
    offset = at.utcoffset()
    if offset is not None and offset % timedelta(minutes=1):
        at = at.astimezone(UTC)
    return at.isoformat(timespec="seconds")


@functools.lru_cache(maxsize=256)
def check_sender(sender: str) -> str:
    """Refuse a sender The SMS Works cannot take (before any request).

    Raises:
        ValidationError: not 3-11 letters and digits, nor up to 15 digits.
    """
    if not _SENDER.fullmatch(sender):
        rule = "3 to 11 letters and digits (no spaces or symbols), or a number of up to 15 digits"
        raise ValidationError(
            "sender", f"{sender!r} cannot be a The SMS Works sender: use {rule}", rule=f"use {rule}"
        )
    return sender


def _options(message: Message) -> dict[str, Any]:
    options = provider_options(message, NAME, _OPTIONS)
    if options and not all(isinstance(e, str) for e in options.get("responseemail", ())):
        raise ValidationError("provider_options", f"{NAME} option 'responseemail' takes strings")
    if "ttl" in options and options["ttl"] < 1:
        raise ValidationError("provider_options", f"{NAME} option 'ttl' is minutes, at least 1")
    return options


def _validity_minutes(message: Message) -> int | None:
    if message.validity is None:
        return None
    minutes = math.ceil(message.validity.total_seconds() / 60)
    if minutes > _MAX_VALIDITY_MINUTES:
        raise ValidationError(
            "validity", f"The SMS Works keeps trying for at most {_MAX_VALIDITY_MINUTES} minutes"
        )
    return minutes


def message_payload(
    message: Message, sender: str, *, at: datetime | None = None, key: str | None = None
) -> _Message:
    """The body of /message/send, /message/flash and /message/schedule, and an item of
    /batch/any; ``key``, smsgate's idempotency key, goes in its metadata.

    Raises:
        ValidationError: the sender, validity, metadata or options cannot be sent to The SMS
            Works.
    """
    check_sender(sender)
    _options(message)
    _validity_minutes(message)
    check_metadata(message)
    return _checked_payload(message, sender, at, key)


def check_metadata(message: Message) -> None:
    """Refuse metadata that uses smsgate's own key name.

    Raises:
        ValidationError: ``metadata`` has the key ``smsgate_key``.
    """
    if message.metadata and KEY_NAME in message.metadata:
        raise ValidationError(
            "metadata", f"{KEY_NAME!r} is smsgate's own key (the idempotency key); rename yours"
        )


def _checked_payload(
    message: Message, sender: str, at: datetime | None = None, key: str | None = None
) -> _Message:
    """`message_payload` for a message already checked (by it, or by a batch key)."""
    options = message.provider_options.get(NAME) or {}
    plain = message.tag is None and message.validity is None and not message.metadata
    if plain and at is None and not options:  # the common case of a bulk run
        return _Message(
            sender=sender,
            destination=message.to[1:],
            content=message.text,
            metadata=None if key is None else [_MetaData(KEY_NAME, key)],
        )
    pairs = [_MetaData(k, v) for k, v in message.metadata.items()]
    if key is not None:
        pairs.append(_MetaData(KEY_NAME, key))
    return _Message(
        sender=sender,
        destination=message.to[1:],
        content=message.text,
        tag=message.tag,
        metadata=pairs or None,
        validity=_validity_minutes(message),
        schedule=None if at is None else schedule_time(at),
        delivery_report_url=options.get("deliveryreporturl"),
        ttl=options.get("ttl"),
        response_email=options.get("responseemail"),
        ai=options.get("ai"),
    )


def batch_payload(
    messages: Sequence[Message], senders: Sequence[str], *, at: datetime | None = None
) -> _Batch | None:
    """The body of /batch/send or /batch/schedule: one text for every recipient, with no
    idempotency keys (BatchMessage has no metadata).

    ``senders`` are the messages' senders, defaults applied. Returns ``None`` when the
    messages differ in anything but the recipient, or carry metadata (which BatchMessage
    cannot hold): they need /batch/any.
    """
    first = messages[0]
    shared = (first.text, first.tag, first.validity, first.provider_options.get(NAME))
    if len(set(senders)) != 1 or any(
        m.metadata or (m.text, m.tag, m.validity, m.provider_options.get(NAME)) != shared
        for m in messages
    ):
        return None
    one = message_payload(first, senders[0], at=at)
    return _Batch(
        sender=one.sender,
        destinations=[wire_number(m.to) for m in messages],
        content=one.content,
        tag=one.tag,
        validity=one.validity,
        schedule=one.schedule,
        delivery_report_url=one.delivery_report_url,
        ttl=one.ttl,
        ai=one.ai,
    )


# --- reading answers -----------------------------------------------------------------------


def parse_status(word: str) -> DeliveryStatus:
    """A status word as a `DeliveryStatus`; an unknown word is ``UNKNOWN``, never an error."""
    return STATUSES.get(word.strip().upper(), DeliveryStatus.UNKNOWN)


def parse_batch_status(word: str, *, scheduled: bool) -> DeliveryStatus:
    """The status word of a batch endpoint's answer.

    The batch endpoints answer ``SCHEDULED`` for a batch sent *now* too (the spec's example
    for /batch/send and /batch/any): the batch is queued for processing. Only a batch sent
    with a future time is ``SCHEDULED`` in smsgate's sense (waiting, cancellable).

    >>> parse_batch_status("SCHEDULED", scheduled=False)
    <DeliveryStatus.QUEUED: 'queued'>
    """
    status = parse_status(word)
    if status is DeliveryStatus.SCHEDULED and not scheduled:
        return DeliveryStatus.QUEUED
    return status


def _metadata(pairs: Any) -> dict[str, str]:
    """The caller's metadata from a logged message (``[{key, value}]``, or an object),
    without smsgate's own key; anything unreadable is left out."""
    if isinstance(pairs, dict):
        items = list(pairs.items())
    elif isinstance(pairs, list):
        items = [(p.get("key"), p.get("value")) for p in pairs if isinstance(p, dict)]
    else:
        return {}
    return {k: v for k, v in items if isinstance(k, str) and isinstance(v, str) and k != KEY_NAME}


def _number(destination: str | None) -> str | None:
    """A logged destination (``447700900123``, or a UK ``07...``) in E.164, if it is one."""
    if not destination:
        return None
    written = destination if destination.startswith("0") else "+" + destination
    try:
        return normalize_number(written, "GB")
    except ValidationError:
        return None


def parse_time(text: str | None) -> datetime | None:
    """A provider timestamp: ISO 8601, or JavaScript's ``Wed Jul 19 2017 20:53:49 GMT+0100
    (BST)``. ``None`` when it is neither."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text.split(" (")[0], "%a %b %d %Y %H:%M:%S GMT%z")
    except ValueError:
        return None


def parse_logged(data: Any) -> StatusReport:
    """A MessageResponse as a `StatusReport`."""
    logged = structure(_wire, data, _Logged)
    status = parse_status(logged.status)
    failure = logged.failure_reason
    detail = None
    if failure is not None and failure.details:
        detail = (
            failure.details if failure.code is None else f"{failure.details} (code {failure.code})"
        )
    return StatusReport(
        provider=NAME,
        message_id=logged.message_id,
        status=status,
        to=_number(logged.destination),
        reason=_FAILURE_REASONS.get(status),
        provider_status=logged.status,
        detail=detail,
        batch_id=logged.batch_id,
        metadata=_metadata(logged.metadata),
        updated_at=parse_time(logged.modified),
        raw=data,
    )


def search_query(
    *,
    metadata: Mapping[str, str] | None = None,
    to: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = MAX_SEARCH,
    skip: int = 0,
    region: str | None = None,
) -> _Query:
    """The body of ``POST /messages`` (the spec's Query); a national ``to`` is read in
    ``region``.

    Raises:
        ValidationError: a date is naive, the limit is not 1 to 1,000, or ``to`` is not a
            phone number.
    """
    for field, when in (("since", since), ("until", until)):
        if when is not None and (not isinstance(when, datetime) or when.utcoffset() is None):
            raise ValidationError(field, "must be an aware datetime")
    if not is_whole(limit, least=1) or limit > MAX_SEARCH:
        raise ValidationError("limit", f"must be a whole number from 1 to {MAX_SEARCH}")
    return _Query(
        status=status,
        destination=None if to is None else wire_number(normalize_number(to, region)),
        since=None if since is None else schedule_time(since),
        until=None if until is None else schedule_time(until),
        limit=limit,
        skip=skip or None,
        metadata=[_MetaData(k, v) for k, v in (metadata or {}).items()] or None,
    )


# --- what The SMS Works posts to the account's URLs ---------------------------------------

_SHORT_CODE = re.compile(r"[0-9]{3,8}")


# What the provider posts as text; ids and numbers may also come as JSON numbers. Anything
# else there is no report of its.
_TEXT_FIELDS = ("status", "batchid", "modified", "content", "tag")
_ID_FIELDS = ("messageid", "from", "to", "destination")


def _require(data: Any, what: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        from_wire = "an array" if isinstance(data, list) else type(data).__name__
        raise ValidationError(what, f"must be a JSON object, not {from_wire}")
    for field in fields:
        value = data.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationError(field, f"is missing from the {what}")
    for field in (*_TEXT_FIELDS, *_ID_FIELDS):
        value = data.get(field)
        text = isinstance(value, str) or (
            field in _ID_FIELDS and isinstance(value, int) and not isinstance(value, bool)
        )
        if value is not None and not text:
            raise ValidationError(field, f"must be text in the {what}, not {kind_of(value)}")
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValidationError(field, f"is not text in the {what}") from None
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
    return _number(written) or written


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
        incoming = structure(_wire, data, _Incoming)
    except WireError as exc:
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


# --- the gateway ---------------------------------------------------------------------------


class SmsWorksGateway(HttpGateway):
    """The SMS Works, through its REST API.

    Give either ``token`` (a JSON Web Token from the account page, sent as it is), or
    ``customer_id``, ``key`` and ``secret``, from which a token is fetched once, on first use.

    Args:
        token: a ready JSON Web Token (``"JWT eyJ..."``).
        customer_id: the account's customer id, with ``key`` and ``secret``.
        key: an API key from the account's API Config tab.
        secret: the API secret that goes with ``key``.
        sender: the default sender: 3-11 letters and digits, or up to 15 digits.
        idempotency_keys: put each message's idempotency key (`Message.key`) in its
            metadata, so that `find` can look up a send whose outcome is uncertain. On by
            default; off, messages sharing a text go through ``/batch/send`` (one text for
            many numbers, fewer bytes) and `find` is unsupported.
        **options: `HttpOptions` (``base_url``, ``timeout``, ``session`` ...).

    Raises:
        ConfigurationError: credentials are missing or mixed, or the sender is invalid.
    """

    name = NAME
    default_base_url = BASE_URL

    def __init__(
        self,
        *,
        token: str | None = None,
        customer_id: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        sender: str | None = None,
        idempotency_keys: bool = True,
        **options: Unpack[HttpOptions],
    ) -> None:
        super().__init__(**options)
        if not isinstance(idempotency_keys, bool):
            raise ConfigurationError("idempotency_keys: must be true or false")
        self.idempotency_keys = idempotency_keys
        pair = (customer_id, key, secret)
        if token is not None and any(part is not None for part in pair):
            raise ConfigurationError(
                "smsworks: give either token, or customer_id, key and secret, not both"
            )
        if token is None and not all(pair):
            raise ConfigurationError(
                "smsworks needs credentials: token, or all of customer_id, key and secret"
            )
        for option, value in (
            ("token", token),
            *zip(("customer_id", "key", "secret"), pair, strict=True),
        ):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigurationError(f"{option}: must be non-empty text (an unset variable?)")
        # A credential pasted from a file keeps its line break: it is no part of it.
        token = None if token is None else token.strip()
        customer_id, key, secret = (None if v is None else v.strip() for v in pair)
        self._token = None if token is None else Secret(token)
        self._credentials = (
            None
            if token is not None
            else {
                "customerid": Secret(customer_id or ""),
                "key": Secret(key or ""),
                "secret": Secret(secret or ""),
            }
        )
        self._token_lock = asyncio.Lock()
        self.auth_advice = (
            "check the token; regenerating the API key and secret revokes old tokens"
            if token is not None
            else "check customer_id, key and secret"
        )
        if sender is not None:
            if not isinstance(sender, str):
                raise ConfigurationError("sender: must be text")
            try:
                check_sender(sender)
            except ValidationError as exc:
                raise ConfigurationError(f"sender: {exc.rule}") from None
        self.sender = sender

    # -- credentials ------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        held = [] if self._token is None else [self._token.reveal()]
        held += [s.reveal() for s in (self._credentials or {}).values()]
        return held

    def secret_pairs(self) -> list[tuple[str, str]]:
        if self._credentials is None:
            return []
        key, secret = self._credentials["key"].reveal(), self._credentials["secret"].reveal()
        return [(key, secret)]

    async def auth_headers(self) -> Mapping[str, str]:
        # The token goes as it is, with no "Bearer": issued tokens start with "JWT ".
        if self._token is None:
            async with self._token_lock:
                if self._token is None:
                    self._token = Secret(await self._fetch_token())
        return {"Authorization": self._token.reveal()}

    async def _fetch_token(self) -> str:
        assert self._credentials is not None
        body = {name: value.reveal() for name, value in self._credentials.items()}
        try:
            data = await self.request_json(
                "POST", "/auth/token", json_body=body, authenticate=False, idempotent=True
            )
            return structure(_wire, data, _Token).token
        except (TransportError, WireError) as exc:
            # Whatever happened to the token request, the message itself never left.
            raise TransportError(
                "could not get a token from POST /auth/token", provider=self.name, maybe_sent=False
            ) from exc

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        try:
            data = response.json()
        except ValueError:
            data = None
        # ErrorModel {message} or ExtendedErrorModel {message, errorCode, status, permanent};
        # each field is used if it is usable, so an odd body still gives a clear error.
        fields_of = data if isinstance(data, dict) else {}
        message = fields_of.get("message")
        code = fields_of.get("errorCode")
        code = int(code) if isinstance(code, int | float) and not isinstance(code, bool) else None
        permanent = fields_of.get("permanent")
        rule = ERRORS.get(code) if code is not None else None
        error_class = rule.error_class if rule else error_class_for_status(response.status)
        fields: dict[str, Any] = {
            "provider": self.name,
            "http_status": response.status,
            "code": code,
            "body": response.text() if data is None else data,
        }
        if rule is not None:
            fields.update(
                reason=rule.reason,
                permanent=rule.permanent,
                retryable=rule.retryable,
                maybe_sent=rule.maybe_sent,
            )
        if isinstance(permanent, bool):
            fields["permanent"] = permanent
        if error_class is AuthenticationError:
            fields["advice"] = self.auth_advice
        if error_class is RateLimited:
            fields["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
        if isinstance(message, str) and message:
            detail: str | None = message
        else:
            detail = (response.text() if data is None else None) or None
        return error_class(detail, **fields)

    # -- single messages --------------------------------------------------------------------

    def _sender(self, message: Message) -> str:
        sender = message.sender or self.sender
        if sender is None:
            raise ValidationError(
                "sender", "The SMS Works needs a sender: set it on the message or the gateway"
            )
        return sender

    async def _post(self, path: str, payload: Any, *, keyed: bool) -> Any:
        body = _wire.unstructure(payload)
        return await self.request_json("POST", path, json_body=body, messages=1, keyed=keyed)

    def _key(self, message: Message) -> str | None:
        return message.key if self.idempotency_keys else None

    def _read(self, data: Any, cls: type[Any], method: str, path: str) -> Any:
        try:
            return structure(_wire, data, cls)
        except WireError as exc:
            raise self.unusable_answer(method, path, f"an unexpected answer: {exc}") from exc

    async def send(self, message: Message) -> Receipt:
        """Send ``message`` now; ``{"smsworks": {"flash": True}}`` sends it as a flash SMS."""
        self._ensure_open()
        self._check_message(message)
        key = self._key(message)
        payload = message_payload(message, self._sender(message), key=key)
        flash = message.provider_options.get(NAME, {}).get("flash")
        path = "/message/flash" if flash else "/message/send"
        data = await self._post(path, payload, keyed=key is not None)
        sent: _Sent = self._read(data, _Sent, "POST", path)
        return Receipt(
            provider=self.name,
            message_id=sent.message_id,
            to=message.to,
            status=parse_status(sent.status),
            reference=message.reference,
            metadata=message.metadata,
            parts=sent.message_parts,
            credits=sent.credits_used,
            key=key,
            raw=data,
        )

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have The SMS Works send ``message`` at ``at`` (aware, in the future)."""
        self._ensure_open()
        self._check_message(message)
        check_send_time(at)
        if _options(message).get("flash"):
            raise UnsupportedFeature(self.name, "scheduled flash messages", "send it at its time")
        key = self._key(message)
        payload = message_payload(message, self._sender(message), at=at, key=key)
        data = await self._post("/message/schedule", payload, keyed=key is not None)
        # The spec answers 200 with an array of one; older versions 201 with the object.
        item = data[0] if isinstance(data, list) and data else data
        accepted: _Accepted = self._read(item, _Accepted, "POST", "/message/schedule")
        return Receipt(
            provider=self.name,
            message_id=accepted.message_id,
            to=message.to,
            status=parse_status(accepted.status),
            reference=message.reference,
            metadata=message.metadata,
            scheduled_at=at,
            key=key,
            raw=data,
        )

    async def status(self, ref: MessageRef) -> StatusReport:
        """Where a message stands, from GET /messages/{id} (or, for a message sent in a
        batch without an id of its own, from GET /batch/{id})."""
        if isinstance(ref, Receipt) and ref.message_id is None and ref.batch_id is not None:
            return await self._status_in_batch(ref, ref.batch_id)
        path = f"/messages/{quote(message_id_of(ref), safe='')}"
        data = await self.request_json("GET", path)
        try:
            report = parse_logged(data)
        except WireError as exc:
            raise self.unusable_answer("GET", path, f"an unexpected answer: {exc}") from exc
        return with_receipt(report, ref)

    async def _status_in_batch(self, receipt: Receipt, batch_id: str) -> StatusReport:
        for report in await self.batch_status(batch_id):
            if report.to == receipt.to:
                return with_receipt(report, receipt)
        raise NotFound(
            f"no message to {receipt.to} is listed in batch {batch_id} (yet)",
            provider=self.name,
        )

    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel a scheduled message; the report says ``CANCELLED``.

        Raises:
            UnsupportedFeature: the message was scheduled in a batch; cancel the batch.
        """
        if isinstance(ref, Receipt) and ref.message_id is None and ref.batch_id is not None:
            raise UnsupportedFeature(
                self.name,
                "cancelling one message of a batch",
                f"cancel the whole batch with cancel_batch({ref.batch_id!r})",
            )
        message_id = message_id_of(ref)
        path = f"/messages/schedule/{quote(message_id, safe='')}"
        data = await self.request_json("DELETE", path)
        accepted: _Accepted = self._read(data, _Accepted, "DELETE", path)
        report = StatusReport(
            provider=self.name,
            message_id=accepted.message_id,
            status=parse_status(accepted.status),
            provider_status=accepted.status,
            raw=data,
        )
        return with_receipt(report, ref)

    # -- batches ----------------------------------------------------------------------------

    def _senders(self, messages: Sequence[Message]) -> list[str]:
        """Check a batch before any request; return each message's sender."""
        if not messages:
            raise ValidationError("messages", "is empty; a batch needs at least one message")
        if len(messages) > MAX_BATCH:
            raise ValidationError(
                "messages",
                f"has {len(messages)} messages; The SMS Works takes at most {MAX_BATCH} a batch",
            )
        for message in messages:
            if not isinstance(message, Message):
                raise ValidationError(
                    "messages", f"holds a {type(message).__name__}, not a Message"
                )
            if _options(message).get("flash"):
                raise UnsupportedFeature(
                    self.name, "flash messages in a batch", "send them one by one"
                )
            check_metadata(message)
        return [check_sender(self._sender(m)) for m in messages]

    async def send_batch(self, messages: Sequence[Message]) -> BatchReceipt:
        """Send up to 5000 messages in one request, as distinct messages with their
        idempotency keys (/batch/any); with ``idempotency_keys=False``, messages that differ
        only in recipient go as one text to many numbers (/batch/send).
        """
        self._ensure_open()
        return await self._post_batch(messages, self._senders(messages))

    async def _post_batch(
        self, messages: Sequence[Message], senders: Sequence[str]
    ) -> BatchReceipt:
        """/batch/any (or, without keys, /batch/send for one text), for messages already
        checked."""
        keyed = self.idempotency_keys
        one_text = None if keyed else batch_payload(messages, senders)
        if one_text is not None:
            path, payload = "/batch/send", _wire.unstructure(one_text)
        else:
            path = "/batch/any"
            unstructure = _wire.unstructure
            payload = [
                unstructure(_checked_payload(m, sender, key=m.key if keyed else None))
                for m, sender in zip(messages, senders, strict=True)
            ]
        data = await self.request_json(
            "POST", path, json_body=payload, messages=len(messages), keyed=keyed
        )
        return self._batch_receipt(data, messages, "POST", path, None)

    async def schedule_batch(self, messages: Sequence[Message], at: datetime) -> BatchReceipt:
        """Schedule one text to many numbers (/batch/schedule) for ``at``.

        The endpoint takes no metadata, so these messages carry no idempotency keys and
        cannot be looked up with `find`.

        Raises:
            UnsupportedFeature: the messages differ in more than their recipients.
        """
        self._ensure_open()
        check_send_time(at)
        one_text = batch_payload(messages, self._senders(messages), at=at)
        if one_text is None:
            raise UnsupportedFeature(
                self.name,
                "scheduling different texts in one batch",
                "schedule one batch per text, or the messages one by one",
            )
        payload = _wire.unstructure(one_text)
        data = await self.request_json(
            "POST", "/batch/schedule", json_body=payload, messages=len(messages)
        )
        return self._batch_receipt(data, messages, "POST", "/batch/schedule", at)

    def _batch_receipt(
        self, data: Any, messages: Sequence[Message], method: str, path: str, at: datetime | None
    ) -> BatchReceipt:
        accepted: _BatchAccepted = self._read(data, _BatchAccepted, method, path)
        return BatchReceipt(
            provider=self.name,
            batch_id=accepted.batch_id,
            status=parse_batch_status(accepted.status, scheduled=at is not None),
            recipients=tuple(m.to for m in messages),
            scheduled_at=at,
            raw=data,
        )

    async def batch_status(self, batch: BatchRef) -> list[StatusReport]:
        """The status of every message in a batch, from GET /batch/{id}."""
        path = f"/batch/{quote(batch_id_of(batch), safe='')}"
        data = await self.request_json("GET", path)
        if not isinstance(data, list):
            raise self.unusable_answer("GET", path, "an answer that is not an array")
        try:
            return [parse_logged(item) for item in data]
        except WireError as exc:
            raise self.unusable_answer("GET", path, f"an unexpected answer: {exc}") from exc

    async def cancel_batch(self, batch: BatchRef) -> BatchReceipt:
        """Cancel a scheduled batch; the receipt says ``CANCELLED``."""
        batch_id = batch_id_of(batch)
        path = f"/batches/schedule/{quote(batch_id, safe='')}"
        data = await self.request_json("DELETE", path)
        accepted: _Accepted = self._read(data, _Accepted, "DELETE", path)
        return BatchReceipt(
            provider=self.name,
            batch_id=batch_id,
            status=parse_status(accepted.status),
            recipients=batch.recipients if isinstance(batch, BatchReceipt) else (),
            raw=data,
        )

    # -- bulk (send_many) -------------------------------------------------------------------

    batch_limit = MAX_BATCH

    def batch_key(self, message: Message, at: datetime | None) -> Hashable | None:
        """Check ``message`` for a batch; say which messages it can share a request with.

        Any messages can share ``/batch/any``; a scheduled batch needs one text
        (``/batch/schedule``), and a flash message, or a scheduled one with metadata, goes
        on its own.
        """
        self._check_message(message)
        check_metadata(message)
        sender = check_sender(self._sender(message))
        options = _options(message)
        validity = _validity_minutes(message)
        if options.get("flash"):
            if at is not None:
                raise UnsupportedFeature(
                    self.name, "scheduled flash messages", "send it at its time"
                )
            return None
        if at is None:
            return _ANY_MESSAGE
        if message.metadata:
            return None
        return (message.text, sender, message.tag, validity, repr(sorted(options.items())))

    async def send_chunk(self, messages: Sequence[Message], at: datetime | None) -> list[Receipt]:
        """Send (or schedule) messages of one `batch_key` in one batch request; a receipt each.

        The batch endpoints give no per-message ids: each receipt has ``message_id=None`` and
        the batch's ``batch_id``, and `status` finds the message through the batch. A lone
        message goes through /message/send (or /message/schedule), which gives it an id.
        Immediate batches carry idempotency keys (unless they are off); scheduled ones none.
        """
        if len(messages) == 1:
            [message] = messages
            return [await (self.send(message) if at is None else self.schedule(message, at))]
        keyed = at is None and self.idempotency_keys
        if at is None:
            self._ensure_open()
            batch = await self._post_batch(messages, [self._sender(m) for m in messages])
        else:
            batch = await self.schedule_batch(messages, at)
        return [
            Receipt(
                provider=self.name,
                message_id=None,
                to=m.to,
                status=batch.status,
                batch_id=batch.batch_id,
                reference=m.reference,
                metadata=m.metadata,
                scheduled_at=at,
                key=m.key if keyed else None,
                raw=batch.raw,
            )
            for m in messages
        ]

    # -- looking messages up ----------------------------------------------------------------

    @property
    def can_find(self) -> bool:
        """Whether `find` works: messages carry idempotency keys (``idempotency_keys``)."""
        return self.idempotency_keys

    async def search(
        self,
        *,
        metadata: Mapping[str, str] | None = None,
        to: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int = MAX_SEARCH,
    ) -> AsyncIterator[StatusReport]:
        """Every logged message that matches, from ``POST /messages``, a page at a time.

        Args:
            metadata: key/value pairs the messages carry (all of them).
            to: the recipient (a national number is read in ``default_region``).
            status: The SMS Works' own status word (``"DELIVERED"``, ``"REJECTED"`` ...).
            since, until: aware datetimes bounding when the messages were sent.
            page_size: messages a request asks for (the provider returns 1,000 at most).

        Raises:
            ValidationError: a date is naive, or ``page_size`` is not 1 to 1,000.
        """
        query = search_query(
            metadata=metadata,
            to=to,
            status=status,
            since=since,
            until=until,
            limit=page_size,
            region=self.default_region,
        )
        skip, first_of_last = 0, None
        while True:
            page = await self._search_page(attrs.evolve(query, skip=skip or None))
            if page and page[0].message_id == first_of_last:
                raise self.unusable_answer("POST", "/messages", "the same page twice (skip)")
            for report in page:
                yield report
            if len(page) < page_size:
                return
            skip += len(page)
            first_of_last = page[0].message_id

    async def _search_page(self, query: _Query) -> list[StatusReport]:
        data = await self.request_json(
            "POST", "/messages", json_body=_wire.unstructure(query), idempotent=True
        )
        if not isinstance(data, list):
            raise self.unusable_answer("POST", "/messages", "an answer that is not an array")
        try:
            return [parse_logged(item) for item in data]
        except WireError as exc:
            raise self.unusable_answer("POST", "/messages", f"an unexpected answer: {exc}") from exc

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        """Look a message up by its idempotency key (``POST /messages`` by metadata).

        Args:
            ref: the key (`Message.key`), or the `Outcome` of a send through this gateway;
                for an outcome, the message found must have its recipient.

        Returns:
            The message as the provider logged it, or ``None`` when it logged none with
            that key (yet: a provider may log a message a moment after taking it).

        Raises:
            UnsupportedFeature: ``idempotency_keys`` is off.
            ValidationError: the outcome's request carried no key (a scheduled batch).
            KeyConflict: more than one message carries the key, or another recipient's.
        """
        if not self.idempotency_keys:
            raise UnsupportedFeature(
                self.name,
                "looking messages up with idempotency_keys off",
                "turn idempotency_keys on so that messages carry their keys",
            )
        key, message = lookup_key(ref)
        query = search_query(metadata={KEY_NAME: key}, limit=2)
        return the_match(self.name, key, await self._search_page(query), message)

    # -- the account ------------------------------------------------------------------------

    async def balance(self) -> float:
        """The credits left on the account."""
        data = await self.request_json("GET", "/credits/balance")
        credits: _Credits = self._read(data, _Credits, "GET", "/credits/balance")
        return credits.credits
