"""One gateway over several providers: failover, round-robin, or routing by country.

`RoutingGateway` tries its providers in an order its strategy chooses, and moves to the next
only when the failure proves nothing was sent (`smsgate.errors.may_have_sent`): a timeout, a
reset or a 5xx after the request left is raised at once, naming the provider that may have
the message, so nobody is texted twice. A provider that keeps failing (no connection, 5xx, 429, a
refused account) is skipped for a cool-down: its circuit opens after ``failures`` failures in
a row, and closes again only when a single trial after the cool-down succeeds.

``status`` and ``cancel`` always go to the provider that accepted the message (the receipt
says which). It is registered as provider ``routing``::

    [smsgate]
    provider = "routing"
    strategy = "failover"

    [[smsgate.providers]]
    provider = "smsworks"
    token = "JWT ..."

    [[smsgate.providers]]
    provider = "smsscheduler"
    token = "..."
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs
import phonenumbers

from smsgate import events
from smsgate.checks import is_seconds, is_whole
from smsgate.config import from_config
from smsgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InsufficientCredit,
    NotFound,
    PermissionDenied,
    ProviderUnavailable,
    RateLimited,
    RecipientSuppressed,
    SmsGateError,
    TransportError,
    UnsupportedFeature,
    ValidationError,
    may_have_sent,
)
from smsgate.gateway import (
    BaseGateway,
    FindingGateway,
    SmsGateway,
    announces_dispatch,
    can_find,
)
from smsgate.model import Message, MessageRef, Receipt, StatusReport, check_region
from smsgate.outcomes import Outcome, lookup_key
from smsgate.registry import register_provider

__all__ = ["RoutingGateway", "Strategy"]

logger = logging.getLogger("smsgate.routing")

Strategy = Literal["failover", "round_robin", "by_country"]
_STRATEGIES = ("failover", "round_robin", "by_country")

# Failures that say the provider is in trouble, not that the message is wrong.
_TROUBLE = (
    TransportError,
    ProviderUnavailable,
    RateLimited,
    AuthenticationError,
    PermissionDenied,
    InsufficientCredit,
)


@attrs.define
class Circuit:
    """One provider's health: closed (in use), open (skipped), or probing after a cool-down."""

    threshold: int
    cooldown: float
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """Whether to try the provider now; after a cool-down, lets one trial through."""
        if self.failures < self.threshold:
            return True
        if now < self.open_until or self.probing:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        self.failures, self.probing = 0, False

    def failed(self, now: float) -> None:
        self.failures += 1
        self.probing = False
        if self.failures >= self.threshold:
            self.open_until = now + self.cooldown

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold


