"""A fast, exact reading of ordinary phone numbers into E.164, for `smsgate.numbers`.

`smsgate.numbers.normalize_number` reads a number with ``phonenumbers.parse``, checks it
with ``phonenumbers.is_possible_number_with_reason`` and writes it with
``phonenumbers.format_number``: about 20 µs a number. `e164_or_none` gives the same answer
for the numbers people usually write, in a few per cent of that time, and ``None`` for
every number it is not sure of, which then goes the slow way. It never refuses a number
itself, so every refusal, and its message, still comes from phonenumbers.

What it reads:

* ``+`` then ASCII digits, with spaces, dashes, dots, brackets and slashes between them
  (``+44 7700 900123``), whatever the region;
* the same without the ``+``, as a national number of a region (``07700 900123`` in GB).

Anything else -- another ``+``, a tab or any other white space inside the number, any
other character, fewer than 3 or more than 20 digits, more than 250 characters -- is left
to phonenumbers. So is every number that phonenumbers would not accept as possible. So
what it answers is never empty, has only the characters `smsgate.numbers` allows, and is
national only when a region is given: every check `normalize_number` makes before reading
a number passes for it, which is why `normalize_number` may ask it first.

How the tables are derived
--------------------------

Nothing here is copied from phonenumbers' data. Each region's line (`_Plan`) is read from
the installed phonenumbers' own metadata (``PhoneMetadata.metadata_for_region``, or
``metadata_for_nongeo_region`` for the non-geographic calling codes such as +800), so it
always describes the phonenumbers that the slow path uses, whatever its version. The lines
are made the first time a number of their region or calling code is read, not when smsgate
is imported, because loading the metadata of every region costs about a tenth of a second
(the slow path loads a region's metadata at its first number too). A line holds:

* the calling code (``country_code``);
* for each length of national number, the verdict of phonenumbers' ``_test_number_length``
  on the general description's ``possible_length`` and ``possible_length_local_only``
  (`_length_verdict` takes its steps): which lengths are possible, and after which a
  stripped national prefix stays stripped (possible or too long);
* the international prefix (``international_prefix``), the national prefix as it is read
  (``national_prefix_for_parsing``), whether a ``national_prefix_transform_rule`` exists,
  and the general description's ``national_number_pattern``. A prefix made of digits only
  (``0``, ``0|180020``, ``011``) is matched with ``str.startswith``, in the pattern's order,
  which finds what the regular expression finds.

Why the answers are the same
----------------------------

For these inputs ``phonenumbers.parse`` does the following (phonenumberutil.py), and this
module does the same in the same order:

1. The input has no letters, ``#``, ``,`` or ``;``, so no extension, RFC 3966 part or
   vanity number can be read in it; with at least 3 digits and only the punctuation above
   it is a viable number. Its digits are kept, the punctuation dropped.
2. With a leading ``+``, the calling code is the shortest of the first 1 to 3 digits that
   is one (``COUNTRY_CODE_TO_REGION_CODE``; none when the digits start with 0, and then the
   number is left to phonenumbers). The metadata used from then on is that of the code's
   main region (``region_code_for_country_code``: the first region listed for the code),
   whatever region was given.
3. Without a ``+``, the region's metadata is used. If the digits start with the region's
   international prefix (``00`` in GB, ``011`` in the US) or its calling code
   (``447700900123`` in GB), phonenumbers may read them as an international number: such
   numbers are left to it. Otherwise the calling code is the region's.
4. A national prefix is stripped as ``_maybe_strip_national_prefix_carrier_code`` strips
   it, even after a ``+`` (``+44 07700 900123`` is ``+447700900123``): the prefix pattern
   must match at the start; it is not stripped when the whole number matched the general
   pattern and what is left does not; when a transform rule applies (the pattern's last
   group matched) the number is left to phonenumbers. The stripped number is kept only
   when its length is possible or too long for the region, as ``parse`` decides.
5. The national significant number is kept as a string, so leading zeros (Italy) are kept
   as phonenumbers keeps them; more than 17 digits is left to phonenumbers (too long).
6. ``is_possible_number_with_reason`` looks only at the number's length and calling code,
   against the general description of the code's main region (not of the other regions
   that share the code: +1 is read with the US' lengths, as phonenumbers does). The number
   is answered here only when that is IS_POSSIBLE; every other verdict (too short, too long,
   no such length, local only) is left to phonenumbers, to be refused with its reason.

The answer is then ``+``, the calling code and the national significant number, which is
what ``format_number(..., E164)`` writes for a number without an extension. Most
international numbers take a shorter way to the same answer (`_straight_lengths`): when
their first 4 digits already tell the calling code and that no national prefix can follow
it, only their length is left to look at.

``tests/test_numbers_fast.py`` holds the two paths to the same answers, and the same
refusals, over every calling code, every region and random numbers written every way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import Enum

import phonenumbers
from phonenumbers import PhoneMetadata

__all__ = ["e164_or_none"]

# phonenumbers' limits (phonenumberutil.py): the longest input it reads, the longest calling
# code and the longest national significant number.
_MAX_INPUT = 250
_MAX_CODE_DIGITS = 3
_MAX_NATIONAL = 17
# Inputs with more digits than the longest calling code and national number together are
# left to phonenumbers, so that every length below is one the tables hold.
_MAX_DIGITS = _MAX_CODE_DIGITS + _MAX_NATIONAL
# Punctuation read here: what people put between digits. Any other character that
# `smsgate.numbers` lets through (another +, tabs and other white space) is left to
# phonenumbers.
_PUNCTUATION = " -.()/"

_CALLING_CODES = frozenset(str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
# The calling code that each 3 first digits of a number start with (the shortest that is
# one), for those that start with one.
_CALLING_CODE_OF = {
    first: next(first[:size] for size in (1, 2, 3) if first[:size] in _CALLING_CODES)
    for first in map(str, range(100, 1000))
    if any(first[:size] in _CALLING_CODES for size in (1, 2, 3))
}
_NON_GEOGRAPHIC = "001"


class _Verdict(Enum):
    """``phonenumbers.ValidationResult`` for the lengths of one region's numbers."""

    IS_POSSIBLE = "is possible"
    IS_POSSIBLE_LOCAL_ONLY = "local only"
    TOO_SHORT = "too short"
    TOO_LONG = "too long"
    INVALID_LENGTH = "invalid length"


