"""The SMS Works' answers read, with no I/O: its status words and error codes (`STATUSES`,
`ERRORS`), and a reader for each answer smsgate takes (`read_sent`, `parse_status`,
`parse_batch_status`, `parse_logged`, `parse_error`), and `BatchReceipts`, a receipt per
message of a batch answer. `smsgate.providers.smsworks.codec` writes the requests and
re-exports the readers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, overload

import attrs

from smsgate.errors import (
    AuthenticationError,
    InsufficientCredit,
    InvalidRequest,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
)
from smsgate.model import BatchReceipt, Message, Receipt, StatusReport, slot_setters
from smsgate.numbers import read_number
from smsgate.providers._wire import read
from smsgate.providers.codec import ErrorAnswer, provider_error
from smsgate.providers.smsworks import schema
from smsgate.providers.smsworks.schema import KEY_NAME, NAME
from smsgate.status import DeliveryStatus, FailureReason

__all__ = [
    "ERRORS",
    "STATUSES",
    "BatchReceipts",
    "ErrorRule",
    "parse_batch_status",
    "parse_error",
    "parse_logged",
    "parse_status",
    "parse_time",
    "read_sent",
    "sent_receipt",
]

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
    """How one documented error code is raised: permanent and not retried unless it says."""

    error_class: type[ProviderError]
    reason: FailureReason
    permanent: bool = True
    retryable: bool = False
    maybe_sent: bool | None = None
    """For a send: whether the message may have been taken (``None``: the class decides)."""


ERRORS: Final[Mapping[int, ErrorRule]] = {
    4001: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT),
    4002: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT),  # too long
    4003: ErrorRule(InvalidRequest, FailureReason.INVALID_SENDER),
    4004: ErrorRule(InvalidRequest, FailureReason.INVALID_RECIPIENT),
    4005: ErrorRule(InvalidRequest, FailureReason.INVALID_REQUEST),  # tag too long
    4006: ErrorRule(InvalidRequest, FailureReason.INVALID_CONTENT),  # profanity
    # Blocked terms: the provider also disables the account, so every later send fails too.
    4007: ErrorRule(InvalidRequest, FailureReason.ACCOUNT),
    4011: ErrorRule(AuthenticationError, FailureReason.ACCOUNT),
    4021: ErrorRule(InsufficientCredit, FailureReason.INSUFFICIENT_CREDIT),
    4031: ErrorRule(PermissionDenied, FailureReason.ACCOUNT),
    4032: ErrorRule(PermissionDenied, FailureReason.ACCOUNT),
    4033: ErrorRule(PermissionDenied, FailureReason.ACCOUNT),
    4034: ErrorRule(PermissionDenied, FailureReason.UNSUPPORTED_DESTINATION),
    # The two 503s the guide documents both say the message will not go out, so, unlike any
    # other 5xx, neither leaves a send uncertain:
    # 5001 "SMS Message Rejected. We were not able to pass your SMS message to the mobile
    # networks. You will not be charged": logged as rejected, never sent; no advice to retry.
    5001: ErrorRule(ProviderUnavailable, FailureReason.PROVIDER_ERROR, maybe_sent=False),
    # 5002 "Service database error. We were not able to schedule your message for sending.
    # Please try again": not taken, and the provider asks for the same request again.
    5002: ErrorRule(
        ProviderUnavailable,
        FailureReason.PROVIDER_ERROR,
        permanent=False,
        retryable=True,
        maybe_sent=False,
    ),
}
"""The SMS Works error codes (``errorCode`` of ExtendedErrorModel) and how each is raised."""

# --- reading answers -----------------------------------------------------------------------


def read_sent(data: Any) -> schema.SendMessageResponse:
    """The answer of ``/message/send`` (and ``/message/flash``), through the one converter,
    which names what is wrong.

    Raises:
        WireError: the answer is not a SendMessageResponse.
    """
    return read(data, schema.SendMessageResponse)


def _usual_sent(data: Any) -> tuple[str, str, float | None, int | None] | None:
    """The id, status word, credits and parts of the usual send answer, as `read_sent`
    reads them; ``None`` for any other answer."""
    if type(data) is not dict:
        return None
    message_id, status = data.get("messageid"), data.get("status")
    used, parts = data.get("creditsUsed"), data.get("messageparts")
    if (
        type(message_id) is str
        and type(status) is str
        and (used is None or type(used) is int or type(used) is float)
        and (parts is None or type(parts) is int)
    ):
        return message_id, status, None if used is None else float(used), parts
    return None


def sent_receipt(data: Any, message: Message, key: str | None) -> Receipt:
    """The `Receipt` of ``message``, sent with ``key``, from the answer of ``/message/send``
    (or ``/message/flash``). The usual answer — an object with a text id and status, and
    numbers where numbers go — is read directly; anything else by `read_sent`.

    Raises:
        WireError: the answer is not a SendMessageResponse.
    """
    fields = _usual_sent(data)
    if fields is None:
        sent = read_sent(data)  # names what is wrong, or reads what the check did not
        fields = sent.message_id, sent.status, sent.credits_used, sent.message_parts
    message_id, status, used, parts = fields
    # Receipt(provider=NAME, message_id=..., ...), its slots set as attrs' own __init__ sets
    # them, without its call per field: a single send's hot path.
    receipt: Receipt = object.__new__(Receipt)
    _set_provider(receipt, NAME)
    _set_message_id(receipt, message_id)
    _set_to(receipt, message.to)
    _set_status(receipt, parse_status(status))
    _set_batch_id(receipt, None)
    _set_reference(receipt, message.reference)
    _set_metadata(receipt, message.metadata)
    _set_parts(receipt, parts)
    _set_credits(receipt, used)
    _set_scheduled_at(receipt, None)
    _set_key(receipt, key)
    _set_raw(receipt, data)
    return receipt


_UNKNOWN = DeliveryStatus.UNKNOWN


def parse_status(word: str) -> DeliveryStatus:
    """A status word as a `DeliveryStatus`; an unknown word is ``UNKNOWN``, never an error."""
    status = STATUSES.get(word)  # the usual word, as the table has it
    return status if status is not None else STATUSES.get(word.strip().upper(), _UNKNOWN)


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
    return read_number(destination, "GB")


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
    logged = read(data, schema.MessageResponse)
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


def parse_error(
    status: int, headers: Mapping[str, str], body: bytes, *, advice: str | None = None
) -> ProviderError:
    """The error an HTTP error answer stands for.

    The body is an ErrorModel ``{message}`` or an ExtendedErrorModel ``{message, errorCode,
    status, permanent}``; each field is used if it is usable, so an odd body still gives a
    clear error. A documented ``errorCode`` picks the class and reason (`ERRORS`); any other
    answer's class follows its HTTP status.

    Args:
        status, headers, body: the answer (``body`` with secrets already blanked out).
        advice: what to check, should it be an `AuthenticationError`.
    """
    answer = ErrorAnswer.read(status, headers, body)
    code = answer.field("errorCode")
    code = int(code) if isinstance(code, int | float) and not isinstance(code, bool) else None
    rule = ERRORS.get(code) if code is not None else None
    fields: dict[str, Any] = {"code": code}
    if rule is not None:
        fields.update(
            reason=rule.reason,
            permanent=rule.permanent,
            retryable=rule.retryable,
            maybe_sent=rule.maybe_sent,
        )
    permanent = answer.field("permanent")
    if isinstance(permanent, bool):
        fields["permanent"] = permanent
    detail = answer.message() or ((answer.text if answer.data is None else None) or None)
    return provider_error(
        answer,
        provider=NAME,
        error_class=rule.error_class if rule else None,
        detail=detail,
        advice=advice,
        **fields,
    )


class BatchReceipts(Sequence[Receipt]):
    """A receipt for each message of a batch request, made when it is asked for (a bulk run
    asks as its caller takes each outcome)."""

    __slots__ = ("_at", "_batch", "_keyed", "_messages")

    def __init__(
        self, messages: Sequence[Message], batch: BatchReceipt, at: datetime | None, keyed: bool
    ) -> None:
        self._messages, self._batch, self._at, self._keyed = messages, batch, at, keyed

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> Receipt: ...

    @overload
    def __getitem__(self, index: slice) -> list[Receipt]: ...

    def __getitem__(self, index: int | slice) -> Receipt | list[Receipt]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        message, batch = self._messages[index], self._batch
        # Receipt(provider=NAME, message_id=None, to=message.to, ...), its slots set as
        # attrs' own __init__ sets them, without its call per field: a bulk run makes one a
        # message.
        receipt: Receipt = object.__new__(Receipt)
        _set_provider(receipt, NAME)
        _set_message_id(receipt, None)
        _set_to(receipt, message.to)
        _set_status(receipt, batch.status)
        _set_batch_id(receipt, batch.batch_id)
        _set_reference(receipt, message.reference)
        _set_metadata(receipt, message.metadata)
        _set_parts(receipt, None)
        _set_credits(receipt, None)
        _set_scheduled_at(receipt, self._at)
        _set_key(receipt, message.key if self._keyed else None)
        _set_raw(receipt, batch.raw)
        return receipt


(
    _set_provider,
    _set_message_id,
    _set_to,
    _set_status,
    _set_batch_id,
    _set_reference,
    _set_metadata,
    _set_parts,
    _set_credits,
    _set_scheduled_at,
    _set_key,
    _set_raw,
) = slot_setters(Receipt)  # each field of Receipt, in order: BatchReceipts sets them all
