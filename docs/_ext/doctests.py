"""A griffe extension for the API reference: doctest examples become code blocks.

smsgate's docstrings end with bare doctest examples (``>>> ...`` and the answer), which
pytest runs (``--doctest-modules``). Google-style parsing reads ``>>>`` as code only under
an ``Examples:`` header, and Markdown would read it as a quotation, so each bare example
(at the docstring's own indentation, outside a code fence) is fenced as ``pycon`` before the
docstring is parsed. Loaded by mkdocs.yml; the docstrings themselves are not changed.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with each run of lines from a ``>>>`` line to the next blank line fenced."""
    out: list[str] = []
    fenced = doctest = False
    for line in text.splitlines():
        if doctest and not line.strip():
            out.append("```")
            doctest = False
        elif not doctest and line.startswith("```"):
            fenced = not fenced
        elif not doctest and not fenced and line.startswith(">>>"):
            if out and out[-1].strip():
                out.append("")
            out.append("```pycon")
            doctest = True
        out.append(line)
    if doctest:
        out.append("```")
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Fence every docstring's bare doctest examples (see `fence_doctests`)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
