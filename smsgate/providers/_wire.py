"""The cattrs converter through which adapters write requests and read answers.

Adapters describe each payload as a small attrs class with Python names, and give the wire
names once with `register`; the domain model never sees them. Reading is lenient where
providers are (unknown keys are ignored, a number may stand for a string) and strict where
leniency would invent data (``None`` is never the string ``"None"``, ``"false"`` is never true).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = [
    "WireError",
    "array_of",
    "converter",
    "kind_of",
    "make_converter",
    "read",
    "register",
    "structure",
    "write",
]

T = TypeVar("T")


class WireError(Exception):
    """An answer that does not have the shape the adapter expects."""


def _string(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    raise TypeError(f"expected a string, got {value!r}")


def _float(value: Any, _: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")


def _int(value: Any, _: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise TypeError(f"expected a whole number, got {value!r}")


def _bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, got {value!r}")


def make_converter() -> cattrs.Converter:
    """A converter that leaves out unset (default) fields and reads scalars strictly."""
    converter = cattrs.Converter(omit_if_default=True)
    converter.register_structure_hook(str, _string)
    converter.register_structure_hook(float, _float)
    converter.register_structure_hook(int, _int)
    converter.register_structure_hook(bool, _bool)
    # Direct hooks for optional scalars: faster than cattrs' generic Optional handling.
    for kind, hook in ((str, _string), (float, _float), (int, _int), (bool, _bool)):
        converter.register_structure_hook(kind | None, _optional(hook))
    converter.register_structure_hook_factory(
        attrs.has, lambda cls: _from_object(make_dict_structure_fn(cls, converter))
    )
    return converter


def _from_object(from_dict: Any) -> Any:
    """A hook that reads only an object (cattrs alone would read a string as an object with
    none of its fields: ``"code" in "hostile"`` is false)."""

    def hook(value: Any, kind: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, not {kind_of(value)}")
        return from_dict(value, kind)

    return hook


def _optional(hook: Any) -> Any:
    def structure(value: Any, kind: Any) -> Any:
        return None if value is None else hook(value, kind)

    return structure


def register(converter: cattrs.Converter, cls: type, **wire_names: str) -> None:
    """Teach ``converter`` the wire names of some of ``cls``'s attributes."""
    overrides: dict[str, Any] = {name: override(rename=wire) for name, wire in wire_names.items()}
    converter.register_unstructure_hook(
        cls,
        make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True, **overrides),
    )
    from_dict: Any = make_dict_structure_fn(cls, converter, **overrides)
    converter.register_structure_hook(cls, _from_object(from_dict))


def structure(converter: cattrs.Converter, data: Any, cls: type[T]) -> T:
    """Read ``data`` as ``cls``.

    Raises:
        WireError: ``data`` lacks a required field or has one of the wrong type; the message
            says which.
    """
    if attrs.has(cls) and not isinstance(data, dict):
        raise WireError(f"expected an object, got {kind_of(data)}")
    try:
        return converter.structure(data, cls)
    except cattrs.BaseValidationError as exc:
        raise WireError("; ".join(cattrs.transform_error(exc))) from exc
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise WireError(f"unexpected {kind_of(data)}: {exc}") from exc


def kind_of(data: Any) -> str:
    """What sort of JSON value ``data`` is, in words, without the value itself."""
    if isinstance(data, list):
        return "an array"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "true or false"
    if isinstance(data, int | float):
        return "a number"
    if data is None:
        return "null"
    return "an object" if isinstance(data, dict) else type(data).__name__


converter: cattrs.Converter = make_converter()
"""The one converter every provider's wire classes are registered on."""


def read(data: Any, cls: type[T]) -> T:
    """Read ``data`` as ``cls`` through `converter` (see `structure`)."""
    return structure(converter, data, cls)


def write(payload: Any) -> Any:
    """A wire payload (an attrs instance, or a list of them) as JSON-ready data."""
    return converter.unstructure(payload)


def array_of(parse: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    """A reader of a JSON array whose every item ``parse`` reads.

    Raises:
        WireError: the answer is not an array, or ``parse`` refuses an item.
    """

    def parse_each(data: Any) -> list[T]:
        if not isinstance(data, list):
            raise WireError(f"an answer that is not an array ({kind_of(data)})")
        return [parse(item) for item in data]

    return parse_each
