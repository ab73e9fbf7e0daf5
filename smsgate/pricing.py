"""What sending costs before anything is sent: SMS parts by encoding, and credits by each
provider's price rule.

`estimate` counts a batch of messages the way a bill does: how many go as GSM-7 and how many
as UCS-2, the SMS parts each takes (`smsgate.segments`), and the credits they cost by the
provider's `Pricing`. It also finds the commonest surprise on an SMS bill: a message that
goes as UCS-2 because of a character or two (a curly quote, an emoji) and takes more parts
than it would without them.

>>> from smsgate import Message, estimate
>>> messages = [Message("+447700900123", "See you 👋"), Message("+33612345678", "Hi")]
>>> cost = estimate(messages, provider="smsworks")
>>> cost.messages, cost.parts, cost.credits
(2, 2, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from smsgate import registry
from smsgate.encoding import Encoding, Segments, segments
from smsgate.errors import ValidationError
from smsgate.model import Message

__all__ = ["FEW", "PRICING", "Estimate", "Pricing", "Tally", "Ucs2Switch", "estimate"]

FEW = 3
"""A message is "UCS-2 because of a few characters" when at most this many different
characters of its text are outside GSM 03.38."""


@attrs.frozen
class Pricing:
    """How a provider charges, in its own credits: so much a part, more abroad.

    Attributes:
        per_part: credits for each SMS part to a number at home.
        home: the start of the numbers at home, in E.164 (``"+44"``); ``None`` when the
            provider charges the same everywhere.
        home_name: what the provider calls home (``"UK"``).
        abroad: how many times as much a part costs to a number outside home.
    """

    per_part: float = 1
    home: str | None = None
    home_name: str = ""
    abroad: float = 1

    def is_abroad(self, to: str) -> bool:
        """Whether the number ``to`` (E.164) is charged at the price abroad."""
        return self.home is not None and not to.startswith(self.home)

    def credits(self, to: str, parts: int) -> float:
        """The credits ``parts`` SMS parts to the number ``to`` (E.164) cost.

        >>> PRICING["smsworks"].credits("+33612345678", 2)
        4
        """
        return parts * self.per_part * (self.abroad if self.is_abroad(to) else 1)


PRICING: Mapping[str, Pricing] = MappingProxyType(
    {
        # "We charge 1 credit for a standard message of up to 160 characters ... International
        # messages (sent to numbers outside the UK) are charged double" (developer guide,
        # Credit charges). The spec adds that some countries cost other fractions, "please
        # contact us": those are not known here.
        "smsworks": Pricing(home="+44", home_name="UK", abroad=2),
        # The API page gives no prices: a credit a part, wherever it goes.
        "smsscheduler": Pricing(),
    }
)
"""The price rule of each provider that comes with smsgate, by name; the sandbox charges by
it too. A plug-in's gateway class gives its own as a ``pricing`` attribute."""


@attrs.frozen
class Tally:
    """Messages, the SMS parts they take and the credits they cost (``None``: no price rule
    is known for the provider)."""

    messages: int = 0
    parts: int = 0
    credits: float | None = 0


@attrs.frozen
class Ucs2Switch:
    """A message that goes as UCS-2 because of a few characters, and takes more parts for it.

    Attributes:
        index: its position among the messages estimated, from 0.
        characters: the characters outside GSM 03.38 in its text, each once, in order.
        parts: the parts it takes as it is.
        gsm_parts: the parts it would take with each of those characters replaced by one of
            GSM 03.38 (a straight quote for a curly one, say).
    """

    index: int
    characters: str
    parts: int
    gsm_parts: int


@attrs.frozen
class Estimate:
    """What `estimate` found.

    Attributes:
        pricing: the provider's price rule; ``None`` when none is known (credits are then
            ``None`` throughout).
        messages: how many messages.
        parts: the SMS parts they take.
        credits: the credits they cost.
        by_encoding: messages, parts and credits as GSM-7 and as UCS-2 (both always there).
        abroad: the part of it to numbers outside the provider's home (all 0 when the
            provider charges the same everywhere).
        switched: the part of it that goes as UCS-2 because of a few characters (at most
            `FEW` different ones) and takes more parts for it.
        switched_gsm_parts: the parts those messages would take without those characters.
        switches: the first ``keep`` of those messages.
        switching: each character that made a message UCS-2 that way, and how many
            messages it did it to.
    """

    pricing: Pricing | None
    messages: int
    parts: int
    credits: float | None
    by_encoding: Mapping[Encoding, Tally]
    abroad: Tally
    switched: Tally
    switched_gsm_parts: int
    switches: tuple[Ucs2Switch, ...]
    switching: Mapping[str, int]


