"""Where a secret shows: everything reachable from an error, a gateway and the log."""

from __future__ import annotations

import contextlib
import json
import traceback
from collections.abc import Iterator


def reachable(root: object, depth: int = 8) -> Iterator[str]:
    """The text of everything reachable from ``root``: reprs and strs, attributes (also
    in slots), items of containers, and for an exception its args, chained cause and
    context, and its formatted traceback."""
    seen: set[int] = set()

    def walk(item: object, left: int) -> Iterator[str]:
        if id(item) in seen or left < 0:
            return
        seen.add(id(item))
        try:
            yield repr(item)
            yield str(item)
        except Exception:  # a broken repr hides nothing
            pass
        if isinstance(item, str | bytes | int | float | bool | type(None)):
            return
        if isinstance(item, BaseException):
            yield "".join(traceback.format_exception(item))
            for linked in (item.__cause__, item.__context__, *item.args):
                yield from walk(linked, left - 1)
        if isinstance(item, dict) or hasattr(item, "items"):
            with contextlib.suppress(Exception):
                for key, value in list(item.items()):
                    yield from walk(key, left - 1)
                    yield from walk(value, left - 1)
        if isinstance(item, list | tuple | set | frozenset):
            for value in item:
                yield from walk(value, left - 1)
        for name in getattr(type(item), "__slots__", ()):
            with contextlib.suppress(Exception):
                yield from walk(getattr(item, name), left - 1)
        with contextlib.suppress(TypeError):
            for value in vars(item).values():
                yield from walk(value, left - 1)

    yield from walk(root, depth)


def leaks(fragment: str, error: BaseException, gateway: object, log: str) -> list[str]:
    """Where ``fragment`` of a secret shows: anything reachable from the error (its text,
    repr, args, attributes, body, chained cause and context, traceback), the gateway's repr
    and attributes, or the log."""
    places = {
        "the error": "\n".join(reachable(error)),
        "error.body": json.dumps(getattr(error, "body", None)),
        "repr(gateway)": repr(gateway),
        "vars(gateway)": repr(vars(gateway)),
        "log": log,
    }
    return [place for place, text in places.items() if fragment in text]
