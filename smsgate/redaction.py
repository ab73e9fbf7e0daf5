"""Blanking credentials out of whatever a server echoes back, in every form it may take.

A server may echo a credential as it was sent, or only its meaningful part (a JWT without its
``JWT`` scheme word; the part of ``12|Ab…`` after the ``|``), and in any encoding it applies
to text it writes: JSON-escaped (``\\/`` for ``/``, ``\\u002f`` for any character),
URL-encoded (``%2F``, ``+`` for a space), or base64 (``key:secret`` in a Basic header, or the
value alone). `Redactor` blanks every one of those forms, and any mixture of the character
escapes, with ``********``.

>>> Redactor(["12|Ab/Cd+Ef/SECRET0099"]).text('{"token":"Ab\\\\/Cd+Ef\\\\/SECRET0099"}')
'{"token":"********"}'
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable

__all__ = ["MIN_SECRET", "REDACTED", "Redactor", "forms"]

REDACTED = "********"
MIN_SECRET = 6
"""Shorter values are no secret, and blanking them would mangle every answer that contains
them (a key of "k" would blank every k)."""


def forms(secret: str) -> list[str]:
    """The literal forms of ``secret`` a server may echo: itself, its meaningful parts, and
    their base64 (standard and URL-safe, with and without padding); each at least
    `MIN_SECRET` long.

    >>> forms("JWT eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl")[:3]
    ['JWT eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl', 'eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl', 'c2lnbmF0dXJl']
    """
    parts = [secret]
    _, space, rest = secret.partition(" ")
    if space and rest.strip():
        parts.append(rest.strip())  # "JWT eyJ...", "Bearer ...": the token without its word
    if "|" in secret:
        parts.append(secret.rsplit("|", 1)[1])  # "12|Ab...": the part after the id
    for part in list(parts):
        pieces = part.split(".")
        if len(pieces) == 3 and all(pieces):
            parts.append(pieces[2])  # a JWT's signature: the part that proves it
    found = list(dict.fromkeys(p for p in parts if len(p) >= MIN_SECRET))
    for part in list(found):
        found += _base64(part)
    return list(dict.fromkeys(f for f in found if len(f) >= MIN_SECRET))


def _base64(value: str) -> list[str]:
    raw = value.encode("utf-8", "surrogatepass")
    coded = [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    return coded + [c.rstrip("=") for c in coded]


_JSON_SHORT = {"/": "\\/", '"': '\\"', "\\": "\\\\"}


def _char(c: str) -> str:
    """A pattern for one character in any form a server may write it."""
    code = ord(c)
    alternatives = [re.escape(c)]
    if code <= 0xFFFF:
        alternatives.append(f"(?i:\\\\u{code:04x})")  # JSON's \uXXXX, either case
    if c in _JSON_SHORT:
        alternatives.append(
            re.escape(_JSON_SHORT[c])
        )  # JSON's \/ (PHP writes every / so), \" and \\
    if c == " ":
        alternatives.append(r"\+")  # a space in a URL-encoded form
    encoded = c.encode("utf-8", "surrogatepass")
    alternatives.append("".join(f"(?i:%{b:02x})" for b in encoded))  # URL-encoded
    return "(?:" + "|".join(alternatives) + ")"


_JSON_U = re.compile(r"\\u([0-9a-fA-F]{4})")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)")


def _json_unescaped(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code, char = match.groups()
        return chr(int(code, 16)) if code else char

    return _JSON_ESCAPE.sub(one, text)


class Redactor:
    """Blanks ``secrets``, in every form `forms` lists and every character escape, out of
    text and bytes.

    The common case costs a few ``replace`` calls: the literal forms are blanked directly,
    and the escaped forms are looked for only when the text holds an escape (``\\`` or
    ``%``) and unescaping it shows a form.

    Args:
        secrets: credential values; shorter than `MIN_SECRET` ones are left alone.
        pairs: ``(user, secret)`` pairs whose Basic form (base64 of ``user:secret``) is
            blanked too.
    """

    def __init__(self, secrets: Iterable[str], pairs: Iterable[tuple[str, str]] = ()) -> None:
        literal: list[str] = []
        for secret in secrets:
            if len(secret) >= MIN_SECRET:
                literal += forms(secret)
        for user, secret in pairs:
            if len(secret) >= MIN_SECRET:
                literal += _base64(f"{user}:{secret}")
        self.literal = sorted(dict.fromkeys(literal), key=len, reverse=True)
        self._literal_bytes = [form.encode("utf-8", "surrogatepass") for form in self.literal]
        self._spaces = any(" " in form for form in self.literal)
        pattern = "|".join("".join(_char(c) for c in form) for form in self.literal)
        self._text = re.compile(pattern) if pattern else None
        self._bytes = re.compile(pattern.encode("utf-8", "surrogatepass")) if pattern else None

    def __bool__(self) -> bool:
        return bool(self.literal)

    def __repr__(self) -> str:
        return f"<Redactor of {len(self.literal)} forms>"

    def text(self, text: str) -> str:
        """``text`` with every form of every secret blanked."""
        if self._text is None:
            return text
        for form in self.literal:
            text = text.replace(form, REDACTED)
        if self._escaped(text):
            text = self._text.sub(REDACTED, text)
        return text

    def bytes(self, data: bytes) -> bytes:
        """``data`` with every form of every secret blanked (read as UTF-8)."""
        if self._bytes is None:
            return data
        for form in self._literal_bytes:
            data = data.replace(form, _REDACTED_BYTES)
        if (b"\\" in data or b"%" in data or (self._spaces and b"+" in data)) and self._escaped(
            data.decode("utf-8", "replace")
        ):
            data = self._bytes.sub(_REDACTED_BYTES, data)
        return data

    def _escaped(self, text: str) -> bool:
        """Whether unescaping ``text`` (JSON, then URL) shows a form of a secret."""
        if "\\" not in text and "%" not in text and not (self._spaces and "+" in text):
            return False
        unescaped = _json_unescaped(text) if "\\" in text else text
        # Also read each \uXXXX wherever it stands (a backslash before it does not hide it
        # from whoever reads the raw text).
        loose = _JSON_U.sub(lambda m: chr(int(m[1], 16)), text).replace("\\/", "/")
        views = [unescaped, loose, urllib.parse.unquote(unescaped)]
        if self._spaces:
            views.append(urllib.parse.unquote_plus(unescaped))
        return any(form in view for view in views for form in self.literal)


_REDACTED_BYTES = REDACTED.encode()