def _length_verdict(
    length: int, possible: tuple[int, ...], local_only: tuple[int, ...]
) -> _Verdict:
    """What phonenumbers' ``_test_number_length`` answers for a number of ``length`` digits
    given the general description's ``possible_length`` and ``possible_length_local_only``,
    step by step as it decides (it reads ``possible`` as sorted, first and last)."""
    if length in local_only:
        return _Verdict.IS_POSSIBLE_LOCAL_ONLY
    if possible[0] == length:
        return _Verdict.IS_POSSIBLE
    if possible[0] > length:
        return _Verdict.TOO_SHORT
    if possible[-1] < length:
        return _Verdict.TOO_LONG
    return _Verdict.IS_POSSIBLE if length in possible[1:] else _Verdict.INVALID_LENGTH


@dataclass(frozen=True, slots=True)
class _Prefix:
    """A pattern of the metadata that phonenumbers matches at the start of a number's
    digits (``re.compile(pattern).match(digits)``)."""

    pattern: re.Pattern[str]
    # When the pattern is nothing but alternatives of digits ("0|180020"), those digits in
    # the pattern's order: its match is then the first of them that the number starts with,
    # found without the regular expression.
    literals: tuple[str, ...] | None
    # What a number the pattern matches must start with (one of them): the literals, else
    # the empty string, which every number starts with.
    heads: tuple[str, ...]

    @classmethod
    def of(cls, pattern: str) -> _Prefix:
        if _LITERALS.fullmatch(pattern):
            literals = tuple(pattern.split("|"))
            return cls(re.compile(pattern), literals, literals)
        return cls(re.compile(pattern), None, ("",))

    def end(self, digits: str) -> int | None:
        """Where the pattern's match at the start of ``digits`` ends; ``None`` without one."""
        if self.literals is None:
            match = self.pattern.match(digits)
            return None if match is None else match.end()
        for literal in self.literals:
            if digits.startswith(literal):
                return len(literal)
        return None


