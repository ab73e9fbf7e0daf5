"""Blanking credentials out of whatever a server echoes back, in every form it may take.

A server may echo a credential as it was sent, or only its meaningful part (a JWT without its
``JWT`` scheme word; the part of ``12|Ab…`` after the ``|``), and in any encoding it applies
to text it writes: JSON-escaped (``\\/`` for ``/``, ``\\u002f`` for any character),
URL-encoded (``%2F``, ``+`` for a space), or base64 (``key:secret`` in a Basic header, or the
value alone). `Redactor` blanks every one of those forms, and any mixture of the character
escapes, with ``********``.

>>> Redactor(["12|Ab/Cd+Ef/SECRET0099"]).text('{"token":"Ab\\\\/Cd+Ef\\\\/SECRET0099"}')
'{"token":"********"}'

`Secret` holds a credential so that it never shows itself in a ``repr``, log line or error.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping

__all__ = ["MIN_SECRET", "REDACTED", "Redactor", "Secret", "SecretHeader", "forms"]

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
        if "\\" in part:
            found.append(json.dumps(part)[1:-1])  # JSON-escaped whole: \\ for each backslash
        found += _base64(part)
    return list(dict.fromkeys(f for f in found if len(f) >= MIN_SECRET))


def _base64(value: str) -> list[str]:
    """``value`` in base64 on its own, and the part of it that any base64 of a longer text
    holding it shows, whichever of the three byte alignments it falls on."""
    raw = value.encode("utf-8", "surrogatepass")
    found = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        found += [whole, whole.rstrip("=")]
        for offset in range(3):
            # Character i of the base64 covers bits 6i to 6i + 6 of the bytes; keep those
            # that fall wholly on the value's bits, 8 * offset to 8 * (offset + len).
            coded = encode(b"\0" * offset + raw + b"\0\0").decode()
            first = -(-8 * offset // 6)
            last = (8 * (offset + len(raw)) - 6) // 6
            found.append(coded[first : last + 1])
    return found


# A backslash's own escape (\\) is left out of the pattern: next to a plain backslash it would
# let a run of backslashes be read in exponentially many ways. A secret holding one is
# matched JSON-escaped as a literal form instead (`forms`).
_JSON_SHORT = {"/": "\\/", '"': '\\"'}


def _char(c: str) -> str:
    """A pattern for one character in any form a server may write it."""
    code = ord(c)
    alternatives = [re.escape(c)]
    if code <= 0xFFFF:
        alternatives.append(f"(?i:\\\\u{code:04x})")  # JSON's \uXXXX, either case
    if c in _JSON_SHORT:  # JSON's \/ (PHP writes every / so) and \"
        alternatives.append(re.escape(_JSON_SHORT[c]))
    if c == " ":
        alternatives.append(r"\+")  # a space in a URL-encoded form
    if c == "+":
        alternatives.append(" ")  # a + that a server read as a form's space
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

    The common case is cheap: the literal forms are blanked directly (in bytes, only where
    one ``translate`` and a search of its result show they may stand), and the escaped forms
    are looked for only when the text holds an escape (``\\`` or ``%``) and unescaping it
    shows a form.

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
        literal += [form.replace("+", " ") for form in literal if "+" in form]  # form-read
        self.literal = sorted(dict.fromkeys(literal), key=len, reverse=True)
        self._literal_bytes = [form.encode("utf-8", "surrogatepass") for form in self.literal]
        self._spaces = any(" " in form for form in self.literal)
        pattern = "|".join("".join(_char(c) for c in form) for form in self.literal)
        self._text = re.compile(pattern) if pattern else None
        self._bytes = re.compile(pattern.encode("utf-8", "surrogatepass")) if pattern else None
        # Where a literal form stands, the bytes hold a run of at least the shortest form's
        # length of bytes that each appear in some form (marked 1). A NUL (UTF-16 or UTF-32)
        # or an escape (\\ % and, where a form holds a space, +) sends them the long way
        # (marked 2). One translate and two searches settle most answers: no escape, and no
        # such run. A form holding one of those bytes itself leaves every answer the long way.
        held = set(b"".join(self._literal_bytes))
        escapes = {0, ord("\\"), ord("%")} | ({ord("+")} if self._spaces else set())
        self._marks = bytes(1 if c in held else 2 if c in escapes else 0 for c in range(256))
        self._run = b"\x01" * min(map(len, self._literal_bytes), default=0)
        self._marked = not held & escapes

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
        """``data`` with every form of every secret blanked (read as UTF-8, or as the
        UTF-16 or UTF-32 that JSON may also come in)."""
        if self._bytes is None:
            return data
        marked = data.translate(self._marks)
        if self._marked and marked.find(2) < 0:  # no NUL, no escape: literal forms only
            if marked.find(self._run) < 0:
                return data  # no run as long as a form: no form
            for form in self._literal_bytes:
                data = data.replace(form, _REDACTED_BYTES)
            return data
        encoding = json.detect_encoding(data) if data[:4].count(0) else "utf-8"
        if encoding != "utf-8":
            try:
                return self.text(data.decode(encoding)).encode(encoding)
            except UnicodeError:
                pass  # not that either: read it as UTF-8 below
        if marked.find(self._run) >= 0:
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


class Secret:
    """A credential that never shows itself in a ``repr``, ``str``, log line or error.

    >>> Secret("s3cr3t")
    Secret('********')
    """

    __slots__ = ("_header", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        self._header: SecretHeader | None = None

    def reveal(self) -> str:
        """The credential itself, for the one header that needs it."""
        return self._value

    def header(self, name: str, scheme: str = "") -> SecretHeader:
        """``{name: scheme + " " + credential}`` (the credential alone without a
        ``scheme``), as a `SecretHeader`: the same object on every call with the arguments
        of the last, so that what a gateway builds from it
        (`smsgate.providers.base.HttpGateway.auth_headers`) is kept as long as the
        credential is."""
        made = self._header
        if made is None or made.name != name or made.scheme != scheme:
            made = self._header = SecretHeader(name, scheme, self._value)
        return made

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return Secret, (self._value,)

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretHeader(Mapping[str, str]):
    """The one header that carries a credential (`Secret.header`): a mapping that cannot
    change, and that never shows its value. A gateway keeps what it builds from one as long
    as it is given the very same object."""

    __slots__ = ("_value", "name", "scheme")

    def __init__(self, name: str, scheme: str, credential: str) -> None:
        self.name, self.scheme = name, scheme
        self._value = f"{scheme} {credential}" if scheme else credential

    def __getitem__(self, key: str) -> str:
        if key != self.name:
            raise KeyError(key)
        return self._value

    def __iter__(self) -> Iterator[str]:
        return iter((self.name,))

    def __len__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return f"SecretHeader({self.name!r}: {REDACTED!r})"

    def __reduce__(self) -> tuple[type[SecretHeader], tuple[str, str, str]]:
        value = self._value
        credential = value[len(self.scheme) + 1 :] if self.scheme else value
        return SecretHeader, (self.name, self.scheme, credential)
