"""What became of a send, told truthfully: `Outcome`, `try_send`, `find` and `resolve`.

Every send ends in one of four `OutcomeStatus` values, decided by one rule
(`smsgate.errors.may_have_sent`) and by whether its request had left the process:

========  =========================================================  ====================
status    meaning                                                    send it again?
========  =========================================================  ====================
ACCEPTED  the provider took it (``receipt``)                         no
FAILED    the provider took nothing (``error`` says why)             once fixed, yes
UNCERTAIN the request left and no answer proves it was not taken     look it up first
UNSENT    it never left: the send was stopped before its request     yes
========  =========================================================  ====================

An uncertain send is resolved by asking the provider, never by guessing: where a provider
stores smsgate's idempotency key with each message (The SMS Works), ``gateway.find`` looks
the message up
and `resolve` turns uncertain outcomes into accepted ones when the provider holds them. Nothing
is ever sent again automatically.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from smsgate import events
from smsgate.checks import is_seconds, is_whole
from smsgate.errors import (
    GatewayError,
    KeyConflict,
    ProviderError,
    RecipientSuppressed,
    SmsGateError,
    TransportError,
    Unresolved,
    UnsupportedFeature,
    ValidationError,
    may_have_sent,
)
from smsgate.gateway import (
    FindingGateway,
    SmsGateway,
    announces_dispatch,
    can_find,
    on_dispatch,
)
from smsgate.model import Message, Outcome, OutcomeStatus, Receipt, StatusReport
from smsgate.status import DeliveryStatus

__all__ = [
    "Outcome",
    "OutcomeStatus",
    "can_find",
    "resolve",
    "status_after",
    "try_send",
]

logger = logging.getLogger("smsgate")


def status_after(error: BaseException, *, left: bool = True) -> OutcomeStatus:
    """The outcome of a send that raised ``error``: ``UNCERTAIN`` when the provider may have
    taken it (`smsgate.errors.may_have_sent`), else ``FAILED``. ``left=False`` (its request
    provably never left) is always ``FAILED``; a recipient who opted out
    (`smsgate.errors.RecipientSuppressed`) is ``SUPPRESSED``."""
    if type(error) is RecipientSuppressed:
        return OutcomeStatus.SUPPRESSED
    return OutcomeStatus.UNCERTAIN if left and may_have_sent(error) else OutcomeStatus.FAILED


def reason_of(error: BaseException | None) -> str:
    """Why a send failed, in a word: the error's `FailureReason`, else its class's name."""
    reason = getattr(error, "reason", None)
    return str(reason) if reason is not None else type(error).__name__


def as_gateway_error(error: BaseException, provider: str) -> SmsGateError:
    """``error`` if it is smsgate's, else a `GatewayError` that says what it was: an adapter's
    own bug, after which whether its request left is unknown."""
    if isinstance(error, SmsGateError):
        return error
    return GatewayError(f"unexpected error: {error!r}", provider=provider)


# --- one send --------------------------------------------------------------------------------


@attrs.define
class _Flight:
    """What a gateway has said of one send's request."""

    left: bool
    keyed: bool = False

    async def heard(self, left: bool, keyed: bool) -> None:
        self.left, self.keyed = left, keyed


async def try_send(
    gateway: SmsGateway,
    message: Message,
    *,
    at: datetime | None = None,
    within: float | None = None,
) -> Outcome:
    """Send (or, with ``at``, schedule) ``message`` and say what became of it, never raising
    for a failed send.

    With ``within``, the send is given that many seconds; when they run out, its request is
    cancelled and the outcome is ``UNCERTAIN`` if the request had left (the provider may
    have taken it) or ``UNSENT`` if it never did. (An outer ``asyncio.timeout`` or a
    ``task.cancel()`` cancels the task that awaits this, which must then end with
    ``CancelledError``, as asyncio requires: so the deadline is given here. A warning is
    logged when such a cancellation falls after the request left.)

    Raises:
        ValidationError: ``within`` is not a positive number.

    Example::

        outcome = await smsgate.try_send(gateway, message, within=10)
        if outcome.status is OutcomeStatus.UNCERTAIN:
            report = await gateway.find(outcome)  # did the provider take it?
    """
    if within is not None and (not is_seconds(within)):
        raise ValidationError("within", "must be a positive number of seconds, or None")
    outcome = await _try_send(gateway, message, at, within)
    if events.hooks:
        events.emit(events.Outcomes(gateway.name, (outcome,)))
    return outcome


