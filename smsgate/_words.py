"""Wording shared by smsgate's messages to people."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = ["closest", "joined"]


def joined(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> joined(["token", "key", "secret"])
    'token, key and secret'
    """
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


def closest(word: str, words: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The one of ``words`` most like ``word``, for a "did you mean" (None: none is close).

    >>> closest("smswork", ["smsworks", "smsscheduler"])
    'smsworks'
    """
    found = difflib.get_close_matches(word, list(words), n=1, cutoff=cutoff)
    return found[0] if found else None