_LITERALS = re.compile(r"[0-9]+(?:\|[0-9]+)*")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What reading a number needs from one region's metadata (or a non-geographic
    calling code's)."""

    calling_code: str
    # The lengths of national significant numbers that are possible (`_Verdict.IS_POSSIBLE`)
    # by the calling code's main region, which phonenumbers checks every number of the code
    # against; and the lengths after which a national prefix stripped stays stripped
    # (possible or too long by this region's own lengths), up to `_MAX_DIGITS`.
    possible: frozenset[int]
    keeps_stripped: frozenset[int]
    # `international_prefix`, `national_prefix_for_parsing` and the general description's
    # `national_number_pattern`; None when absent, and the last two when empty too, as
    # phonenumbers then matches nothing with them. (An empty international prefix is not
    # absent: phonenumbers compiles it as it is.)
    international_prefix: _Prefix | None
    national_prefix: _Prefix | None
    has_transform_rule: bool
    general_pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, metadata: PhoneMetadata, main: _Plan | None) -> _Plan | None:
        """The plan for ``metadata``, given the plan of its calling code's main region
        (``None`` when ``metadata`` is that region's); ``None`` when it lacks what the
        plan needs."""
        if metadata.country_code is None or metadata.general_desc is None:
            return None
        desc = metadata.general_desc
        possible, local_only = tuple(desc.possible_length), tuple(desc.possible_length_local_only)
        if not possible:
            return None
        verdicts = {n: _length_verdict(n, possible, local_only) for n in range(_MAX_DIGITS + 1)}
        kept = {_Verdict.IS_POSSIBLE, _Verdict.TOO_LONG}
        own = frozenset(
            n for n, v in verdicts.items() if v is _Verdict.IS_POSSIBLE and n <= _MAX_NATIONAL
        )
        idd = metadata.international_prefix
        national = metadata.national_prefix_for_parsing
        general = desc.national_number_pattern
        return cls(
            calling_code=str(metadata.country_code),
            possible=own if main is None else main.possible,
            keeps_stripped=frozenset(n for n, v in verdicts.items() if v in kept),
            international_prefix=None if idd is None else _Prefix.of(idd),
            national_prefix=_Prefix.of(national) if national else None,
            has_transform_rule=bool(metadata.national_prefix_transform_rule),
            general_pattern=re.compile(general) if general else None,
        )

    def national_significant(self, digits: str) -> str | None:
        """``digits`` without a national prefix, as phonenumbers strips it; ``None`` when
        a transform rule would rewrite them."""
        prefix = self.national_prefix
        if prefix is None:
            return digits
        if prefix.literals is not None and not self.has_transform_rule:
            for literal in prefix.literals:
                if digits.startswith(literal):
                    stripped = digits[len(literal) :]
                    break
            else:
                return digits
        else:
            match = prefix.pattern.match(digits)
            if match is None:
                return digits
            if self.has_transform_rule:
                groups = match.groups()
                if not groups or groups[-1] is not None:
                    return None
            stripped = digits[match.end() :]
        general = self.general_pattern
        if (
            general is not None
            and general.fullmatch(digits) is not None
            and general.fullmatch(stripped) is None
        ):
            return digits
        return stripped if len(stripped) in self.keeps_stripped else digits


# Plans by region code, and the main region's plan by the first 3 digits of an
# international number (those hold its calling code), made from the metadata as numbers
# are read (and kept: functools.cache). Where there is no plan, None is kept.


@functools.cache
def _region_plan(region: str) -> _Plan | None:
    plan = None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is not None and metadata.country_code is not None:
        main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[metadata.country_code][0]
        if main == region:
            plan = _Plan.of(metadata, None)
        elif (main_plan := _region_plan(main)) is not None:
            plan = _Plan.of(metadata, main_plan)
    return plan


