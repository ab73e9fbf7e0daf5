"""Opt-out keywords: which replies mean "stop texting me" and which "start again", and
applying a reply to a suppression list.

The rule, exactly: a reply is a keyword when its whole text, after

1. NFKC normalisation (full-width letters, U+FF21 and on, are read as A to Z; a no-break
   space is a space),
2. trimming, from both ends, white space, punctuation (Unicode categories ``P*``: ``.!?,'"``
   and the like) and invisible format characters (category ``Cf``: a zero-width space, a
   byte-order mark), and
3. case-folding,

equals a keyword normalised the same way. Nothing inside the text is removed: ``STOP``,
``stop!``, `` Stop. `` and ``"QUIT"`` are keywords; ``Stop it please``, ``S.T.O.P``,
``STOP ALL`` (with its space) and ``STOP 🛑`` (an emoji is no punctuation) are not, and
neither is an empty text.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable
from typing import Literal, TypeAlias

from smsgate.errors import ValidationError
from smsgate.model import InboundMessage
from smsgate.suppression._base import SuppressionList

__all__ = [
    "START_KEYWORDS",
    "STOP_KEYWORDS",
    "OptOutChange",
    "apply_inbound",
    "opt_out_change",
]

logger = logging.getLogger("smsgate.suppression")

STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
"""Replies that take the sender off every message list (the keywords carriers in the US
and the UK's and EU's practice expect)."""

START_KEYWORDS = frozenset({"START", "UNSTOP"})
"""Replies that put a sender who had opted out back on."""

OptOutChange: TypeAlias = Literal["stop", "start"]
"""What a reply asks for: ``"stop"`` (opt out) or ``"start"`` (opt back in)."""


def _is_trimmed(character: str) -> bool:
    if character.isspace():
        return True
    category = unicodedata.category(character)
    return category[0] == "P" or category == "Cf"


def _normalized(text: str) -> str:
    """``text`` as it is compared: NFKC, trimmed, case-folded (see the module's rule)."""
    text = unicodedata.normalize("NFKC", text)
    start, end = 0, len(text)
    while start < end and _is_trimmed(text[start]):
        start += 1
    while end > start and _is_trimmed(text[end - 1]):
        end -= 1
    return text[start:end].casefold()


def _table(stop: Iterable[str], start: Iterable[str]) -> dict[str, tuple[OptOutChange, str]]:
    """Each keyword, normalised, with what it asks for and the keyword as configured.

    Raises:
        ValidationError: a keyword is not a string or is only punctuation and white space,
            or a keyword is in both ``stop`` and ``start``.
    """
    table: dict[str, tuple[OptOutChange, str]] = {}
    changes: tuple[tuple[OptOutChange, Iterable[str]], ...] = (("stop", stop), ("start", start))
    for change, keywords in changes:
        if isinstance(keywords, str):
            raise ValidationError(change, "must be an iterable of keywords, not one string")
        for keyword in keywords:
            if not isinstance(keyword, str) or not _normalized(keyword):
                raise ValidationError(
                    change, f"{keyword!r} is no keyword: a keyword needs a letter or a digit"
                )
            key = _normalized(keyword)
            other = table.get(key)
            if other is not None and other[0] != change:
                raise ValidationError(
                    change, f"{keyword!r} is a stop keyword and a start keyword; choose one"
                )
            table.setdefault(key, (change, keyword))
    return table


def _match(text: str, stop: Iterable[str], start: Iterable[str]) -> tuple[OptOutChange, str] | None:
    if not isinstance(text, str):
        raise ValidationError("text", f"must be a string, not {type(text).__name__}")
    table = _table(stop, start)
    return table.get(_normalized(text))


def opt_out_change(
    text: str,
    *,
    stop: Iterable[str] = STOP_KEYWORDS,
    start: Iterable[str] = START_KEYWORDS,
) -> OptOutChange | None:
    """What an incoming text asks for: ``"stop"``, ``"start"``, or ``None`` when it is no
    keyword.

    The whole text must be one keyword, give or take white space, punctuation and case at its
    ends (the rule is in `smsgate.suppression`'s docstring).

    Args:
        text: the incoming message's text.
        stop: the keywords that opt out (default `STOP_KEYWORDS`).
        start: the keywords that opt back in (default `START_KEYWORDS`).

    Raises:
        ValidationError: ``text`` is not a string, a keyword has no letter or digit, or a
            keyword is in both ``stop`` and ``start``.

    >>> opt_out_change(" Stop! "), opt_out_change("unstop"), opt_out_change("Stop it please")
    ('stop', 'start', None)
    >>> opt_out_change("\\uff33\\uff34\\uff2f\\uff30")  # full-width STOP
    'stop'
    >>> opt_out_change("ARRÊT", stop={"ARRET", "ARRÊT"})
    'stop'
    """
    found = _match(text, stop, start)
    return None if found is None else found[0]


async def apply_inbound(
    suppression: SuppressionList,
    message: InboundMessage,
    *,
    stop: Iterable[str] = STOP_KEYWORDS,
    start: Iterable[str] = START_KEYWORDS,
) -> OptOutChange | None:
    """Apply an incoming text to ``suppression``: a stop keyword adds its sender (source
    ``"inbound"``, the reason the keyword as configured, such as ``"STOP"``), a start keyword
    removes it. Any other text changes nothing.

    A sender that is not a phone number (a short code, a network's name) cannot be texted
    and so is not listed: that is logged on ``smsgate.suppression`` and nothing changes.

    Args:
        suppression: the list to change.
        message: the incoming message.
        stop: the keywords that opt out (default `STOP_KEYWORDS`).
        start: the keywords that opt back in (default `START_KEYWORDS`).

    Returns:
        What the text asked for (``"stop"`` or ``"start"``) once it is applied, or ``None``
        when nothing changed.

    Raises:
        ValidationError: as `opt_out_change` says.
        SuppressionError: the list cannot be written.

    Example::

        async def on_inbound(message: InboundMessage) -> None:
            await apply_inbound(suppression, message)
    """
    found = _match(message.text, stop, start)
    if found is None:
        return None
    change, keyword = found
    try:
        if change == "stop":
            await suppression.add(message.sender, reason=keyword, source="inbound")
        else:
            await suppression.remove(message.sender)
    except ValidationError as exc:
        logger.warning(
            "%s from %r (%s message %s) not applied: %s",
            keyword,
            message.sender,
            message.provider,
            message.message_id,
            exc.problem,
        )
        return None
    return change
