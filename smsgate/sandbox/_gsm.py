"""How many SMS parts a text takes, written from GSM 03.38 and 3GPP TS 23.040 for the
emulators, independently of the library's own counting (`smsgate.encoding`): an emulator
that shared the client's code could not catch a mistake in it. A test holds the two
against each other.

A text of GSM 03.38 characters is sent in 7-bit units: 160 in one SMS, 153 in each part of a
longer one (the rest of each part carries the header that joins them); a character of the
extension table (``€``, ``[``, ``{`` ...) takes two units. Any other character makes the
whole text UCS-2: 70 UTF-16 units in one SMS, 67 in each part of a longer one (a character
beyond the Basic Multilingual Plane, such as an emoji, takes two units).

The count is the providers' published charging rule, units divided by the units of a part,
rounded up; a phone never splits an escape pair or a surrogate pair across parts, so the
parts actually sent can be one more in a rare text (what `smsgate.encoding` counts).

>>> sms_parts("Hello"), sms_parts("x" * 161), sms_parts("中" * 71)
(1, 2, 2)
"""

from __future__ import annotations

import math

__all__ = ["gsm_units", "sms_parts"]

_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_EXTENSION = frozenset("\f^{}\\[~]|€")


def gsm_units(text: str) -> int | None:
    """The 7-bit units ``text`` takes in the GSM alphabet, or ``None`` when a character of it
    is not in GSM 03.38."""
    units = 0
    for char in text:
        if char in _BASIC:
            units += 1
        elif char in _EXTENSION:
            units += 2
        else:
            return None
    return units


def sms_parts(text: str) -> int:
    """The SMS parts ``text`` is charged as (at least 1)."""
    units = gsm_units(text)
    single, each = 160, 153
    if units is None:
        units = len(text.encode("utf-16-le")) // 2
        single, each = 70, 67
    return 1 if units <= single else math.ceil(units / each)
