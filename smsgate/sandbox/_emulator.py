"""What an emulated provider gives the sandbox, and the registry of them.

An `Emulator` describes one provider: its name, where its API lives under the sandbox's
address, the account it starts with, which of its outcomes are refusals, the faults its docs
describe, and ``build``, which makes a `RunningEmulator` from the `Context` the sandbox shares
with it (engine, account, clock, settings). The running emulator serves the provider's routes,
tells the configuration that points a gateway at it, and hears when one of its messages
reaches its final status (refunds, delivery reports).

Emulators come from three places, as providers do (`smsgate.registry`):

- the built-in ones, The SMS Works and SMS Scheduler, which register themselves;
- `register_emulator`, which an application or a test calls (`unregister_emulator` undoes it);
- installed plug-ins, under the entry-point group ``smsgate.emulators``, each naming an
  `Emulator` whose ``name`` is the entry point's::

    [project.entry-points."smsgate.emulators"]
    acme = "acme_sms.sandbox:EMULATOR"

A `Sandbox` serves every emulator registered when it is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

import attrs
from aiohttp import web

from smsgate.checks import is_whole
from smsgate.errors import ConfigurationError
from smsgate.sandbox._engine import (
    COMMON_FAULTS,
    Account,
    Engine,
    FaultAnswer,
    Faults,
    Handler,
    Reporter,
    Sms,
    sending,
)

__all__ = [
    "EMULATORS_GROUP",
    "Context",
    "Emulator",
    "LoginsEmulator",
    "RunningEmulator",
    "register_emulator",
    "registered_emulators",
    "unregister_emulator",
]

EMULATORS_GROUP = "smsgate.emulators"
"""The entry-point group under which installed packages name their `Emulator` objects."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_registered: dict[str, Emulator] = {}
_discovered = False


@attrs.frozen(kw_only=True)
class Context:
    """What the sandbox shares with one emulator it builds.

    Attributes:
        name: the emulator's name; its messages carry it as `Sms.provider`.
        engine: moves messages along their timelines: ``engine.add(sms, now)`` starts one
            (``engine.fails()`` and ``engine.random`` draw its outcome first),
            ``engine.cancel(sms, account, now)`` cancels a scheduled one.
        account: the emulator's account: ``credits``, ``messages`` by id, ``batches`` by id,
            and ``next_id()``, counting up from `Emulator.first_id`.
        reporter: ``reporter.post(url, payload)`` posts a delivery report in the background
            (to loopback addresses only).
        now: the current time, aware.
        webhook_url: where delivery reports go unless a message says otherwise (the
            sandbox's ``webhook_url``, read when a report is due).
        timezone: the sandbox's ``timezone``, an IANA name (the emulator checks it if it
            uses it).
        faults, latency: the sandbox's injected faults and ``latency``, which `sending`
            applies.
    """

    name: str
    engine: Engine
    account: Account
    reporter: Reporter
    now: Callable[[], datetime]
    webhook_url: Callable[[], str | None]
    timezone: str
    faults: Faults
    latency: Callable[[], float]

    def sending(self, handler: Handler, *, answer: FaultAnswer | None = None) -> Handler:
        """Wrap the handler of a request that sends messages: it meets the faults
        `Sandbox.inject` sets for this emulator, and its answer waits for the sandbox's
        ``latency`` once its messages are stored.

        Args:
            handler: the aiohttp handler that stores the messages and answers.
            answer: answers the emulator's own faults (`Emulator.faults`): given the fault
                and the messages the request stored before it, the response to send.
        """
        return sending(
            handler,
            provider=self.name,
            account=self.account,
            faults=self.faults,
            latency=self.latency,
            answer=answer,
        )


class RunningEmulator(Protocol):
    """One provider's API, served by a running sandbox: what `Emulator.build` makes."""

    def routes(self) -> Iterable[web.RouteDef]:
        """Its routes, with paths under its `Emulator.prefix` (``web.post("/sms", ...)``
        serves ``<prefix>/sms``)."""
        ...

    def config(self, base_url: str) -> dict[str, Any]:
        """The mapping `smsgate.from_config` takes to send to it at ``base_url`` (the
        sandbox's address followed by its prefix)."""
        ...

    def on_final(self, sms: Sms) -> None:
        """Called when one of its messages reaches its final status, to refund it or to post
        a delivery report, as the provider does."""
        ...


@runtime_checkable
class LoginsEmulator(Protocol):
    """A running emulator that takes more than one kind of credentials (a token, or a key
    and secret that buy one): `Sandbox.logins` and ``smsgate sandbox`` show each."""

    def logins(self, base_url: str) -> Mapping[str, Mapping[str, Any]]:
        """A configuration for `smsgate.from_config` per way to log in, by a short name
        (``{"key and secret": {...}}``); `RunningEmulator.config` is the usual one."""
        ...


def _copy(faults: Mapping[str, bool]) -> dict[str, bool]:
    return dict(faults)


