"""Phone numbers: read as people write them, kept in E.164 (``+447700900123``).

`normalize_number` reads what callers give, strictly: a number that could be someone else's
is refused. `read_number` reads what a provider gives back, leniently: a number it cannot
read is ``None``, never an error, so that an odd answer never loses a report.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from smsgate._e164 import e164_or_none
from smsgate.errors import ValidationError

__all__ = ["check_region", "normalize_number", "read_number"]

# What may appear in a number as people write it. Letters are refused outright: phonenumbers
# would read "0800 FLOWERS" as digits, and a stray word must never turn into someone's number.
_NUMBER_SHAPE = re.compile(r"[0-9+\-.()/\s]+")

# The region codes phonenumbers knows, upper-case: those check_region returns unchanged.
_REGIONS = phonenumbers.SUPPORTED_REGIONS

_IMPOSSIBLE = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "its country code does not exist",
    phonenumbers.ValidationResult.TOO_SHORT: "it is too short",
    phonenumbers.ValidationResult.TOO_LONG: "it is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "no number of its country has that length",
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "it can only be dialled locally",
}
_UNPARSABLE = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "its country code does not exist",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "it has too few digits",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "it is too short",
    phonenumbers.NumberParseException.TOO_LONG: "it is too long",
}


def check_region(region: str, *, field: str = "region") -> str:
    """Return ``region`` as an upper-case ISO 3166 code that phonenumbers knows.

    Raises:
        ValidationError: the region is not a supported two-letter code.
    """
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            field,
            f"{region!r} is not a two-letter ISO 3166 region code such as 'GB' or 'FR'",
            rule="must be a two-letter ISO 3166 region code such as 'GB' or 'FR'",
        )
    return region.upper()


def normalize_number(number: str, region: str | None = None, *, field: str = "to") -> str:
    """Return ``number`` in E.164 form (``+447700900123``).

    Args:
        number: a phone number as people write it; spaces, dashes, dots, brackets and slashes
            are allowed. Without a leading ``+`` it is read as a national number of ``region``.
        region: the country national numbers belong to (``"GB"``).
        field: the field name to report in errors.

    Raises:
        ValidationError: the number cannot be a phone number, or it is national and no region
            was given.

    >>> normalize_number("07700 900123", "GB")
    '+447700900123'
    """
    # Ordinary numbers are answered without phonenumbers' parser, with the same answers
    # (smsgate._e164 says how). The fast path answers only numbers that pass every check of
    # _normalize_slowly: not empty, only the characters allowed, national only with a
    # region, the region as check_region returns it. Every other number, and so every
    # refusal, goes the slow way.
    if isinstance(number, str) and (region is None or (type(region) is str and region in _REGIONS)):
        e164 = e164_or_none(number.strip(), region)
        if e164 is not None:
            return e164
    return _normalize_slowly(number, region, field=field)


def _normalize_slowly(number: str, region: str | None = None, *, field: str = "to") -> str:
    """`normalize_number` with every number read by phonenumbers, as it was before the fast
    path: the answers that path is held to."""
    if not isinstance(number, str):
        raise ValidationError(field, f"must be a string, not {type(number).__name__}")
    written = number.strip()
    if not written:
        raise ValidationError(field, "is empty; give the recipient's phone number")
    if not _NUMBER_SHAPE.fullmatch(written):
        raise ValidationError(
            field,
            f"{number!r} is not a phone number: only digits, spaces and + - . ( ) / may appear",
        )
    if region is None and not written.startswith("+"):
        raise ValidationError(
            field,
            f"{number!r} has no country code: write it as +<country code><number>, "
            "or give a region such as 'GB' on the message or the gateway",
        )
    try:
        parsed = phonenumbers.parse(written, None if region is None else check_region(region))
    except phonenumbers.NumberParseException as exc:
        why = _UNPARSABLE.get(exc.error_type, "it could not be read")
        raise ValidationError(field, f"{number!r} is not a phone number: {why}") from exc
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != phonenumbers.ValidationResult.IS_POSSIBLE:
        why = _IMPOSSIBLE.get(possible, "it is not a possible number")
        raise ValidationError(field, f"{number!r} cannot be a phone number: {why}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def read_number(written: object, region: str | None = None) -> str | None:
    """A number from a provider's answer in E.164, or ``None`` when it is not one.

    Providers write numbers with or without their ``+`` (``447700900123``), and some log a
    national number (``07700900123``), read in ``region``.

    >>> read_number("447700900123"), read_number("07700 900123", "GB"), read_number("n/a")
    ('+447700900123', '+447700900123', None)
    """
    if isinstance(written, int) and not isinstance(written, bool):
        written = str(written)
    if not isinstance(written, str) or not written.strip():
        return None
    text = written.strip()
    if len(text) > _REMEMBERED_LENGTH:
        return _read(text, region)
    return _read_remembered(text, region)


# Providers write the same few numbers again and again (each message's reports, replies from
# the same people), and phonenumbers takes some 15 µs to read one: the last numbers read are
# remembered. Only text as long as a number is written, so the memory stays small.
_REMEMBERED_LENGTH = 32


def _read(text: str, region: str | None) -> str | None:
    if not text.startswith(("+", "0")):
        text = "+" + text
    try:
        return normalize_number(text, region if text.startswith("0") else None)
    except ValidationError:
        return None


_read_remembered = functools.lru_cache(maxsize=4096)(_read)
