"""The SMS Works' codec: its vocabulary, request builders and answer readers, with no I/O.

The checks a message must pass before any request and the builders of each request's body
(`message_payload`, `message_json`, `item_json`, `batch_payload`, `search_query`) are here;
the tables (`STATUSES`, `ERRORS`) and the readers of each answer (`read_sent`,
`parse_status`, `parse_logged`, `parse_error`) are in `smsgate.providers.smsworks.answers`
and importable from here too. The wire classes and the API's names are in
`smsgate.providers.smsworks.schema`; what the provider posts to webhooks is read by
`smsgate.providers.smsworks.webhooks`.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from smsgate.checks import is_whole
from smsgate.errors import UnsupportedFeature, ValidationError
from smsgate.model import Message, normalize_number
from smsgate.providers._wire import write
from smsgate.providers.codec import provider_options
from smsgate.providers.smsworks import schema
from smsgate.providers.smsworks.answers import (
    ERRORS,
    STATUSES,
    ErrorRule,
    parse_batch_status,
    parse_error,
    parse_logged,
    parse_status,
    parse_time,
    read_sent,
    sent_receipt,
)
from smsgate.providers.smsworks.schema import BASE_URL, KEY_NAME, MAX_BATCH, MAX_SEARCH, NAME

__all__ = [
    "BASE_URL",
    "ERRORS",
    "KEY_NAME",
    "MAX_BATCH",
    "MAX_SEARCH",
    "NAME",
    "STATUSES",
    "ErrorRule",
    "any_body",
    "batch_payload",
    "check_batch",
    "check_metadata",
    "check_sender",
    "checked_payload",
    "item_json",
    "item_of",
    "message_json",
    "message_options",
    "message_payload",
    "parse_batch_status",
    "parse_error",
    "parse_logged",
    "parse_status",
    "parse_time",
    "read_sent",
    "schedule_time",
    "search_query",
    "send_request",
    "sent_receipt",
    "validity_minutes",
    "wire_number",
]

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


def message_options(message: Message) -> dict[str, Any]:
    """The message's options for The SMS Works, checked (see `_OPTIONS`)."""
    options = provider_options(message, NAME, _OPTIONS)
    if options and not all(isinstance(e, str) for e in options.get("responseemail", ())):
        raise ValidationError("provider_options", f"{NAME} option 'responseemail' takes strings")
    if "ttl" in options and options["ttl"] < 1:
        raise ValidationError("provider_options", f"{NAME} option 'ttl' is minutes, at least 1")
    return options


def validity_minutes(message: Message) -> int | None:
    """``validity`` in whole minutes, as the API takes it (``None`` when unset)."""
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
) -> schema.Message:
    """The body of /message/send, /message/flash and /message/schedule, and an item of
    /batch/any; ``key``, smsgate's idempotency key, goes in its metadata.

    Raises:
        ValidationError: the sender, validity, metadata or options cannot be sent to The SMS
            Works.
    """
    _check(message, sender)
    return checked_payload(message, sender, at, key)


def _check(message: Message, sender: str) -> None:
    """Every check of a message before its body is written (see `message_payload`)."""
    check_sender(sender)
    message_options(message)
    validity_minutes(message)
    check_metadata(message)


def _plain(message: Message) -> bool:
    """Whether ``message`` has nothing but its recipient, text and sender to write (a bulk
    run's usual message), so that its body can be written directly."""
    return (
        message.tag is None
        and message.validity is None
        and not message.metadata
        and not message.provider_options.get(NAME)
    )


def check_metadata(message: Message) -> None:
    """Refuse metadata that uses smsgate's own key name.

    Raises:
        ValidationError: ``metadata`` has the key ``smsgate_key``.
    """
    if message.metadata and KEY_NAME in message.metadata:
        raise ValidationError(
            "metadata", f"{KEY_NAME!r} is smsgate's own key (the idempotency key); rename yours"
        )


def check_batch(messages: Sequence[object]) -> Sequence[Message]:
    """Refuse what cannot go as one batch request, before any request: 1 to `MAX_BATCH`
    `Message` objects, none of them flash, none using smsgate's metadata key.

    Raises:
        ValidationError: the batch is empty or too big, or holds something else.
        UnsupportedFeature: a message is to be sent as flash.
    """
    if not messages:
        raise ValidationError("messages", "is empty; a batch needs at least one message")
    if len(messages) > MAX_BATCH:
        raise ValidationError(
            "messages",
            f"has {len(messages)} messages; The SMS Works takes at most {MAX_BATCH} a batch",
        )
    for message in messages:
        if not isinstance(message, Message):
            raise ValidationError("messages", f"holds a {type(message).__name__}, not a Message")
        if message_options(message).get("flash"):
            raise UnsupportedFeature(NAME, "flash messages in a batch", "send them one by one")
        check_metadata(message)
    return cast(Sequence[Message], messages)