@functools.cache
def _first_digits_plan(first: str) -> _Plan | None:
    plan = None
    code = _CALLING_CODE_OF.get(first)
    if code is not None:
        main = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)][0]
        if main != _NON_GEOGRAPHIC:
            plan = _region_plan(main)
        elif (metadata := PhoneMetadata.metadata_for_nongeo_region(int(code), None)) is not None:
            plan = _Plan.of(metadata, None)
    return plan


# For an international number, by its first 4 digits: the numbers of digits (calling code
# included) with which it is answered as it is, "+" and its digits, with no national prefix
# to strip. Made from the plans as numbers are read (and kept: functools.cache).
_FIRST_KNOWN = 4


@functools.cache
def _straight_lengths(first: str) -> frozenset[int]:
    """How many digits an international number starting with the digits ``first`` may
    have for its answer to be ``+`` and its digits: the calling code in them is known, the
    national prefix cannot start what follows it, and its length is possible. Empty when
    the digits known do not tell whether the national prefix starts the national number."""
    lengths: frozenset[int] = frozenset()
    plan = _first_digits_plan(first[:_MAX_CODE_DIGITS])
    if plan is not None:
        code = len(plan.calling_code)
        known = first[code:]
        heads = () if plan.national_prefix is None else plan.national_prefix.heads
        if not any(known.startswith(head) or head.startswith(known) for head in heads):
            lengths = frozenset(
                code + n for n in plan.possible if n >= 2 and 3 <= code + n <= _MAX_DIGITS
            )
    return lengths


def _without_punctuation(text: str) -> str:
    for mark in _PUNCTUATION:
        text = text.replace(mark, "")
    return text


def e164_or_none(written: str, region: str | None) -> str | None:
    """``written`` in E.164 when it is an ordinary number that phonenumbers reads as a
    possible number, else ``None`` (the number must then be read by phonenumbers).

    Args:
        written: the number as given, without surrounding white space.
        region: an upper-case region code that phonenumbers supports, or ``None``.

    >>> e164_or_none("+44 7700 900123", None), e164_or_none("07700 900123", "GB")
    ('+447700900123', '+447700900123')
    >>> e164_or_none("+44 7700 9001", None) is None  # too short: phonenumbers says so
    True
    """
    # This runs for every number sent, so it is written for speed: each step is one that
    # phonenumbers takes (see the module's documentation), in the same order.
    if written.startswith("+"):
        home = None  # a region is of no use to an international number
        digits = written[1:]
    elif region is None:
        return None
    else:
        home = region
        digits = written
    if not digits.isdigit():
        if len(written) > _MAX_INPUT:
            return None
        digits = digits.replace(" ", "").replace("-", "")  # most often the only punctuation
        if not digits.isdigit():
            digits = _without_punctuation(digits)
            if not digits.isdigit():
                return None
    if not (digits.isascii() and 3 <= len(digits) <= _MAX_DIGITS):
        return None
    if home is None:
        first = digits[:_FIRST_KNOWN]
        if len(digits) in _straight_lengths(first):
            return "+" + digits
        # The shortest of the first 1 to 3 digits that is a calling code, as phonenumbers'
        # _extract_country_code finds it; its main region's plan.
        first = digits[:_MAX_CODE_DIGITS]
        plan = _first_digits_plan(first)
        if plan is None or len(digits) < len(plan.calling_code) + 2:
            return None
        national = digits[len(plan.calling_code) :]
    else:
        plan = _region_plan(home)
        if plan is None or digits.startswith(plan.calling_code):
            return None
        idd = plan.international_prefix
        if idd is not None and digits.startswith(idd.heads) and idd.end(digits) is not None:
            return None
        national = digits
    prefix = plan.national_prefix
    if prefix is not None and national.startswith(prefix.heads):
        significant = plan.national_significant(national)
        if significant is None:
            return None
    else:
        significant = national
    if len(significant) not in plan.possible:
        return None
    return "+" + plan.calling_code + significant