async def _try_send(
    gateway: SmsGateway, message: Message, at: datetime | None, within: float | None
) -> Outcome:
    flight = _Flight(left=not announces_dispatch(gateway))
    reference = message.reference if isinstance(message, Message) else None
    try:
        with on_dispatch(flight.heard):
            async with asyncio.timeout(within) as deadline:
                if at is None:
                    receipt = await gateway.send(message)
                else:
                    receipt = await gateway.schedule(message, at)
    except TimeoutError as exc:
        if not deadline.expired():
            return _failed(gateway, message, reference, flight, exc)
        error = TransportError(
            f"no answer within {within:g} s (the send was stopped)",
            provider=gateway.name,
            maybe_sent=flight.left,
        )
        status = OutcomeStatus.UNCERTAIN if flight.left else OutcomeStatus.UNSENT
        return Outcome(0, status, reference, message, error=error, key=_key(message, flight))
    except asyncio.CancelledError:
        if flight.left:
            logger.warning(
                "%s: a send to %s was cancelled after its request left; it may have been sent",
                gateway.name,
                getattr(message, "to", "?"),
            )
        raise
    except Exception as exc:
        return _failed(gateway, message, reference, flight, exc)
    return Outcome(0, OutcomeStatus.ACCEPTED, reference, message, receipt, key=receipt.key)


def _failed(
    gateway: SmsGateway,
    message: Message,
    reference: str | None,
    flight: _Flight,
    exc: BaseException,
) -> Outcome:
    status = status_after(exc, left=flight.left)
    error = as_gateway_error(exc, gateway.name)
    return Outcome(0, status, reference, message, error=error, key=_key(message, flight))


def _key(message: Message, flight: _Flight) -> str | None:
    return message.key if flight.left and flight.keyed and isinstance(message, Message) else None


# --- looking sends up ------------------------------------------------------------------------


def lookup_key(ref: str | Outcome) -> tuple[str, Message | None]:
    """The idempotency key to look ``ref`` up by, and the message to check a match against.

    Raises:
        ValidationError: ``ref`` is an outcome whose request carried no key (it cannot be
            looked up: "not found" would mean nothing), or neither a key nor an outcome.
    """
    if isinstance(ref, Outcome):
        if ref.key is None:
            raise ValidationError(
                "ref",
                f"outcome {ref.index}'s request carried no idempotency key, so it cannot be "
                "looked up; check it with status() or in the provider's own records",
            )
        return ref.key, ref.message
    if isinstance(ref, str) and ref.strip():
        return ref, None
    raise ValidationError("ref", f"must be an idempotency key or an Outcome, not {ref!r}")


def the_match(
    provider: str, key: str, reports: Sequence[StatusReport], message: Message | None
) -> StatusReport | None:
    """The one message ``reports`` (a search by ``key``) found, or ``None``.

    Raises:
        KeyConflict: more than one message carries the key, or one to another recipient
            than ``message``'s.
    """
    if not reports:
        return None
    if len(reports) > 1:
        # A message the provider logged as rejected was never sent (The SMS Works' 5001):
        # sending it again under the same key is what a failed outcome invites.
        sent = [r for r in reports if r.status is not DeliveryStatus.REJECTED]
        if len(sent) != 1:
            raise KeyConflict(key, reports, provider=provider, problem=f"{len(reports)} messages")
        reports = sent
    [report] = reports
    if message is not None and report.to is not None and report.to != message.to:
        raise KeyConflict(
            key, reports, provider=provider, problem=f"a message to {report.to}, not {message.to},"
        )
    return report