def message_json(message: Message, sender: str, *, key: str | None = None) -> bytes:
    """The body of ``/message/send`` and ``/message/flash``, encoded: `message_payload`,
    written as `item_json` writes it.

    Raises:
        ValidationError: as `message_payload`.
    """
    _check(message, sender)
    return item_json(message, sender, key).encode()


def send_request(message: Message, sender: str, key: str | None) -> tuple[str, bytes]:
    """The path and body of sending ``message`` now: ``/message/flash`` for a flash
    message, ``/message/send`` for any other.

    Raises:
        ValidationError: as `message_payload`.
    """
    if _plain(message):  # no options, so not flash: only the sender is left to check
        check_sender(sender)
        return "/message/send", _plain_item(_item_head(sender), message, key).encode()
    body = message_json(message, sender, key=key)
    return "/message/flash" if message_options(message).get("flash") else "/message/send", body


def item_of(
    message: Message, sender: str, at: datetime | None = None, key: str | None = None
) -> dict[str, Any]:
    """`checked_payload` as JSON-ready data, for a message already checked. A plain message
    (no tag, validity, metadata, options or time: a bulk run's usual one) is written
    directly, as the one converter would write it."""
    if at is None and _plain(message):
        item: dict[str, Any] = {
            "sender": sender,
            "destination": message.to[1:],
            "content": message.text,
        }
        if key is not None:
            item["metadata"] = [{"key": KEY_NAME, "value": key}]
        return item
    written: dict[str, Any] = write(checked_payload(message, sender, at, key))
    return written


_quote = json.encoder.encode_basestring_ascii  # a JSON string, as json.dumps writes it
_KEY_PAIR = '"metadata":[{"key":' + _quote(KEY_NAME) + ',"value":'


def item_json(message: Message, sender: str, key: str | None = None) -> str:
    """`item_of` (sent now) encoded as ``json.dumps(..., separators=(",", ":"))`` encodes
    it, byte for byte; a plain message is written without building its object first."""
    if _plain(message):
        return _plain_item(_item_head(sender), message, key)
    return json.dumps(item_of(message, sender, None, key), separators=(",", ":"))


@functools.lru_cache(maxsize=64)  # a few senders write most messages
def _item_head(sender: str) -> str:
    """How an item from ``sender`` begins, up to its destination."""
    return '{"sender":' + _quote(sender) + ',"destination":'


def _plain_item(head: str, message: Message, key: str | None) -> str:
    """`item_json` of a plain message, after its `_item_head`."""
    text = head + _quote(message.to[1:]) + ',"content":' + _quote(message.text)
    return text + "}" if key is None else text + "," + _KEY_PAIR + _quote(key) + "}]}"


def any_body(messages: Sequence[Message], senders: Sequence[str], *, keyed: bool) -> bytes:
    """The body of ``/batch/any``, encoded: an `item_json` a message (with its idempotency
    key when ``keyed``). Only the bytes outlive the call: the request may wait long, and a
    bulk run has several in flight."""
    items: list[str] = []
    last, head = None, ""
    for message, sender in zip(messages, senders, strict=True):
        key = message.key if keyed else None
        if not _plain(message):
            items.append(item_json(message, sender, key))
            continue
        if sender is not last:  # a run's messages mostly share one sender: its head is kept
            last, head = sender, _item_head(sender)
        items.append(_plain_item(head, message, key))
    return ("[" + ",".join(items) + "]").encode()


def checked_payload(
    message: Message, sender: str, at: datetime | None = None, key: str | None = None
) -> schema.Message:
    """`message_payload` for a message already checked (by it, or by a batch key)."""
    options = message.provider_options.get(NAME) or {}
    if at is None and _plain(message):  # the common case of a bulk run
        return schema.Message(
            sender=sender,
            destination=message.to[1:],
            content=message.text,
            metadata=None if key is None else [schema.MetaData(KEY_NAME, key)],
        )
    pairs = [schema.MetaData(k, v) for k, v in message.metadata.items()]
    if key is not None:
        pairs.append(schema.MetaData(KEY_NAME, key))
    return schema.Message(
        sender=sender,
        destination=message.to[1:],
        content=message.text,
        tag=message.tag,
        metadata=pairs or None,
        validity=validity_minutes(message),
        schedule=None if at is None else schedule_time(at),
        delivery_report_url=options.get("deliveryreporturl"),
        ttl=options.get("ttl"),
        response_email=options.get("responseemail"),
        ai=options.get("ai"),
    )


def batch_payload(
    messages: Sequence[Message], senders: Sequence[str], *, at: datetime | None = None
) -> schema.BatchMessage | None:
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
    return schema.BatchMessage(
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
) -> schema.Query:
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
    return schema.Query(
        status=status,
        destination=None if to is None else wire_number(normalize_number(to, region)),
        since=None if since is None else schedule_time(since),
        until=None if until is None else schedule_time(until),
        limit=limit,
        skip=skip or None,
        metadata=[schema.MetaData(k, v) for k, v in (metadata or {}).items()] or None,
    )
