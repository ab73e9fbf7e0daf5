"""What a provider's docstrings and signatures say of its options: a line describing each,
and the defaults its classes declare (for `smsgate.config.provider_option_info`).

A provider documents its options as Google-style docstrings do, in an ``Args:`` section::

    Args:
        token: the API token from the account page.
        timeout: seconds one try of a request may take, answer included.

A class factory's options may be described by its bases too (``**options`` passed on to a
base class): each option takes the first description and the first default found along the
class's method resolution order.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

__all__ = ["declared_defaults", "described"]

_ENTRY = re.compile(r"(?P<names>[A-Za-z_][\w, ]*?)(?: \([^)]*\))?: (?P<text>.*)")
_MARKUP = re.compile(r"``?")
# The end of the first sentence: a full stop, but not that of "e.g." or "i.e.".
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.(?:\s|$)")


def described(factory: Any) -> dict[str, str]:
    """The first sentence of each argument described in the ``Args:`` section of
    ``factory``'s docstring and, for a class, of its bases', by name."""
    sources = inspect.getmro(factory) if isinstance(factory, type) else (factory,)
    found: dict[str, str] = {}
    for source in sources:
        doc = source.__doc__ if isinstance(source.__doc__, str) else ""
        for name, text in _arguments(inspect.cleandoc(doc)).items():
            found.setdefault(name, text)
    return found


def _arguments(doc: str) -> dict[str, str]:
    """The ``Args:`` section of a cleaned docstring: each name with its first sentence."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return {}
    section_indent = _indent(lines[start])
    entries: list[tuple[list[str], list[str]]] = []
    entry_indent = None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        indent = _indent(line)
        if indent <= section_indent:
            break  # the next section
        if entry_indent is None:
            entry_indent = indent
        match = _ENTRY.fullmatch(line.strip()) if indent == entry_indent else None
        if match is not None:
            names = [name.strip() for name in match["names"].split(",")]
            entries.append((names, [match["text"]]))
        elif entries:
            entries[-1][1].append(line.strip())
    return {
        name: _first_sentence(" ".join(text)) for names, text in entries for name in names if name
    }


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _first_sentence(text: str) -> str:
    plain = _MARKUP.sub("", text).strip()
    end = _SENTENCE_END.search(plain)
    return plain[: end.start()] if end else plain


def declared_defaults(factory: Any) -> dict[str, Any]:
    """The default of each keyword parameter of ``factory`` and, for a class, of its bases'
    ``__init__``, by name (the first found along the method resolution order)."""
    if not isinstance(factory, type):
        sources: list[Any] = [factory]
    else:
        sources = [c.__dict__["__init__"] for c in factory.__mro__ if "__init__" in c.__dict__]
    found: dict[str, Any] = {}
    for source in sources:
        try:
            parameters = inspect.signature(source).parameters.values()
        except (TypeError, ValueError):
            continue  # a built-in without a signature (object.__init__)
        for parameter in parameters:
            if parameter.default is not inspect.Parameter.empty:
                found.setdefault(parameter.name, parameter.default)
    return found