def found(outcome: Outcome, report: StatusReport) -> Outcome:
    """``outcome`` as the provider's record says: accepted, with a receipt made from the
    record; or failed, when the provider logged it as rejected (never sent)."""
    if report.status is DeliveryStatus.REJECTED:
        error = ProviderError(
            f"logged as rejected ({report.detail or report.provider_status}); it was never sent",
            provider=report.provider,
            reason=report.reason,
            maybe_sent=False,
        )
        return attrs.evolve(outcome, status=OutcomeStatus.FAILED, error=error)
    message = outcome.message
    receipt = Receipt(
        provider=report.provider,
        message_id=report.message_id,
        to=report.to or (message.to if message else ""),
        status=report.status,
        batch_id=report.batch_id,
        reference=outcome.reference,
        metadata=message.metadata if message is not None else report.metadata,
        key=outcome.key,
        raw=report.raw,
    )
    return attrs.evolve(outcome, status=OutcomeStatus.ACCEPTED, receipt=receipt, error=None)


async def resolve(
    gateway: SmsGateway,
    outcomes: Iterable[Outcome],
    *,
    patience: float = 30.0,
    interval: float = 2.0,
    concurrency: int = 8,
) -> list[Outcome]:
    """Look every uncertain outcome up at the provider, by its idempotency key.

    Found: ``ACCEPTED``, with a receipt from the provider's record (whose ``status`` is the
    message's status now), or ``FAILED`` when the provider logged it as rejected (never
    sent). Not found: looked for again every ``interval`` seconds (a provider may log a
    message late) until ``patience`` seconds have passed, then left ``UNCERTAIN`` with an
    `Unresolved` error: decide yourself; nothing is sent again. An
    outcome whose request carried no key, or that two messages share (`KeyConflict`), stays
    uncertain. Other outcomes come back unchanged, in the order given.

    Raises:
        UnsupportedFeature: the gateway cannot look messages up.
        ValidationError: ``patience``, ``interval`` or ``concurrency`` is invalid.
    """
    if not can_find(gateway):
        raise UnsupportedFeature(
            gateway.name,
            "looking messages up by their idempotency key",
            "check uncertain messages in the provider's own records",
        )
    for name, value in (("patience", patience), ("interval", interval)):
        if not is_seconds(value, zero=True):
            raise ValidationError(name, "must be a number of seconds, 0 or more")
    if not is_whole(concurrency, least=1):
        raise ValidationError("concurrency", "must be a whole number of at least 1")
    given = list(outcomes)
    lookups = Lookups(gateway, patience=patience, interval=interval)
    started = time.monotonic()
    slots = asyncio.Semaphore(concurrency)

    async def one(outcome: Outcome) -> Outcome:
        async with slots:
            return await lookups.resolve(outcome, since=started)

    return list(await asyncio.gather(*(one(outcome) for outcome in given)))


class Lookups:
    """Looks uncertain outcomes up at a gateway, each within ``patience`` seconds."""

    def __init__(self, gateway: SmsGateway, *, patience: float, interval: float) -> None:
        self.gateway = gateway
        self.patience = patience
        self.interval = interval

    async def resolve(self, outcome: Outcome, *, since: float | None = None) -> Outcome:
        """``outcome`` resolved as `resolve` says; ``since`` (a ``time.monotonic()``) is when
        its patience began, by default now. Never raises but for cancellation."""
        if outcome.status is not OutcomeStatus.UNCERTAIN or outcome.key is None:
            return outcome
        gateway = self.gateway
        if not isinstance(gateway, FindingGateway):
            blind = UnsupportedFeature(gateway.name, "looking messages up by their idempotency key")
            return attrs.evolve(outcome, error=blind)
        started = time.monotonic() if since is None else since
        problem = "not found"
        while True:
            try:
                report = await gateway.find(outcome)
            except (KeyConflict, UnsupportedFeature) as exc:
                return attrs.evolve(outcome, error=exc)
            except Exception as exc:  # the lookup itself failed: try again within patience
                report, problem = None, f"could not look it up ({exc})"
            else:
                if report is not None:
                    return found(outcome, report)
                problem = "not found"
            waited = time.monotonic() - started
            if waited + self.interval > self.patience:
                error = Unresolved(
                    outcome.key, provider=self.gateway.name, waited=waited, problem=problem
                )
                return attrs.evolve(outcome, error=error)
            await asyncio.sleep(self.interval)
