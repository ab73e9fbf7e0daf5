"""How many SMS parts a text needs: GSM 03.38 or UCS-2, and the count in each.

A text made only of GSM 03.38 characters travels in 7-bit septets: 160 in one SMS, 153 in each
part of a longer one (7 go to the concatenation header). Characters of the extension table
(``€ [ ] { } ^ ~ \\ |`` and form feed) take two septets, an escape and the character, and the
pair is never split across parts. Any other character switches the whole text to UCS-2: 70 code
units in one SMS, 67 in each part, where characters beyond the Basic Multilingual Plane (most
emoji) take two units that are never split either.
"""

from __future__ import annotations

from enum import StrEnum, unique

import attrs

__all__ = ["Encoding", "Segments", "segments"]

# GSM 03.38 basic character set (the escape 0x1B is not a character of its own).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# GSM 03.38 extension table: each costs an escape septet plus its own.
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


@unique
class Encoding(StrEnum):
    """The alphabet an SMS is sent in."""

    GSM7 = "GSM-7"
    """GSM 03.38, seven bits a character."""

    UCS2 = "UCS-2"
    """UTF-16 code units, for any text with a character outside GSM 03.38."""


_SINGLE = {Encoding.GSM7: 160, Encoding.UCS2: 70}
_PART = {Encoding.GSM7: 153, Encoding.UCS2: 67}


@attrs.frozen
class Segments:
    """What `segments` found out about a text.

    Attributes:
        encoding: the alphabet the text needs.
        characters: its length in that alphabet: septets for GSM-7 (extension characters count
            two), UTF-16 code units for UCS-2 (characters beyond the BMP count two).
        parts: how many SMS it is sent as (1 if it fits in a single SMS).
    """

    encoding: Encoding
    characters: int
    parts: int


def segments(text: str) -> Segments:
    """Count the encoding, length and SMS parts of ``text``.

    >>> segments("Hello")
    Segments(encoding=<Encoding.GSM7: 'GSM-7'>, characters=5, parts=1)
    >>> segments("Price: 5€").characters
    10
    >>> segments("Hi 👋").encoding
    <Encoding.UCS2: 'UCS-2'>
    """
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        encoding = Encoding.GSM7
        widths = [2 if c in _GSM_EXTENSION else 1 for c in text]
    else:
        encoding = Encoding.UCS2
        widths = [2 if ord(c) > 0xFFFF else 1 for c in text]
    characters = sum(widths)
    if characters <= _SINGLE[encoding]:
        return Segments(encoding, characters, 1)
    return Segments(encoding, characters, _pack(widths, _PART[encoding]))


def _pack(widths: list[int], room: int) -> int:
    """Fill parts of ``room`` units in order, never splitting a two-unit character."""
    parts, used = 1, 0
    for width in widths:
        if used + width > room:
            parts, used = parts + 1, 0
        used += width
    return parts