class RoutingGateway(BaseGateway):
    """An `SmsGateway` that spreads messages over several providers.

    Args:
        providers: gateways, or configurations of them (mappings with ``provider``), in order
            of preference. Their names must differ.
        strategy: ``"failover"`` (always in order), ``"round_robin"`` (each message starts at
            the next provider), or ``"by_country"`` (``routes`` first, then in order).
        routes: for ``by_country``: region codes to provider names, e.g. ``{"FR":
            "smsscheduler"}``.
        failures: failures in a row that open a provider's circuit.
        cooldown: seconds an open circuit stays open before a trial.
        default_region: the country national numbers are read in, for `message`.

    Raises:
        ConfigurationError: no providers, names that repeat, an unknown strategy or route.
    """

    name = "routing"

    def __init__(
        self,
        *,
        providers: Sequence[SmsGateway | Mapping[str, Any]],
        strategy: Strategy = "failover",
        routes: Mapping[str, str] | None = None,
        failures: int = 3,
        cooldown: float = 30.0,
        default_region: str | None = None,
    ) -> None:
        super().__init__(default_region=default_region)
        if not isinstance(providers, Sequence) or isinstance(providers, str) or not providers:
            raise ConfigurationError("providers: give at least one gateway or configuration")
        self.gateways: list[SmsGateway] = [
            p if isinstance(p, SmsGateway) else from_config(p) for p in providers
        ]
        names = [g.name for g in self.gateways]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"providers: names must differ, got {', '.join(names)}")
        if strategy not in _STRATEGIES:
            raise ConfigurationError(f"strategy: must be one of {', '.join(_STRATEGIES)}")
        try:
            self.routes = {check_region(r, field="routes"): n for r, n in (routes or {}).items()}
        except ValidationError as exc:
            raise ConfigurationError(f"routes: regions {exc.rule}") from None
        if not set(self.routes.values()) <= set(names):
            raise ConfigurationError(
                f"routes: each region must name one of the providers ({', '.join(names)})"
            )
        if not is_whole(failures, least=1):
            raise ConfigurationError("failures: must be a whole number of at least 1")
        if not is_seconds(cooldown, zero=True):
            raise ConfigurationError("cooldown: must be a number of seconds, 0 or more")
        self.strategy = strategy
        self.announces_dispatch = all(announces_dispatch(g) for g in self.gateways)
        self._by_name = dict(zip(names, self.gateways, strict=True))
        self.circuits = {name: Circuit(failures, cooldown) for name in names}
        self._turn = itertools.count()
        self._clock: Callable[[], float] = time.monotonic

    # -- choosing ---------------------------------------------------------------------------

    def _order(self, message: Message) -> list[SmsGateway]:
        gateways = self.gateways
        if self.strategy == "round_robin":
            start = next(self._turn) % len(gateways)
            gateways = gateways[start:] + gateways[:start]
        elif self.strategy == "by_country":
            region = phonenumbers.region_code_for_number(phonenumbers.parse(message.to)) or ""
            first = self._by_name.get(self.routes.get(region, ""))
            if first is not None:
                gateways = [first, *(g for g in gateways if g is not first)]
        return gateways

    async def _route(self, message: Message, at: datetime | None) -> Receipt:
        self._ensure_open()
        self._check_message(message)
        order = self._order(message)
        last: SmsGateError | None = None
        tried = False
        for gateway in order:
            if not self.circuits[gateway.name].allow(self._clock()):
                continue
            tried = True
            receipt, last = await self._try(gateway, message, at, last)
            if receipt is not None:
                return receipt
        if not tried:  # every circuit is open: better to try than to refuse outright
            for gateway in order:
                receipt, last = await self._try(gateway, message, at, last)
                if receipt is not None:
                    return receipt
        assert last is not None
        raise last

    async def _try(
        self,
        gateway: SmsGateway,
        message: Message,
        at: datetime | None,
        last: SmsGateError | None,
    ) -> tuple[Receipt | None, SmsGateError | None]:
        """One provider's try: its receipt, or the error to remember and move on from."""
        circuit = self.circuits[gateway.name]
        try:
            if at is None:
                receipt = await gateway.send(message)
            else:
                receipt = await gateway.schedule(message, at)
        except RecipientSuppressed:
            raise  # the recipient opted out: no provider may text them
        except SmsGateError as exc:
            if isinstance(exc, _TROUBLE):
                was_open = circuit.is_open
                circuit.failed(self._clock())
                if circuit.is_open:
                    logger.warning(
                        "%s's circuit is open for %g s, after %d failures in a row%s",
                        gateway.name,
                        circuit.cooldown,
                        circuit.failures,
                        " (its trial failed)" if was_open else "",
                    )
                    if events.hooks:
                        events.emit(
                            events.CircuitChange(
                                gateway.name, True, circuit.failures, circuit.cooldown
                            )
                        )
            else:
                circuit.probing = False
            if may_have_sent(exc):
                raise  # it may have gone (exc.provider says where): elsewhere, it could go twice
            logger.warning("%s did not take the message, so it fails over: %s", gateway.name, exc)
            if events.hooks:
                events.emit(events.Failover(gateway.name, exc))
            return None, exc
        if circuit.is_open:
            logger.warning("%s's circuit is closed again: it took a message", gateway.name)
            if events.hooks:
                events.emit(events.CircuitChange(gateway.name, False, 0, circuit.cooldown))
        circuit.succeeded()
        return receipt, last

    # -- the protocol -----------------------------------------------------------------------

    async def send(self, message: Message) -> Receipt:
        """Send through the first provider that takes it; move on only if nothing was sent."""
        return await self._route(message, None)

    async def schedule(self, message: Message, at: datetime) -> Receipt:
        """Schedule through the first provider that takes it, as `send` does."""
        return await self._route(message, at)

    def _owner(self, ref: MessageRef) -> list[SmsGateway]:
        if isinstance(ref, Receipt):
            owner = self._by_name.get(ref.provider)
            if owner is None:
                raise ValidationError(
                    "ref", f"this receipt is from {ref.provider!r}, not one of this gateway's"
                )
            return [owner]
        return self.gateways

    async def status(self, ref: MessageRef) -> StatusReport:
        """Ask the provider that accepted the message (for a bare id: each, in order)."""
        return await self._ask(ref, "status")

    async def cancel(self, ref: MessageRef) -> StatusReport:
        """Cancel through the provider that accepted the message."""
        return await self._ask(ref, "cancel")

    async def _ask(self, ref: MessageRef, what: Literal["status", "cancel"]) -> StatusReport:
        self._ensure_open()
        last: SmsGateError | None = None
        for gateway in self._owner(ref):
            try:
                return await (gateway.status(ref) if what == "status" else gateway.cancel(ref))
            except NotFound as exc:
                last = exc
        assert last is not None
        raise last

    @property
    def can_find(self) -> bool:
        """Whether any provider can look messages up by their idempotency key."""
        return any(can_find(gateway) for gateway in self.gateways)

    async def find(self, ref: str | Outcome) -> StatusReport | None:
        """Look a message up by its idempotency key, at the provider that may have it.

        An uncertain outcome names that provider (its error's ``provider``); a bare key is
        looked for at each provider in turn.

        Raises:
            UnsupportedFeature: the provider that may have it cannot look messages up (for
                a bare key: none found it, and one of them cannot look).
            KeyConflict: as the provider's own ``find``.
        """
        self._ensure_open()
        lookup_key(ref)  # refuse what cannot be looked up before asking anyone
        error = ref.error if isinstance(ref, Outcome) else None
        owner = self._by_name.get(getattr(error, "provider", ""))
        if owner is not None:
            return await _find(owner, ref)
        blind: UnsupportedFeature | None = None
        for gateway in self.gateways:
            try:
                report = await _find(gateway, ref)
            except UnsupportedFeature as exc:
                blind = exc
                continue
            if report is not None:
                return report
        if blind is not None:
            raise blind  # not found where we could look; it may be where we cannot
        return None

    async def aclose(self) -> None:
        """Close every provider's gateway."""
        await super().aclose()
        for gateway in self.gateways:
            await gateway.aclose()


async def _find(gateway: SmsGateway, ref: str | Outcome) -> StatusReport | None:
    if not (isinstance(gateway, FindingGateway) and gateway.can_find):
        raise UnsupportedFeature(gateway.name, "looking messages up by their idempotency key")
    return await gateway.find(ref)


register_provider("routing", RoutingGateway)
