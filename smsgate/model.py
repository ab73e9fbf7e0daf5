"""The shared model: what callers send (`Message`), what providers tell back (`Receipt`,
`StatusReport`, `BatchReceipt`, `InboundMessage`), and what became of a send (`Outcome`).
Nothing here knows a provider's wire names; adapters translate.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import os
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum, unique
from types import MappingProxyType
from typing import Any, TypeAlias, TypedDict

import attrs

from smsgate import registry
from smsgate.errors import SmsGateError, ValidationError
from smsgate.numbers import check_region, normalize_number
from smsgate.status import DeliveryStatus, FailureReason
from smsgate.text import check_text, check_unicode

__all__ = [
    "BatchReceipt",
    "InboundMessage",
    "Message",
    "MessageFields",
    "MessageRef",
    "Outcome",
    "OutcomeStatus",
    "Receipt",
    "StatusReport",
    "batch_id_of",
    "check_region",
    "check_send_time",
    "message_id_of",
    "new_key",
    "normalize_number",
    "with_receipt",
]


def check_send_time(at: datetime, *, now: datetime | None = None) -> datetime:
    """Check a time to schedule a message for: an aware `datetime` in the future.

    Raises:
        ValidationError: ``at`` is not a datetime, is naive, or is not after ``now``.
    """
    if not isinstance(at, datetime):
        raise ValidationError("at", f"must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValidationError(
            "at",
            f"{at.isoformat()} has no time zone; pass an aware datetime, "
            "e.g. datetime(..., tzinfo=ZoneInfo('Europe/London'))",
        )
    try:
        at.astimezone(UTC)
    except OverflowError:
        raise ValidationError(
            "at", f"{at.isoformat()} is past the year 9999 in UTC; no provider can take it"
        ) from None
    now = datetime.now(at.tzinfo) if now is None else now
    if at <= now:
        raise ValidationError(
            "at", f"{at.isoformat()} is not in the future; use send() to send right away"
        )
    return at


def _frozen_str_mapping(field: str, value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a mapping of str to str, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError(field, f"keys must be non-empty strings; got {key!r}")
        if not isinstance(item, str):
            raise ValidationError(
                field, f"values must be strings; {key!r} is a {type(item).__name__}"
            )
        check_unicode(field, key)
        check_unicode(field, item)
    return MappingProxyType(dict(value))


def _frozen_options(
    value: Mapping[str, Mapping[str, Any]] | None,
) -> Mapping[str, Mapping[str, Any]]:
    if value is None:
        return _EMPTY
    shape = "must map provider names to their options, e.g. {'smsworks': {'flash': True}}"
    if not isinstance(value, Mapping):
        raise ValidationError("provider_options", shape)
    for provider, options in value.items():
        if not isinstance(provider, str) or not isinstance(options, Mapping):
            raise ValidationError("provider_options", shape)
        if not all(isinstance(name, str) for name in options):
            raise ValidationError("provider_options", f"{provider!r} option names must be strings")
        _check_provider_name(provider)
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in value.items()})


@functools.lru_cache(maxsize=1)
def _known_providers() -> tuple[str, ...]:
    """Reading the installed plug-ins scans every distribution: once a process is enough
    for telling a misspelt name."""
    return tuple(registry.available_providers())


def _check_provider_name(name: str) -> None:
    """Refuse a provider name that looks like a misspelt known one (its options would be
    silently ignored); names far from any are allowed (a gateway may be named anything)."""
    if registry.is_registered(name):
        return
    known = _known_providers()  # plug-ins too: slower, and only for other names
    if name in known:
        return
    by_case = [k for k in known if k.lower() == name.lower()]
    # A known name with more after it ("smsworks_eu", "smsworks2") is a gateway's own name.
    close = [
        k
        for k in difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        if not name.startswith(k)
    ]
    if by_case or close:
        raise ValidationError(
            "provider_options",
            f"{name!r} is no provider; did you mean {(by_case or close)[0]!r}? (options under "
            "a name no gateway has are ignored)",
        )


def _optional_text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValidationError(field, "is empty; leave it out instead")
    check_unicode(field, value)
    return value


_EMPTY: Mapping[str, Any] = MappingProxyType({})

# Idempotency keys: a random prefix for this process and a counter, so that making one costs
# a fraction of a microsecond (a bulk run makes one a message) and no two processes share
# one. A forked child takes a prefix of its own.
_KEY_SHAPE = re.compile(r"[!-~]{1,100}")
_key_prefix = ""
_key_counter = itertools.count()


def _new_key_prefix() -> None:
    global _key_prefix, _key_counter
    _key_prefix, _key_counter = secrets.token_hex(8), itertools.count()


_new_key_prefix()
os.register_at_fork(after_in_child=_new_key_prefix)


def new_key() -> str:
    """A new idempotency key: unique to this process (64 random bits and a counter)."""
    return f"{_key_prefix}-{next(_key_counter):x}"


def _checked_key(key: str | None) -> str:
    if key is None:
        return new_key()
    if not isinstance(key, str) or not _KEY_SHAPE.fullmatch(key):
        raise ValidationError(
            "key", "must be 1 to 100 printable ASCII characters without spaces, or None"
        )
    return key


@attrs.frozen(init=False)
class Message:
    """One SMS to one recipient. Immutable; checked when it is built.

    Args:
        to: the recipient. Stored in E.164 form; a national number needs ``region``.
        text: what to send. Not empty, not only whitespace.
        sender: who it is from; ``None`` uses the gateway's default sender.
        reference: your own id for this message, echoed back on every result.
        tag: a label for grouping messages (a campaign), where the provider keeps one.
        metadata: string key/value pairs, echoed back on every result; sent to providers that
            store them.
        validity: how long networks should keep trying to deliver it.
        provider_options: options only one provider understands, under that provider's name:
            ``{"smsworks": {"flash": True}}``. Each gateway reads its own and ignores the
            others', so the same message can go through any provider.
        region: the country a national ``to`` belongs to (``"GB"``); not stored.
        key: smsgate's idempotency key for this message; a new unique one by default.
            Providers that keep metadata store it with the message, so that a send with an
            uncertain outcome can be looked up (``gateway.find``). Sending the same `Message`
            object again sends the same key; a copy made with `attrs.evolve` gets a new one.
            Equality ignores it.

    Raises:
        ValidationError: any field is invalid; the error names the field.

    >>> Message("07700 900123", "Your code is 2468", region="GB").to
    '+447700900123'
    """

    to: str
    text: str
    sender: str | None
    reference: str | None
    tag: str | None
    metadata: Mapping[str, str] = attrs.field(hash=False)
    validity: timedelta | None
    provider_options: Mapping[str, Mapping[str, Any]] = attrs.field(hash=False)
    key: str = attrs.field(init=False, eq=False, hash=False)

    def __init__(
        self,
        to: str,
        text: str,
        *,
        sender: str | None = None,
        reference: str | None = None,
        tag: str | None = None,
        metadata: Mapping[str, str] | None = None,
        validity: timedelta | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        region: str | None = None,
        key: str | None = None,
    ) -> None:
        if not isinstance(text, str):
            raise ValidationError("text", f"must be a string, not {type(text).__name__}")
        if not text.strip():
            raise ValidationError("text", "is empty or only whitespace; there is nothing to send")
        check_text(text)
        if (
            type(self) is Message  # a subclass's fields and hooks are set by attrs' __init__
            and sender is None
            and reference is None
            and tag is None
            and metadata is None
            and validity is None
            and provider_options is None
        ):
            # The usual message of a bulk run: nothing optional to check, each slot set as
            # attrs' own __init__ would set it (without its call per field).
            _set_to(self, normalize_number(to, region))
            _set_text(self, text)
            _set_sender(self, None)
            _set_reference(self, None)
            _set_tag(self, None)
            _set_metadata(self, _EMPTY)
            _set_validity(self, None)
            _set_options(self, _EMPTY)
            _set_key(self, new_key() if key is None else _checked_key(key))
            return
        if validity is not None and (not isinstance(validity, timedelta) or validity <= _ZERO):
            raise ValidationError("validity", f"must be a positive timedelta, not {validity!r}")
        self.__attrs_init__(
            normalize_number(to, region),
            text,
            _optional_text("sender", sender),
            _optional_text("reference", reference),
            _optional_text("tag", tag),
            _frozen_str_mapping("metadata", metadata),
            validity,
            _frozen_options(provider_options),
        )
        object.__setattr__(self, "key", _checked_key(key))


_ZERO = timedelta(0)


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of an attrs class's slots, in field order, for code that makes many of its
    instances (a bulk run: one a message) and sets them as attrs' ``__init__`` would, without
    its call per field.

    Raises:
        TypeError: a field converts or validates its value, or the class has an init hook or
            caches its hash: work the setters would skip.
    """
    fields = attrs.fields(cls)
    if any(a.converter is not None or a.validator is not None for a in fields):
        raise TypeError(f"{cls.__name__}'s fields check their values: build it the usual way")
    hooks = ("__attrs_pre_init__", "__attrs_post_init__")
    if any(hasattr(cls, hook) for hook in hooks) or "_attrs_cached_hash" in vars(cls):
        raise TypeError(f"{cls.__name__}'s __init__ does more than set its fields")
    return tuple(getattr(cls, a.name).__set__ for a in fields)


