"""`SmsWorksGateway`: credentials and I/O for The SMS Works; every byte it writes or reads
goes through the pure codec (`smsgate.providers.smsworks.codec`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Unpack
from urllib.parse import quote

import attrs

from smsgate.errors import (
    ConfigurationError,
    NotFound,
    ProviderError,
    TransportError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import BatchRef
from smsgate.model import (
    BatchReceipt,
    Message,
    MessageRef,
    Receipt,
    StatusReport,
    batch_id_of,
    check_send_time,
    message_id_of,
    with_receipt,
)
from smsgate.outcomes import Outcome, lookup_key, the_match
from smsgate.providers._wire import WireError, array_of, write
from smsgate.providers.base import HttpGateway, HttpOptions, HttpResponse
from smsgate.providers.smsworks import schema
from smsgate.providers.smsworks.answers import BatchReceipts
from smsgate.providers.smsworks.codec import (
    BASE_URL,
    KEY_NAME,
    MAX_BATCH,
    MAX_SEARCH,
    NAME,
    any_body,
    batch_payload,
    check_batch,
    check_metadata,
    check_sender,
    message_options,
    message_payload,
    parse_batch_status,
    parse_error,
    parse_logged,
    parse_status,
    search_query,
    send_request,
    sent_receipt,
    validity_minutes,
)
from smsgate.providers.smsworks.credentials import configured_sender, read_credentials
from smsgate.redaction import Secret

__all__ = ["SmsWorksGateway"]

_ANY_MESSAGE: Final = "any"  # the batch key of messages that can all share /batch/any
_LOGGED_ARRAY = array_of(parse_logged)


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
        login = read_credentials(token=token, customer_id=customer_id, key=key, secret=secret)
        self._token, self._credentials = login.token, login.login
        self._token_lock = asyncio.Lock()
        self.auth_advice = login.advice
        self.sender = configured_sender(sender)
        self._sender_checked: str | None = None  # the last sender batch_key found fit

    # -- credentials ------------------------------------------------------------------------

    def secrets(self) -> list[str]:
        held = [] if self._token is None else [self._token.reveal()]
        held += [s.reveal() for s in (self._credentials or {}).values()]
        return held

    def credentials_held(self) -> object:
        return self._token  # the key and secret never change; the token is fetched once

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
        return self._token.header("Authorization")

    async def _fetch_token(self) -> str:
        assert self._credentials is not None
        body = {name: value.reveal() for name, value in self._credentials.items()}
        try:
            answer = await self.request_json(
                "POST",
                "/auth/token",
                json_body=body,
                authenticate=False,
                idempotent=True,
                read=schema.TokenResponse,
            )
            return answer.token
        except TransportError as exc:
            # Whatever happened to the token request, the message itself never left.
            raise TransportError(
                "could not get a token from POST /auth/token", provider=self.name, maybe_sent=False
            ) from exc

    def error_from_response(self, response: HttpResponse) -> ProviderError:
        return parse_error(
            response.status, response.headers, response.body, advice=self.auth_advice
        )

    # -- single messages --------------------------------------------------------------------

    def _sender(self, message: Message) -> str:
        sender = message.sender or self.sender
        if sender is None:
            raise ValidationError(
                "sender", "The SMS Works needs a sender: set it on the message or the gateway"
            )
        return sender

    def _key(self, message: Message) -> str | None:
        return message.key if self.idempotency_keys else None

    async def send(self, message: Message) -> Receipt:
        """Send ``message`` now; ``{"smsworks": {"flash": True}}`` sends it as a flash SMS."""
        self._check_message(message)
        key = message.key if self.idempotency_keys else None
        path, body = send_request(message, self._sender(message), key)
        data = await self.request_json(
            "POST",
            path,
            json_body=body,
            messages=1,
            parts=self.parts((message,)),
            keyed=key is not None,
        )
        try:
            return sent_receipt(data, message, key)
        except WireError as exc:
            raise self.unusable_answer("POST", path, f"an unexpected answer: {exc}") from exc

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Have The SMS Works send ``message`` at ``at`` (aware, in the future)."""
        self._check_message(message)
        check_send_time(at)
        if message_options(message).get("flash"):
            raise UnsupportedFeature(self.name, "scheduled flash messages", "send it at its time")
        key = self._key(message)
        payload = message_payload(message, self._sender(message), at=at, key=key)
        data = await self.request_json(
            "POST",
            "/message/schedule",
            json_body=payload,
            messages=1,
            parts=self.parts((message,)),
            keyed=key is not None,
        )
        # The spec answers 200 with an array of one; older versions 201 with the object.
        item = data[0] if isinstance(data, list) and data else data
        accepted = self.read_answer(
            "POST", "/message/schedule", item, schema.ScheduledMessageResponse
        )
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
        return with_receipt(await self.request_json("GET", path, read=parse_logged), ref)

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
        accepted = self.read_answer("DELETE", path, data, schema.CancelledMessageResponse)
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
        """Check a batch before any request (`check_batch`); return each message's sender."""
        return [check_sender(self._sender(m)) for m in check_batch(messages)]

    async def send_batch(self, messages: Sequence[Message]) -> BatchReceipt:
        """Send up to 5000 messages in one request, as distinct messages with their
        idempotency keys (/batch/any); with ``idempotency_keys=False``, messages that differ
        only in recipient go as one text to many numbers (/batch/send).
        """
        return await self._post_batch(messages, self._senders(messages))

    async def _post_batch(
        self, messages: Sequence[Message], senders: Sequence[str]
    ) -> BatchReceipt:
        """/batch/any (or, without keys, /batch/send for one text), for messages already
        checked."""
        keyed = self.idempotency_keys
        one_text = None if keyed else batch_payload(messages, senders)
        if one_text is not None:
            path, payload = "/batch/send", write(one_text)
        else:
            path, payload = "/batch/any", any_body(messages, senders, keyed=keyed)
        data = await self.request_json(
            "POST",
            path,
            json_body=payload,
            messages=len(messages),
            parts=self.parts(messages),
            keyed=keyed,
        )
        return self._batch_receipt(data, messages, "POST", path, None)

    async def schedule_batch(self, messages: Sequence[Message], at: datetime) -> BatchReceipt:
        """Schedule one text to many numbers (/batch/schedule) for ``at``.

        The endpoint takes no metadata, so these messages carry no idempotency keys and
        cannot be looked up with `find`.

        Raises:
            UnsupportedFeature: the messages differ in more than their recipients.
        """
        check_send_time(at)
        one_text = batch_payload(messages, self._senders(messages), at=at)
        if one_text is None:
            raise UnsupportedFeature(
                self.name,
                "scheduling different texts in one batch",
                "schedule one batch per text, or the messages one by one",
            )
        data = await self.request_json(
            "POST",
            "/batch/schedule",
            json_body=one_text,
            messages=len(messages),
            parts=self.parts(messages),
        )
        return self._batch_receipt(data, messages, "POST", "/batch/schedule", at)

    def _batch_receipt(
        self, data: Any, messages: Sequence[Message], method: str, path: str, at: datetime | None
    ) -> BatchReceipt:
        accepted = self.read_answer(method, path, data, schema.BatchMessageResponse)
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
        return await self.request_json("GET", path, read=_LOGGED_ARRAY)

    async def cancel_batch(self, batch: BatchRef) -> BatchReceipt:
        """Cancel a scheduled batch; the receipt says ``CANCELLED``."""
        batch_id = batch_id_of(batch)
        path = f"/batches/schedule/{quote(batch_id, safe='')}"
        data = await self.request_json("DELETE", path)
        accepted = self.read_answer("DELETE", path, data, schema.CancelledMessageResponse)
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
        if (  # the usual message of a bulk run: nothing to check but its sender
            at is None
            and type(message) is Message
            and not message.provider_options
            and message.validity is None
            and not message.metadata
        ):
            sender = message.sender or self.sender
            if sender is None or sender is not self._sender_checked:  # each sender once
                self._sender_checked = check_sender(self._sender(message))
            return _ANY_MESSAGE
        self._check_message(message)
        check_metadata(message)
        sender = check_sender(self._sender(message))
        options = message_options(message)
        validity = validity_minutes(message)
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

    async def send_chunk(
        self, messages: Sequence[Message], at: datetime | None
    ) -> Sequence[Receipt]:
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
            batch = await self._post_batch(messages, [self._sender(m) for m in messages])
        else:
            batch = await self.schedule_batch(messages, at)
        return BatchReceipts(messages, batch, at, keyed)

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

    async def _search_page(self, query: schema.Query) -> list[StatusReport]:
        return await self.request_json(
            "POST", "/messages", json_body=query, idempotent=True, read=_LOGGED_ARRAY
        )

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
        answer = await self.request_json("GET", "/credits/balance", read=schema.CreditsResponse)
        return answer.credits
