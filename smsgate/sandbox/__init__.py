"""A local stand-in for The SMS Works and SMS Scheduler, on 127.0.0.1.

It speaks both APIs as their docs describe them — auth, validation and error shapes, batches,
scheduling, cancelling, credits — and moves every message along over time: queued, sent, then
delivered or (with probability ``failure_rate``, drawn from ``seed``) failed with one of the
provider's documented outcomes. The SMS Works' delivery reports are posted to ``webhook_url``
(or a message's ``deliveryreporturl``). Nothing leaves the machine.

>>> import asyncio, smsgate
>>> async def main():
...     async with Sandbox(seed=1, failure_rate=0) as sandbox:
...         async with smsgate.from_config(sandbox.config("smsscheduler")) as gateway:
...             receipt = await gateway.send(gateway.message("+33612345678", "Hello"))
...             report = await smsgate.wait_for_final(gateway, receipt, interval=0.05)
...     return report.status
>>> asyncio.run(main())
<DeliveryStatus.DELIVERED: 'delivered'>

In your own tests, a fixture is three lines::

    @pytest.fixture
    async def sandbox():
        async with Sandbox(seed=1, send_delay=0.01, deliver_delay=0.01) as running:
            yield running
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from smsgate.checks import is_whole
from smsgate.errors import ConfigurationError
from smsgate.sandbox._engine import (
    COMMON_FAULTS,
    LOOPBACK,
    STORING,
    Account,
    Engine,
    Faults,
    Reporter,
    Sms,
    Timing,
)
from smsgate.sandbox._smsscheduler import SmsScheduler
from smsgate.sandbox._smsworks import SmsWorks

__all__ = ["FAULTS", "PROVIDERS", "Sandbox"]

PROVIDERS = ("smsworks", "smsscheduler")
"""The providers the sandbox emulates."""

FAULTS = (*COMMON_FAULTS, "5001", "5002")
"""What a sending request can be made to meet (`Sandbox.inject`)."""

SMSWORKS_TOKEN = "JWT sandbox-token"
SMSWORKS_LOGIN = {"customer_id": "sandbox", "key": "sandbox-key", "secret": "sandbox-secret"}
SMSSCHEDULER_TOKEN = "sandbox-token"
SENDER = "Sandbox"
SENDER_ID = 1


class Sandbox:
    """Both providers' APIs on one local aiohttp server.

    Args:
        seed: seeds the outcomes; the same seed and order of requests give the same results.
        failure_rate: the share of messages that fail (0 to 1), with a documented outcome.
        send_delay: seconds a message stays queued before it is sent.
        deliver_delay: seconds from sent to its final status.
        credits: the credits each account starts with.
        webhook_url: where The SMS Works' delivery reports are posted, if anywhere.
        timezone: SMS Scheduler's account time zone (it reads ``delivery_date`` in it).
        latency: seconds each request that sends messages waits, once its messages are
            stored, before it is answered (for requests in flight when a send is stopped).
        host, port: where to listen; port 0 picks a free one.

    Raises:
        ConfigurationError: a setting is out of range, or the host is not a loopback address.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        failure_rate: float = 0.1,
        send_delay: float = 0.5,
        deliver_delay: float = 1.5,
        credits: float = 1_000_000,
        webhook_url: str | None = None,
        timezone: str = "Europe/Paris",
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not 0 <= failure_rate <= 1:
            raise ConfigurationError("failure_rate: must be between 0 and 1")
        if send_delay < 0 or deliver_delay < 0 or credits < 0 or latency < 0:
            raise ConfigurationError(
                "send_delay, deliver_delay, credits and latency must not be negative"
            )
        if host not in LOOPBACK:
            raise ConfigurationError("host: the sandbox listens on loopback only")
        self.engine = Engine(
            seed=seed,
            failure_rate=failure_rate,
            timing=Timing(send_delay, deliver_delay),
            refusals={
                "smsworks": frozenset({"REJECTED"}),
                "smsscheduler": frozenset(range(20, 30)),
            },
        )
        self.webhook_url = webhook_url
        self.timezone = timezone
        self.latency = latency
        self.faults = Faults()
        self.accounts = {
            "smsworks": Account(credits, first_id=100_000_001),
            "smsscheduler": Account(credits, first_id=500_001),
        }
        self.smsworks = SmsWorks(
            self.engine,
            self.accounts["smsworks"],
            token=SMSWORKS_TOKEN,
            customer_id=SMSWORKS_LOGIN["customer_id"],
            key=SMSWORKS_LOGIN["key"],
            secret=SMSWORKS_LOGIN["secret"],
            webhook_url=lambda: self.webhook_url,
            now=_now,
            faults=self.faults,
            latency=lambda: self.latency,
        )
        try:
            self.smsscheduler = SmsScheduler(
                self.engine,
                self.accounts["smsscheduler"],
                token=SMSSCHEDULER_TOKEN,
                sender_ids=frozenset({SENDER_ID}),
                timezone=timezone,
                now=_now,
                faults=self.faults,
                latency=lambda: self.latency,
            )
        except (ValueError, LookupError):
            raise ConfigurationError(
                "timezone: must be an IANA name such as 'Europe/Paris'"
            ) from None
        self.engine.on_final.append(self._on_final)
        self.reporter = Reporter()
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.url = ""

    def app(self) -> web.Application:
        """The aiohttp application serving both providers."""
        app = web.Application()
        app.add_routes(self.smsworks.routes() + self.smsscheduler.routes())
        return app

    def base_url(self, provider: str) -> str:
        """The ``base_url`` option that points a gateway of ``provider`` here."""
        paths = {"smsworks": "/smsworks/v1", "smsscheduler": "/smsscheduler/api/v1"}
        if provider not in paths:
            raise ConfigurationError(
                f"the sandbox emulates {', '.join(PROVIDERS)}, not {provider!r}"
            )
        if not self.url:
            raise ConfigurationError("the sandbox is not running; use `async with Sandbox()`")
        return self.url + paths[provider]

    def config(self, provider: str) -> dict[str, Any]:
        """A configuration for `smsgate.from_config` that sends to this sandbox."""
        base_url = self.base_url(provider)
        if provider == "smsworks":
            return {
                "provider": provider,
                "base_url": base_url,
                "token": SMSWORKS_TOKEN,
                "sender": SENDER,
            }
        return {
            "provider": provider,
            "base_url": base_url,
            "token": SMSSCHEDULER_TOKEN,
            "sender_id": SENDER_ID,
            "senders": {SENDER: SENDER_ID},
            "timezone": self.timezone,
        }

    def inject(
        self,
        provider: str,
        fault: str,
        *,
        stored: bool = True,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests that send messages to ``provider`` misbehave.

        Args:
            provider: ``"smsworks"`` or ``"smsscheduler"``.
            fault: one of `FAULTS`: ``"500"`` (a JSON error), ``"502"`` and ``"504"`` (a
                load balancer's HTML page), ``"drop"`` (the connection is closed without an
                answer), ``"429"`` (nothing taken); for The SMS Works also ``"5001"``
                (logged as rejected, never sent, not charged) and ``"5002"`` (nothing
                taken, "please try again"), as its guide documents them.
            stored: for ``"500"``, ``"502"``, ``"504"`` and ``"drop"``: whether the
                messages are stored (and will be sent) before the fault. The client cannot
                tell; that is the point.
            path: only requests whose path ends so (``"/batch/any"``, ``"/sms"``).
            times: how many requests meet it.

        Raises:
            ConfigurationError: an unknown provider or fault, or ``times`` below 1.
        """
        self.base_url(provider)  # an unknown provider is refused
        documented = {"5001", "5002"}
        if fault not in FAULTS or (provider != "smsworks" and fault in documented):
            known = [f for f in FAULTS if provider == "smsworks" or f not in documented]
            raise ConfigurationError(f"fault: {provider} can meet one of {', '.join(known)}")
        if not is_whole(times, least=1):
            raise ConfigurationError("times: must be a whole number of at least 1")
        stored = (stored and fault in STORING) or fault == "5001"
        self.faults.add(provider, fault, stored=stored, path=path, times=times)

    def credits(self, provider: str) -> float:
        """The credits left on ``provider``'s account."""
        return self.accounts[provider].credits

    def messages(self, provider: str) -> list[Sms]:
        """Every message ``provider``'s account has taken, oldest first, as of the last
        request or tick (every 50 ms)."""
        return list(self.accounts[provider].messages.values())

    def _on_final(self, sms: Sms) -> None:
        account = self.accounts[sms.provider]
        # Failed messages are refunded (The SMS Works: only within the UK).
        if sms.failed and (sms.provider != "smsworks" or sms.to.startswith("+44")):
            account.credits += sms.credits
        if sms.provider == "smsworks":
            url = self.smsworks.report_url(sms)
            if url is not None:
                self.reporter.post(url, self.smsworks.logged(sms))

    async def _tick(self) -> None:
        while True:
            self.engine.advance(_now())
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        """Start serving on ``host``:``port``; `url` is then the server's address."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self.reporter.start()
        self._ticker = asyncio.create_task(self._tick())

    async def settle(self) -> None:
        """Apply every change due by now and wait until its delivery reports are posted."""
        self.engine.advance(_now())
        await self.reporter.drain()

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.reporter.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.url = ""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _now() -> datetime:
    return datetime.now(UTC)