# Each field of Message, in order: its __init__ sets them all for a plain message.
(
    _set_to,
    _set_text,
    _set_sender,
    _set_reference,
    _set_tag,
    _set_metadata,
    _set_validity,
    _set_options,
    _set_key,
) = slot_setters(Message)


class MessageFields(TypedDict, total=False):
    """The optional keyword arguments of `Message`, for functions that pass them on."""

    sender: str | None
    reference: str | None
    tag: str | None
    metadata: Mapping[str, str] | None
    validity: timedelta | None
    provider_options: Mapping[str, Mapping[str, Any]] | None
    region: str | None
    key: str | None


@attrs.frozen(kw_only=True)
class Receipt:
    """What `send` and `schedule` return: the provider took the message.

    Attributes:
        provider: the name of the provider that accepted it (``"smsworks"``).
        message_id: the provider's id for this message; pass it (or the receipt) to
            ``status`` and ``cancel``. ``None`` when the provider took the message in a batch
            without an id of its own (The SMS Works' batch endpoints): pass the receipt, and
            the gateway finds the message through ``batch_id``.
        to: the recipient, in E.164 form.
        status: the status at acceptance (``QUEUED``, ``SENT`` or ``SCHEDULED``).
        batch_id: the provider's id for the batch it went in, if it went in one.
        reference: the message's ``reference``.
        metadata: the message's ``metadata``.
        parts: how many SMS parts the provider counted, where it says.
        credits: the credits it cost, where the provider says.
        scheduled_at: when it is due to go out, for a scheduled message.
        key: the message's idempotency key, when the provider stores it with the message
            (``gateway.find`` looks it up).
        raw: the provider's answer, as parsed JSON.
    """

    provider: str
    message_id: str | None
    to: str
    status: DeliveryStatus
    batch_id: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    parts: int | None = None
    credits: float | None = None
    scheduled_at: datetime | None = None
    key: str | None = None
    raw: Any = attrs.field(default=None, eq=False, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class StatusReport:
    """What `status` and `cancel` return: where a message stands now.

    Attributes:
        provider: the provider's name.
        message_id: the provider's id for the message.
        status: the unified status.
        to: the recipient in E.164 form, where the provider says.
        reason: why it failed, for failed statuses where it can be told.
        provider_status: the provider's own word or code, unchanged (``"DELIVERED"``, ``13``).
        detail: the provider's own words about a failure, if any.
        batch_id: the batch it went in, if any.
        reference: the ``reference`` of the message, when the call was given its `Receipt`
            (or the provider stores it).
        metadata: likewise for its ``metadata``.
        updated_at: when the provider last changed the status, where it says.
        raw: the provider's answer, as parsed JSON.
    """

    provider: str
    message_id: str
    status: DeliveryStatus
    to: str | None = None
    reason: FailureReason | None = None
    provider_status: str | int | None = None
    detail: str | None = None
    batch_id: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    updated_at: datetime | None = None
    raw: Any = attrs.field(default=None, eq=False, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class BatchReceipt:
    """What a provider's batch endpoint returns: it took many messages under one id.

    Attributes:
        provider: the provider's name.
        batch_id: the provider's id for the batch; pass it (or this) to the provider's batch
            status and cancel calls.
        status: the batch's status at acceptance (``QUEUED``, ``SENT``, ``SCHEDULED``).
        recipients: the recipients, in E.164 form, in the order they were given.
        scheduled_at: when it is due to go out, for a scheduled batch.
        raw: the provider's answer, as parsed JSON.
    """

    provider: str
    batch_id: str
    status: DeliveryStatus
    recipients: tuple[str, ...] = ()
    scheduled_at: datetime | None = None
    raw: Any = attrs.field(default=None, eq=False, hash=False, repr=False)


@attrs.frozen(kw_only=True)
class InboundMessage:
    """A text someone sent to one of the account's numbers (a reply, or a keyword).

    Attributes:
        provider: the provider's name.
        message_id: the provider's id for the incoming message.
        sender: who sent it: a phone number in E.164 form; anything that is not a phone
            number (a network's name, a short code) as the provider wrote it.
        to: the account's number or short code it was sent to, written the same way.
        text: what it says.
        received_at: when smsgate received it (UTC), for providers that give no time.
        raw: the provider's payload, as parsed JSON.
    """

    provider: str
    message_id: str
    sender: str
    to: str
    text: str
    received_at: datetime
    raw: Any = attrs.field(default=None, eq=False, hash=False, repr=False)


MessageRef: TypeAlias = Receipt | str
"""A message to ask about: its `Receipt`, or the ``message_id`` a receipt carries."""


def with_receipt(report: StatusReport, ref: MessageRef) -> StatusReport:
    """``report`` with the ``reference``, ``metadata`` (and, if it lacks one, the recipient)
    of ``ref`` when ``ref`` is a `Receipt`; adapters use it so that both travel through."""
    if not isinstance(ref, Receipt):
        return report
    return attrs.evolve(
        report, reference=ref.reference, metadata=ref.metadata, to=report.to or ref.to
    )


def batch_id_of(ref: BatchReceipt | Receipt | str) -> str:
    """The provider's batch id that ``ref`` stands for: a `BatchReceipt`, the `Receipt` of a
    message sent in a batch, or the id itself.

    Raises:
        ValidationError: ``ref`` is none of these, or a receipt of a message sent alone.
    """
    if isinstance(ref, BatchReceipt):
        return ref.batch_id
    if isinstance(ref, Receipt):
        if ref.batch_id is None:
            raise ValidationError(
                "batch", f"this receipt has no batch id (message {ref.message_id} went alone)"
            )
        return ref.batch_id
    if isinstance(ref, str) and ref.strip():
        return ref
    raise ValidationError(
        "batch", f"must be a BatchReceipt or a batch id string (or a Receipt), not {ref!r}"
    )


def message_id_of(ref: MessageRef) -> str:
    """The provider's message id that ``ref`` stands for.

    Raises:
        ValidationError: ``ref`` is neither a `Receipt` with a message id nor a non-empty
            string.
    """
    if isinstance(ref, Receipt):
        if ref.message_id is None:
            raise ValidationError(
                "ref", f"this receipt has no message id of its own (batch {ref.batch_id})"
            )
        return ref.message_id
    if isinstance(ref, str) and ref.strip():
        return ref
    raise ValidationError("ref", f"must be a Receipt or a message id string, not {ref!r}")


@unique
class OutcomeStatus(StrEnum):
    """What became of one send."""

    ACCEPTED = "accepted"
    """The provider took it; ``receipt`` says how."""

    FAILED = "failed"
    """The provider took nothing; ``error`` says why. Fix it and send it again if you wish."""

    UNCERTAIN = "uncertain"
    """Its request left, and nothing proves the provider did not take it (a timeout, a 5xx):
    look it up (`find`, `resolve`) or check its status before sending it again."""

    UNSENT = "unsent"
    """It never left: the send was stopped before its request went out. Safe to send again."""

    SUPPRESSED = "suppressed"
    """The recipient opted out (a suppression list holds the number): refused before any
    request, ``error`` a `smsgate.errors.RecipientSuppressed`. Neither sent nor failed."""


@attrs.frozen
class Outcome:
    """The outcome of one send (of one input, in a bulk send).

    Attributes:
        index: the input's position, from 0 (0 for `try_send`).
        status: accepted, failed, uncertain or unsent.
        reference: the message's reference (or the input mapping's ``reference``).
        message: the message, or ``None`` when the input could not become one (and in a
            bulk summary's older uncertain outcomes, to keep it small).
        receipt: for an accepted message.
        error: for a failed or uncertain one.
        key: the idempotency key the message's request carried, with which `find` looks it
            up; ``None`` when the request carried none (or never left).
    """

    index: int
    status: OutcomeStatus
    reference: str | None
    message: Message | None = attrs.field(default=None, repr=False)
    receipt: Receipt | None = None
    error: SmsGateError | None = None
    key: str | None = None