@attrs.define
class _Sum:
    messages: int = 0
    parts: int = 0
    credits: float = 0

    def add(self, parts: int, credits: float) -> None:
        self.messages += 1
        self.parts += parts
        self.credits += credits

    def tally(self, priced: bool) -> Tally:
        return Tally(self.messages, self.parts, self.credits if priced else None)


def pricing_of(provider: str | type[object]) -> Pricing | None:
    """The price rule of a provider, by its name or gateway class; ``None`` if it has none.

    Raises:
        ConfigurationError: no provider has that name.
        ValidationError: ``provider`` is neither a name nor a class.
    """
    if isinstance(provider, str):
        known = PRICING.get(provider)
        if known is not None:
            return known
        given = getattr(registry.provider_factory(provider), "pricing", None)
    elif isinstance(provider, type):
        given = getattr(provider, "pricing", None)
        if given is None:
            given = PRICING.get(getattr(provider, "name", None) or "")
    else:
        raise ValidationError(
            "provider", f"must be a provider's name or gateway class, not {provider!r}"
        )
    return given if isinstance(given, Pricing) else None


@functools.lru_cache(maxsize=4096)
def _outside_gsm(char: str) -> bool:
    return segments(char).encoding is Encoding.UCS2


@functools.lru_cache(maxsize=1024)
def _measure(text: str) -> tuple[Segments, str, int]:
    """The segments of ``text``; for a UCS-2 text with at most `FEW` different characters
    outside GSM 03.38, those characters and the parts it would take without them."""
    counted = segments(text)
    if counted.encoding is Encoding.GSM7:
        return counted, "", counted.parts
    odd = "".join(c for c in dict.fromkeys(text) if _outside_gsm(c))
    if len(odd) > FEW:
        return counted, "", counted.parts
    plain = text.translate(dict.fromkeys(map(ord, odd), "?"))
    return counted, odd, segments(plain).parts


def estimate(
    messages: Iterable[Message], *, provider: str | type[object], keep: int = 20
) -> Estimate:
    """Count what sending ``messages`` through ``provider`` takes, without sending anything:
    messages, SMS parts by encoding, and credits by the provider's price rule.

    Messages are read once, lazily: an estimate of millions holds no more than ``keep``
    of them.

    Args:
        messages: the messages, as they would be sent.
        provider: the provider's name (``"smsworks"``) or gateway class; its price rule is
            `PRICING`'s, or the class's ``pricing`` attribute.
        keep: how many of the messages made UCS-2 by a few characters are kept in
            `Estimate.switches` (all are counted).

    Returns:
        The counts; credits are ``None`` when the provider has no known price rule.

    Raises:
        ConfigurationError: no provider has that name.
        ValidationError: an item is not a `Message`, or ``provider`` is neither a name nor
            a class.
    """
    pricing = pricing_of(provider)
    total, abroad, switched = _Sum(), _Sum(), _Sum()
    encodings = {Encoding.GSM7: _Sum(), Encoding.UCS2: _Sum()}
    switched_gsm_parts = 0
    switches: list[Ucs2Switch] = []
    switching: dict[str, int] = {}
    for index, message in enumerate(messages):
        if not isinstance(message, Message):
            raise ValidationError(
                "messages", f"item {index} is a {type(message).__name__}, not a Message"
            )
        counted, odd, gsm_parts = _measure(message.text)
        parts = counted.parts
        credits = 0 if pricing is None else pricing.credits(message.to, parts)
        total.add(parts, credits)
        encodings[counted.encoding].add(parts, credits)
        if pricing is not None and pricing.is_abroad(message.to):
            abroad.add(parts, credits)
        if odd and gsm_parts < parts:
            switched.add(parts, credits)
            switched_gsm_parts += gsm_parts
            if len(switches) < keep:
                switches.append(Ucs2Switch(index, odd, parts, gsm_parts))
            for char in odd:
                switching[char] = switching.get(char, 0) + 1
    priced = pricing is not None
    return Estimate(
        pricing=pricing,
        messages=total.messages,
        parts=total.parts,
        credits=total.credits if priced else None,
        by_encoding=MappingProxyType({e: s.tally(priced) for e, s in encodings.items()}),
        abroad=abroad.tally(priced),
        switched=switched.tally(priced),
        switched_gsm_parts=switched_gsm_parts,
        switches=tuple(switches),
        switching=MappingProxyType(switching),
    )