@attrs.frozen(kw_only=True, eq=False)
class Emulator:
    """One provider that the sandbox can emulate.

    >>> from aiohttp import web
    >>> class Acme:
    ...     def __init__(self, context: Context) -> None:
    ...         self.context = context
    ...     def routes(self) -> list[web.RouteDef]:
    ...         return [web.get("/ping", self.ping)]
    ...     async def ping(self, request: web.Request) -> web.Response:
    ...         return web.json_response({"pong": True})
    ...     def config(self, base_url: str) -> dict[str, object]:
    ...         return {"provider": "acme", "base_url": base_url, "token": "sandbox-token"}
    ...     def on_final(self, sms: Sms) -> None:
    ...         pass
    >>> ACME = Emulator(name="acme", title="Acme SMS", prefix="/acme/v1", first_id=1, build=Acme)

    Attributes:
        name: the provider's name, as `smsgate.connect` knows it.
        title: its name for people, such as ``"The SMS Works"``.
        prefix: where its API lives under the sandbox's address, such as ``"/acme/v1"``.
        first_id: the first id its account gives out.
        build: makes the running emulator from what the sandbox shares with it (usually the
            emulator's class); raises `ConfigurationError` for a sandbox setting it cannot
            take.
        refusals: the final outcomes (`Sms.outcome`) its platform decides before sending: a
            message that ends so goes from queued to final, never through "sent".
        faults: the faults its docs describe, beyond `COMMON_FAULTS`, each with whether the
            request's messages are stored before the fault answers; `Sandbox.inject` takes
            them and the emulator answers them (`Context.sending`).

    Raises:
        ConfigurationError: a name, prefix, first id or fault that cannot be.
    """

    name: str
    title: str
    prefix: str
    first_id: int
    build: Callable[[Context], RunningEmulator]
    refusals: frozenset[Any] = frozenset()
    faults: Mapping[str, bool] = attrs.field(factory=dict, converter=_copy)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ConfigurationError(
                "emulator name: must be letters, digits, _ or - (starting with a letter), "
                "such as 'acme'"
            )
        if not isinstance(self.prefix, str) or not _PREFIX.fullmatch(self.prefix):
            raise ConfigurationError(
                f"emulator {self.name!r}: prefix must be a path such as '/acme/v1' "
                "(a / first, none last)"
            )
        if not is_whole(self.first_id, least=1):
            raise ConfigurationError(f"emulator {self.name!r}: first_id must be 1 or more")
        if not callable(self.build):
            raise ConfigurationError(f"emulator {self.name!r}: build must be callable")
        common = sorted(self.faults.keys() & set(COMMON_FAULTS))
        if common:
            raise ConfigurationError(
                f"emulator {self.name!r}: every emulator meets {', '.join(common)} already"
            )


def register_emulator(emulator: Emulator) -> None:
    """Make the sandbox emulate ``emulator``: `Sandbox` objects made from now on serve it,
    and `PROVIDERS` lists it.

    Args:
        emulator: the provider's description.

    Raises:
        ConfigurationError: ``emulator`` is not an `Emulator`, or another one has its name
            already (registering the same one again does nothing).
    """
    if not isinstance(emulator, Emulator):
        raise ConfigurationError("emulator: must be an smsgate.sandbox.Emulator")
    held = _registered.get(emulator.name)
    if held is not None and held is not emulator:
        raise ConfigurationError(f"emulator {emulator.name!r} is registered already")
    _registered[emulator.name] = emulator


def unregister_emulator(name: str) -> None:
    """Stop emulating ``name`` in the `Sandbox` objects made from now on (say, at the end of
    a test that registered it). An installed plug-in's emulator stays away until the
    process ends.

    Raises:
        ConfigurationError: no emulator has that name.
    """
    registered_emulators()
    if _registered.pop(name, None) is None:
        raise ConfigurationError(f"emulator: unknown; the sandbox emulates {_names()}")


def registered_emulators() -> tuple[Emulator, ...]:
    """Every emulator registered: the built-in ones first, then the others in the order they
    were registered. Installed plug-ins are read the first time this is asked.

    Raises:
        ConfigurationError: an installed plug-in fails to load or is not an `Emulator`
            under its entry point's name, or its name is taken.
    """
    global _discovered
    if not _discovered:
        for point in entry_points(group=EMULATORS_GROUP):
            try:
                emulator = point.load()
            except Exception as exc:
                raise ConfigurationError(
                    f"emulator {point.name!r} is installed ({point.value}) but failed to load: "
                    f"{exc!r}"
                ) from exc
            if not isinstance(emulator, Emulator) or emulator.name != point.name:
                raise ConfigurationError(
                    f"emulator {point.name!r} ({point.value}): must be an "
                    f"smsgate.sandbox.Emulator named {point.name!r}"
                )
            if _registered.get(point.name, emulator) is not emulator:
                raise ConfigurationError(
                    f"emulator {point.name!r} is installed ({point.value}) but another one has "
                    "that name already"
                )
            register_emulator(emulator)
        _discovered = True
    return tuple(_registered.values())


def _names() -> str:
    return ", ".join(_registered)
