"""A local stand-in for SMS providers on 127.0.0.1: The SMS Works and SMS Scheduler, and any
provider whose emulator is registered.

It speaks each API as its docs describe it — auth, validation and error shapes, batches,
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

Another provider's emulator is an `Emulator` (its name, URL prefix, and a ``build`` that
makes the running emulator from a `Context`), given to `register_emulator` or installed by a
package under the entry-point group ``smsgate.emulators``::

    [project.entry-points."smsgate.emulators"]
    acme = "acme_sms.sandbox:EMULATOR"

``PROVIDERS`` names the providers emulated, in the order they were registered (the built-in
ones first); ``FAULTS`` lists every fault `Sandbox.inject` takes for one or another of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import import_module
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from smsgate.checks import is_whole
from smsgate.errors import ConfigurationError
from smsgate.sandbox._emulator import (
    EMULATORS_GROUP,
    Context,
    Emulator,
    LoginsEmulator,
    RunningEmulator,
    register_emulator,
    registered_emulators,
    unregister_emulator,
)
from smsgate.sandbox._engine import (
    COMMON_FAULTS,
    LOOPBACK,
    STORING,
    Account,
    Engine,
    Faults,
    Reporter,
    Sms,
    Stage,
    Timing,
)

__all__ = [
    "COMMON_FAULTS",
    "EMULATORS_GROUP",
    "FAULTS",
    "PROVIDERS",
    "Context",
    "Emulator",
    "LoginsEmulator",
    "RunningEmulator",
    "Sandbox",
    "Sms",
    "Stage",
    "register_emulator",
    "registered_emulators",
    "unregister_emulator",
]

# The built-in emulators register themselves as they are imported, in the order PROVIDERS
# lists them; importing them here, before anything else can, keeps that order.
for _builtin in ("_smsworks", "_smsscheduler"):
    import_module(f"{__name__}.{_builtin}")
del _builtin

_requests = logging.getLogger("smsgate.sandbox.requests")


def __getattr__(name: str) -> tuple[str, ...]:
    """``PROVIDERS`` and ``FAULTS``, read from the registry of emulators when asked."""
    if name == "PROVIDERS":
        return tuple(emulator.name for emulator in registered_emulators())
    if name == "FAULTS":
        own = (fault for emulator in registered_emulators() for fault in emulator.faults)
        return tuple(dict.fromkeys((*COMMON_FAULTS, *own)))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Sandbox:
    """Every registered emulator's API on one local aiohttp server.

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
        host: where to listen, a loopback address.
        port: the port to listen on; 0 picks a free one.
        log_requests: log a line for each request answered, at INFO on the
            ``smsgate.sandbox.requests`` logger: method, path, status and milliseconds
            (``POST /smsworks/v1/message/send 201 3 ms``).

    Attributes:
        providers: the `Emulator` of each provider it emulates, by name: those registered
            when it was made.
        emulators: their running emulators, by name; ``sandbox.smsworks`` is
            ``sandbox.emulators["smsworks"]`` too.
        accounts: each provider's account (credits, messages, batches), by name.

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
        log_requests: bool = False,
    ) -> None:
        if not 0 <= failure_rate <= 1:
            raise ConfigurationError("failure_rate: must be between 0 and 1")
        if send_delay < 0 or deliver_delay < 0 or credits < 0 or latency < 0:
            raise ConfigurationError(
                "send_delay, deliver_delay, credits and latency must not be negative"
            )
        if host not in LOOPBACK:
            raise ConfigurationError("host: the sandbox listens on loopback only")
        self.providers = {emulator.name: emulator for emulator in registered_emulators()}
        self.engine = Engine(
            seed=seed,
            failure_rate=failure_rate,
            timing=Timing(send_delay, deliver_delay),
            refusals={name: emulator.refusals for name, emulator in self.providers.items()},
        )
        self.webhook_url = webhook_url
        self.timezone = timezone
        self.latency = latency
        self.faults = Faults()
        self.reporter = Reporter()
        self.accounts = {
            name: Account(credits, first_id=emulator.first_id)
            for name, emulator in self.providers.items()
        }
        self.emulators: dict[str, RunningEmulator] = {
            name: emulator.build(self._context(name)) for name, emulator in self.providers.items()
        }
        self.engine.on_final.append(self._on_final)
        self._host, self._port = host, port
        self.log_requests = log_requests
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.url = ""

    def _context(self, name: str) -> Context:
        return Context(
            name=name,
            engine=self.engine,
            account=self.accounts[name],
            reporter=self.reporter,
            now=_now,
            webhook_url=lambda: self.webhook_url,
            timezone=self.timezone,
            faults=self.faults,
            latency=lambda: self.latency,
        )

    def __getattr__(self, name: str) -> RunningEmulator:
        """A provider's running emulator, by its name: ``sandbox.smsworks``."""
        emulators: dict[str, RunningEmulator] = self.__dict__.get("emulators", {})
        if name in emulators:
            return emulators[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def app(self) -> web.Application:
        """The aiohttp application serving every provider, each under its prefix."""
        # Room for the largest batch a provider takes (5,000 messages of 640 characters).
        middlewares = [_log_request] if self.log_requests else []
        app = web.Application(client_max_size=32 * 1024 * 1024, middlewares=middlewares)
        for name, emulator in self.providers.items():
            app.add_routes(
                web.route(route.method, emulator.prefix + route.path, route.handler, **route.kwargs)
                for route in self.emulators[name].routes()
            )
        return app

    def base_url(self, provider: str, *, port: int | None = None) -> str:
        """The ``base_url`` option that points a gateway of ``provider`` here.

        Args:
            provider: a provider the sandbox emulates.
            port: the port of a sandbox with these settings serving on this one's host,
                such as ``smsgate sandbox`` in another process: the address is that one's,
                and this sandbox need not be running.

        Raises:
            ConfigurationError: an unknown provider, or no ``port`` and this sandbox is not
                running.
        """
        emulator = self.providers.get(provider)
        if emulator is None:
            raise ConfigurationError(
                f"the sandbox emulates {', '.join(self.providers)}, not {provider!r}"
            )
        if port is not None:
            return _url(self._host, port) + emulator.prefix
        if not self.url:
            raise ConfigurationError("the sandbox is not running; use `async with Sandbox()`")
        return self.url + emulator.prefix

    def config(self, provider: str, *, port: int | None = None) -> dict[str, Any]:
        """A configuration for `smsgate.from_config` that sends to this sandbox (or, with
        ``port``, to one with its settings serving there: see `base_url`).

        >>> Sandbox().config("smsworks", port=8025)["base_url"]
        'http://127.0.0.1:8025/smsworks/v1'
        """
        base_url = self.base_url(provider, port=port)
        return self.emulators[provider].config(base_url)

    def logins(self, provider: str, *, port: int | None = None) -> dict[str, dict[str, Any]]:
        """Configurations that log in to ``provider`` here in other ways than `config`
        (The SMS Works: ``"key and secret"``), by name; empty when it has no other.
        ``port`` as for `base_url`."""
        base_url = self.base_url(provider, port=port)
        emulator = self.emulators[provider]
        if not isinstance(emulator, LoginsEmulator):
            return {}
        return {name: dict(config) for name, config in emulator.logins(base_url).items()}

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
            provider: a provider the sandbox emulates, such as ``"smsworks"``.
            fault: one of `COMMON_FAULTS`: ``"500"`` (a JSON error), ``"502"`` and ``"504"``
                (a load balancer's HTML page), ``"drop"`` (the connection is closed without an
                answer), ``"429"`` (nothing taken); or one of the provider's own
                (`Emulator.faults`): for The SMS Works ``"5001"`` (logged as rejected, never
                sent, not charged) and ``"5002"`` (nothing taken, "please try again"), as its
                guide documents them.
            stored: for ``"500"``, ``"502"``, ``"504"`` and ``"drop"``: whether the
                messages are stored (and will be sent) before the fault. The client cannot
                tell; that is the point. A provider's own faults store what its docs say.
            path: only requests whose path ends so (``"/batch/any"``, ``"/sms"``).
            times: how many requests meet it.

        Raises:
            ConfigurationError: an unknown provider or fault, or ``times`` below 1.
        """
        self.base_url(provider)  # an unknown provider is refused
        own = self.providers[provider].faults
        known = [*COMMON_FAULTS, *own]
        if fault not in known:
            raise ConfigurationError(f"fault: {provider} can meet one of {', '.join(known)}")
        if not is_whole(times, least=1):
            raise ConfigurationError("times: must be a whole number of at least 1")
        stored = own.get(fault, stored and fault in STORING)  # own faults: as the docs say
        self.faults.add(provider, fault, stored=stored, path=path, times=times)

    def credits(self, provider: str) -> float:
        """The credits left on ``provider``'s account."""
        return self.accounts[provider].credits

    def messages(self, provider: str) -> list[Sms]:
        """Every message ``provider``'s account has taken, oldest first, as of the last
        request or tick (every 50 ms)."""
        return list(self.accounts[provider].messages.values())

    def _on_final(self, sms: Sms) -> None:
        self.emulators[sms.provider].on_final(sms)

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
        self.url = _url(host, port)
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


def _url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


@web.middleware
async def _log_request(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    started = time.perf_counter()
    status = "500"  # what aiohttp answers for an exception that is no HTTP answer
    try:
        response = await handler(request)
        dropped = response.headers.get("X-Sandbox-Fault") == "drop"
        status = "dropped" if dropped else str(response.status)  # see _engine._misbehave
        return response
    except web.HTTPException as exc:
        status = str(exc.status)
        raise
    except asyncio.CancelledError:
        status = "cancelled"  # the client went away
        raise
    finally:
        took = (time.perf_counter() - started) * 1000
        _requests.info("%s %s %s %.0f ms", request.method, request.path, status, took)
