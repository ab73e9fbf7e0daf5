"""Wording shared by smsgate's messages to people."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["joined"]


def joined(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> joined(["token", "key", "secret"])
    'token, key and secret'
    """
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))
