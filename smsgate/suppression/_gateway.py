"""`SuppressingGateway`: a gateway that refuses, before any request, every message whose
recipient is on a suppression list."""

from __future__ import annotations

from datetime import datetime

from smsgate.errors import RecipientSuppressed
from smsgate.gateway import BaseGateway, SmsGateway, can_find
from smsgate.gateway import announces_dispatch as announces
from smsgate.model import Message, MessageRef, Outcome, Receipt, StatusReport
from smsgate.suppression._base import SuppressionList

__all__ = ["SuppressingGateway"]


class SuppressingGateway(BaseGateway):
    """``gateway``, with ``suppression`` consulted before each send: a message to a number
    on the list raises `smsgate.errors.RecipientSuppressed` and no request is made.

    `send` and `schedule` look the recipient up (one query); `smsgate.send_many` and
    `send_all` given this gateway send through ``gateway`` and look up a whole request's
    recipients at once, giving each one on the list a ``SUPPRESSED`` outcome. `status`,
    `cancel` and `find` are ``gateway``'s. Closing it closes ``gateway`` (not the list).

    Args:
        gateway: the gateway that sends.
        suppression: the numbers not to text (`smsgate.suppression.SuppressionList`).

    Raises:
        TypeError: ``suppression`` is not a suppression list.
    """

    def __init__(self, gateway: SmsGateway, suppression: SuppressionList) -> None:
        if not isinstance(suppression, SuppressionList):
            raise TypeError(
                f"suppression: must be a SuppressionList, not {type(suppression).__name__}"
            )
        super().__init__(default_region=getattr(gateway, "default_region", None))
        self.gateway = gateway
        self.suppression = suppression
        self.name = gateway.name
        self.announces_dispatch = announces(gateway)

    @property
    def can_find(self) -> bool:
        return can_find(self.gateway)

    async def _check(self, message: Message) -> None:
        self._check_message(message)
        self._ensure_open()
        if await self.suppression.contains(message.to):
            raise RecipientSuppressed(message.to)

    async def send(self, message: Message) -> Receipt:
        """Send ``message``, unless its recipient is on the list.

        Raises:
            RecipientSuppressed: the recipient opted out; nothing was sent.
            SuppressionError: the list cannot be read; nothing was sent.
        """
        await self._check(message)
        return await self.gateway.send(message)

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Schedule ``message``, unless its recipient is on the list (as `send`)."""
        await self._check(message)
        return await self.gateway.schedule(message, at)

    async def status(self, ref: MessageRef) -> StatusReport:
        return await self.gateway.status(ref)

    async def cancel(self, ref: MessageRef) -> StatusReport:
        return await self.gateway.cancel(ref)

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        if not can_find(self.gateway):
            return await super().find(ref)  # says it cannot
        return await self.gateway.find(ref)  # type: ignore[attr-defined,no-any-return]

    async def aclose(self) -> None:
        await super().aclose()
        await self.gateway.aclose()
