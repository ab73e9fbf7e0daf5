"""Texts with fields, filled in from each row of a bulk file: ``Hi {name}, your code is {code}``.

The braces follow Python's format strings: ``{name}`` is the cell of the column ``name`` (spaces
inside the braces are ignored), and ``{{`` and ``}}`` are a brace. A field is a column's name
and nothing more: an attribute or an index (``{a.b}``, ``{a[0]}``), a conversion (``{a!r}``),
a format spec (``{a:>10}``), a number (``{0}``) or nothing (``{}``) is refused. A template is
filled by joining strings, never by `str.format`, so a text can do nothing but name cells.

A column's name in doubled braces, ``{{name}}``, is how other tools (Mailchimp, HubSpot,
Jinja) write a field; here it would go out as the words ``{name}``, so `doubled_field` finds
it for the file to be refused (``{{{name}}}`` is the cell in braces, and stays allowed).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping

import attrs

__all__ = ["Template", "TemplateError", "doubled_field", "parse"]

# A doubled brace, a field, or a brace on its own (which is a mistake).
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NOT_PLAIN = re.compile(r"[.\[\]!:]")


class TemplateError(ValueError):
    """A text that cannot be read as a template; ``str()`` says why, and how to write it."""


@attrs.frozen
class Template:
    """A text with fields.

    Attributes:
        pieces: the text between fields, each followed by the field after it (``None`` for
            the last piece).
        fields: the fields it names, each once, in order.
    """

    pieces: tuple[tuple[str, str | None], ...]
    fields: tuple[str, ...]

    def render(self, cells: Mapping[str, str]) -> str:
        """The text with each field replaced by its cell (every field must have one)."""
        if not self.fields:
            return self.pieces[0][0]
        return "".join(
            text + (cells[field] if field is not None else "") for text, field in self.pieces
        )


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Template:
    """Read ``text`` as a template.

    Raises:
        TemplateError: a brace is not doubled nor part of a field, or a field is not a plain
            name.

    >>> parse("Hi {name}, {{braces}}").render({"name": "Ann"})
    'Hi Ann, {braces}'
    """
    if "{" not in text and "}" not in text:
        return Template(((text, None),), ())
    pieces: list[tuple[str, str | None]] = []
    written: list[str] = []
    start = 0
    for token in _TOKEN.finditer(text):
        written.append(text[start : token.start()])
        start = token.end()
        found = token.group()
        if found in ("{{", "}}"):
            written.append(found[0])
        elif found == "{":
            raise TemplateError(
                f"has a {{ that is not closed (character {token.start() + 1}): write {{{{ for "
                "a brace"
            )
        elif found == "}":
            raise TemplateError(
                f"has a }} with no {{ before it (character {token.start() + 1}): write }}}} "
                "for a brace"
            )
        else:
            pieces.append(("".join(written), _field(found, token.group(1))))
            written = []
    written.append(text[start:])
    pieces.append(("".join(written), None))
    fields = tuple(dict.fromkeys(f for _, f in pieces if f is not None))
    return Template(tuple(pieces), fields)


def _field(written: str, name: str) -> str:
    name = name.strip()
    if not name:
        raise TemplateError(f"has {written}, which names no column: write {{{{}}}} for braces")
    if _NOT_PLAIN.search(name):
        raise TemplateError(
            f"has {written}: a field is a column's name only, without . [ ] ! or : (no "
            "attributes, indexes, conversions or formats)"
        )
    if name.isdigit():
        raise TemplateError(f"has {written}: a field is a column's name, not a number")
    return name


def doubled_field(text: str, columns: Collection[str]) -> str | None:
    """Why ``text`` cannot be sent as it is if it writes a column's name in doubled braces
    (``{{name}}``, spaces inside allowed), which would go out as the words ``{name}``; else
    ``None``. ``text`` must be a template (`parse` took it).

    >>> doubled_field("Hi {{ name }}", ["to", "name"]).endswith("column name, write {name}")
    True
    >>> doubled_field("Hi {{{name}}}, {{code}}", ["name"]) is None
    True
    """
    if "{{" not in text:
        return None
    opened = None  # where the text after the last ``{{`` starts, if no field came since
    for token in _TOKEN.finditer(text):
        found = token.group()
        if found == "{{":
            opened = token.end()
        elif found == "}}" and opened is not None:
            name = text[opened : token.start()].strip()
            if name and name in columns:
                written = text[opened - 2 : token.end()]
                return (
                    f"has {written}: a doubled brace is a literal brace, so it would go out as "
                    f"{written[1:-1]}; for the cell of column {name}, write {{{name}}}"
                )
            opened = None
        else:
            opened = None
    return None
