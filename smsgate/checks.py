"""The checks of settings and arguments that many parts make: whole numbers, seconds, ids.

Each answers yes or no, and the caller raises its own error in its own words: a
`ConfigurationError` for a setting, a `ValidationError` for an argument. ``True`` and
``False`` are never numbers here, although Python counts them as ints.

>>> is_whole(3, least=1), is_whole(True), is_whole(2.0)
(True, False, False)
>>> is_seconds(0.5), is_seconds(0), is_seconds(0, zero=True)
(True, False, True)
"""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["is_id", "is_number", "is_seconds", "is_whole"]


def is_whole(value: object, *, least: int = 0) -> TypeGuard[int]:
    """Whether ``value`` is a whole number (an ``int``, not a ``bool``) of at least ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def is_number(value: object) -> TypeGuard[int | float]:
    """Whether ``value`` is an ``int`` or a ``float``, not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_seconds(value: object, *, zero: bool = False) -> TypeGuard[float]:
    """Whether ``value`` is a number of seconds: positive, or 0 too with ``zero``."""
    return is_number(value) and (value >= 0 if zero else value > 0)


def is_id(value: object) -> TypeGuard[int]:
    """Whether ``value`` is a positive whole number, as numeric ids are."""
    return is_whole(value, least=1)
