"""Reading an option's value as the type its provider declares: text from an environment
variable or ``-o`` as a number, a boolean or JSON, and any value checked against the declared
type (for `smsgate.config`). No error repeats the value, which may be a secret."""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from smsgate.errors import ConfigurationError

__all__ = ["checked", "coerce", "settable", "type_name"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def type_name(annotation: Any) -> str:
    """The type as a reader writes it: ``str``, ``float | None``, ``Mapping[str, int]``."""
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def settable(annotation: Any) -> bool:
    """Whether text can give a value of this type (read as `coerce` reads it)."""
    if annotation in (inspect.Parameter.empty, Any) or isinstance(annotation, str):
        return True  # nothing is known of its type: text is taken as it is
    for member in _members(annotation):
        origin = get_origin(member) or member
        if member in (str, int, float, bool) or origin is Literal:
            return True
        if origin in (Mapping, dict, Sequence, list):
            return True  # as JSON
    return False


def _members(annotation: Any) -> tuple[Any, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def checked(name: str, value: Any, parameter: inspect.Parameter) -> Any:
    """``value`` if it has the type ``parameter`` declares; an integer for a text option is
    read as its digits (a TOML file writes ids and numeric senders so).

    Raises:
        ConfigurationError: it has another type; the message names the types, not the value.
    """
    annotation = parameter.annotation
    if annotation in (inspect.Parameter.empty, Any) or isinstance(annotation, str):
        return value  # nothing is known of its type
    members = _members(annotation)
    if value is None and (type(None) in members or parameter.default is None):
        return value
    if isinstance(value, int | float) and (int in members or float in members):
        return value  # the provider says which numbers it takes
    if isinstance(value, int) and not isinstance(value, bool) and str in members:
        return str(value)
    for member in members:
        origin = get_origin(member) or member
        if origin is Literal and value in get_args(member):
            return value
        if origin in (Mapping, dict) and isinstance(value, Mapping):
            return value
        if (
            origin in (Sequence, list)
            and isinstance(value, Sequence)
            and not isinstance(value, str)
        ):
            return value
        if isinstance(origin, type) and isinstance(value, origin) and member is not int:
            return value
        if not isinstance(origin, type) and origin is not Literal:
            return value  # a type this check does not read (a callable, a protocol ...)
    wanted = " or ".join(type_name(m) for m in members if m is not type(None))
    raise ConfigurationError(f"option {name!r} must be {wanted}; the value given is {_kind(value)}")


def _kind(value: Any) -> str:
    """What sort of value it is, without the value itself (it may be a secret)."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, Sequence):
        return "a list"
    return f"a {type(value).__name__}"


def coerce(name: str, value: Any, annotation: Any) -> Any:
    """Read a string option (from the environment) as the type its parameter declares."""
    if not isinstance(value, str) or annotation in (inspect.Parameter.empty, Any, str):
        return value
    members = (
        get_args(annotation)
        if get_origin(annotation) in (Union, types.UnionType)
        else (annotation,)
    )
    if any(get_origin(t) in (Mapping, dict, Sequence, list) for t in members):
        try:
            return json.loads(value)
        except ValueError:
            raise ConfigurationError(
                f"option {name!r} must be JSON; the value given is not"
            ) from None
    if str in members or not any(t in members for t in (bool, int, float)):
        return value
    text = value.strip().lower()
    if bool in members:
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if int in members:
        try:
            return int(text)
        except ValueError:
            pass
    if float in members:
        try:
            return float(text)
        except ValueError:
            pass
    wanted = " or ".join(t.__name__ for t in members if t in (bool, int, float))
    raise ConfigurationError(f"option {name!r} must be {wanted}; the value given is not")
