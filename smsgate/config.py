"""Choosing a provider by configuration.

A provider is a factory (usually a gateway class) whose keyword parameters are its options;
`smsgate.registry` knows them by name (built-in ones, registered ones and installed plug-ins).
Every way in (`connect`, `from_config`, `from_env`, `from_toml`) checks the provider name and
the options against the factory's signature before building anything, and no error message
ever repeats an option's value.

An option named explicitly (a keyword argument, a key of a mapping or of a TOML table) must
be one the provider takes: a misspelt one is an error, with a guess at what was meant. The
environment is read a little more loosely, since one shell may hold the settings of several
providers: an ``SMSGATE_*`` variable that names no option of the chosen provider but an
option of another registered provider is ignored (and logged at DEBUG on the
``smsgate.config`` logger), so that ``SMSGATE_SENDER``, an option of The SMS Works, does not
stop a switch to SMS Scheduler. A variable that names an option of no provider is an error,
with a guess at what was meant: a misspelt ``SMSGATE_BASE_ULR`` must not leave the
production URL in place. Some names are never read as options at all (`RESERVED`,
`RESERVED_PREFIXES`): ``SMSGATE_DB`` and ``SMSGATE_REDIS`` (``smsgate campaign``),
``SMSGATE_SUPPRESSION`` (a suppression list), those smsgate's own tests and benchmarks read,
and every ``SMSGATE_WEBHOOK_*`` name, such as ``SMSGATE_WEBHOOK_SECRET``, which a service's
webhook receiver reads. An error about a value read from a variable names the variable, and
one about missing options names the variables to set.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack, get_args, get_origin, get_type_hints, is_typeddict

import attrs

from smsgate._optiondocs import declared_defaults, described
from smsgate._optionvalues import checked, coerce, settable, type_name
from smsgate._words import closest, joined
from smsgate.errors import ConfigurationError
from smsgate.gateway import SmsGateway
from smsgate.registry import (
    PROVIDERS_GROUP,
    ProviderFactory,
    available_providers,
    provider_factory,
    register_provider,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_PREFIX",
    "RESERVED",
    "RESERVED_PREFIXES",
    "OptionInfo",
    "available_providers",
    "connect",
    "env_config",
    "from_config",
    "from_env",
    "from_sources",
    "from_toml",
    "is_reserved",
    "provider_factory",
    "provider_option_info",
    "register_provider",
    "toml_config",
]

ENTRY_POINT_GROUP = PROVIDERS_GROUP
ENV_PREFIX = "SMSGATE_"

logger = logging.getLogger("smsgate.config")


def _names() -> str:
    return ", ".join(available_providers())


def _signature(factory: ProviderFactory) -> inspect.Signature:
    try:
        return inspect.signature(factory, eval_str=True)
    except (NameError, TypeError):
        # Annotations that cannot be evaluated: names are still known, types are not.
        return inspect.signature(factory)


def _options(factory: ProviderFactory) -> tuple[dict[str, inspect.Parameter], bool]:
    """The factory's keyword options, and whether it takes any keyword at all.

    ``**options: Unpack[SomeTypedDict]`` counts as the TypedDict's keys, each optional unless
    the TypedDict requires it.
    """
    signature = _signature(factory)
    options: dict[str, inspect.Parameter] = {}
    takes_any = False
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            options[name] = parameter
        elif parameter.kind is parameter.VAR_KEYWORD:
            annotation = parameter.annotation
            typed = get_args(annotation)[0] if get_origin(annotation) is Unpack else None
            if typed is None or not is_typeddict(typed):
                takes_any = True
                continue
            required = typed.__required_keys__
            for key, hint in get_type_hints(typed).items():
                default = inspect.Parameter.empty if key in required else None
                options[key] = inspect.Parameter(
                    key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint
                )
    return options, takes_any


@attrs.frozen
class OptionInfo:
    """One option a provider takes.

    Attributes:
        name: its name: the keyword, the key of a mapping, ``SMSGATE_<NAME>`` in the
            environment.
        required: whether it must be given.
        type: its type, as the provider declares it.
        default: the value it has when not given (``None`` when required, or when none is
            declared).
        description: one line on what it does, from the provider's docstring (its ``Args:``
            section, or its bases'); empty where there is none.
        settable: whether it can be given as text (an environment variable, ``-o`` on the
            command line): false for an option that takes an object, such as a session.
    """

    name: str
    required: bool
    type: str
    default: Any = None
    description: str = ""
    settable: bool = True


def provider_option_info(name: str) -> list[OptionInfo]:
    """The options provider ``name`` takes, sorted by name.

    Raises:
        ConfigurationError: as for `provider_factory`.
    """
    factory = _factory(name)
    parameters, _ = _options(factory)
    descriptions, defaults = described(factory), declared_defaults(factory)
    return [
        OptionInfo(
            name=key,
            required=(required := parameter.default is inspect.Parameter.empty),
            type=type_name(parameter.annotation),
            default=None if required else defaults.get(key, parameter.default),
            description=descriptions.get(key, ""),
            settable=settable(parameter.annotation),
        )
        for key, parameter in sorted(parameters.items())
    ]


def _describe_options(parameters: Mapping[str, inspect.Parameter]) -> str:
    described = [
        f"{name} (required)" if p.default is inspect.Parameter.empty else name
        for name, p in sorted(parameters.items())
    ]
    return ", ".join(described) or "none"


def _factory(provider: str) -> ProviderFactory:
    """`provider_factory`, with a guess at what was meant when the name is unknown."""
    try:
        return provider_factory(provider)
    except ConfigurationError:
        if not isinstance(provider, str) or provider in (names := available_providers()):
            raise  # not a name, or a plug-in that fails to load
        close = closest(provider, names)
        guess = f" (did you mean {close!r}?)" if close else ""
        raise ConfigurationError(
            f"provider: unknown{guess}; available providers: {', '.join(names)}"
        ) from None


def connect(provider: str, /, **options: Any) -> SmsGateway:
    """Build a gateway for ``provider`` with ``options``.

    Nothing is sent and no connection is opened until the first call.

    >>> gateway = connect("fake", default_region="GB")
    >>> gateway.name
    'fake'

    Raises:
        ConfigurationError: the provider is unknown, an option is unknown or missing, or an
            option's value is invalid. The message lists the valid providers or options, with
            a guess at a misspelt one.
    """
    return _connect(provider, dict(options), {}, None)


def _connect(
    provider: str,
    options: dict[str, Any],
    variables: Mapping[str, str],
    missing_hint: Callable[[Sequence[str]], str] | None,
) -> SmsGateway:
    """`connect`, where ``variables`` names the options read from the environment (see
    `from_sources`)."""
    try:
        factory = _factory(provider)
    except ConfigurationError as exc:
        raise _named(exc, "provider", variables) from None
    parameters, takes_any = _options(factory)
    if not takes_any:
        _drop_other_settings(provider, parameters, options, variables)
    unknown = sorted(set(options) - set(parameters))
    if unknown and not takes_any:
        guesses = [
            f"{name!r} (did you mean {close!r}?)"
            if (close := closest(name, parameters, cutoff=0.75))
            else repr(name)
            for name in unknown
        ]
        raise ConfigurationError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(guesses)} "
            f"for provider {provider!r}; valid options: {_describe_options(parameters)}"
        )
    missing = sorted(
        name
        for name, p in parameters.items()
        if p.default is inspect.Parameter.empty and name not in options
    )
    if missing:
        named = f"missing option{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
        if missing_hint is not None:
            raise ConfigurationError(f"{named} for provider {provider!r}: {missing_hint(missing)}")
        raise ConfigurationError(
            f"{named} for provider {provider!r}; valid options: {_describe_options(parameters)}"
        )
    coerced = {}
    for name, value in options.items():
        if name not in parameters:
            coerced[name] = value
            continue
        parameter = parameters[name]
        try:
            coerced[name] = checked(name, coerce(name, value, parameter.annotation), parameter)
        except ConfigurationError as exc:
            raise _named(exc, name, variables) from None
    try:
        gateway = factory(**coerced)
    except ConfigurationError as exc:
        named_error = _named(exc, str(exc).partition(": ")[0], variables)
        if named_error is exc:
            named_error = _with_hint(exc, parameters, options, missing_hint)
        if named_error is exc:
            raise
        raise named_error from None
    if not isinstance(gateway, SmsGateway):
        raise ConfigurationError(
            f"provider {provider!r} made a {type(gateway).__name__}, which is not an SmsGateway"
        )
    return gateway


def _drop_other_settings(
    provider: str,
    parameters: Mapping[str, inspect.Parameter],
    options: dict[str, Any],
    variables: Mapping[str, str],
) -> None:
    """Drop from ``options`` those read from variables that ``provider`` takes no option for,
    each logged at DEBUG: an option of another provider, or a reserved name (`is_reserved`).

    Raises:
        ConfigurationError: a variable names an option no provider takes (a misspelt
            ``SMSGATE_BASE_ULR`` must not leave the production URL in place); the message
            names each such variable, with a guess among ``provider``'s, never its value.
    """
    strays = sorted(options.keys() & variables.keys() - parameters.keys())
    if not strays:
        return
    others = _options_of_other_providers(provider)
    unknown = [name for name in strays if name not in others and not is_reserved(name)]
    if unknown:
        raise ConfigurationError(
            "; ".join(_taken_by_none(name, variables[name], parameters) for name in unknown)
        )
    for name in strays:
        logger.debug("%s ignored: provider %r takes no option %r", variables[name], provider, name)
        del options[name]


def _options_of_other_providers(provider: str) -> set[str]:
    """The names of the options every provider but ``provider`` takes (one that fails to
    load is passed over: it takes nothing that can be known)."""
    names: set[str] = set()
    for other in available_providers():
        if other != provider:
            try:
                names.update(_options(provider_factory(other))[0])
            except (ConfigurationError, ValueError):
                continue
    return names


def _taken_by_none(name: str, variable: str, parameters: Mapping[str, inspect.Parameter]) -> str:
    """``SMSGATE_BASE_ULR: no provider takes an option 'base_ulr' (did you mean
    SMSGATE_BASE_URL?)``: the guess is an option of the chosen provider, as a variable."""
    close = closest(name, parameters, cutoff=0.75)
    guess = ""
    if close and variable.lower().endswith(name):
        guess = f" (did you mean {variable[: -len(name)]}{close.upper()}?)"
    elif close:
        guess = f" (did you mean {close!r}?)"
    return f"{variable}: no provider takes an option {name!r}{guess}"


# A set of options a provider's own error says it needs, one of several (after ", or "):
# "token", "all of customer_id, key and secret".
_NEEDED = re.compile(r"(?:all of )?(\w+(?:, \w+)*(?: and \w+)?)")


def _with_hint(
    error: ConfigurationError,
    parameters: Mapping[str, inspect.Parameter],
    options: Mapping[str, Any],
    missing_hint: Callable[[Sequence[str]], str] | None,
) -> ConfigurationError:
    """A provider's own ``error`` that names the sets of options it needs, one of which must
    be given (``smsworks needs credentials: token, or all of customer_id, key and secret``),
    with ``missing_hint`` for each set (``; set SMSGATE_TOKEN, or set SMSGATE_CUSTOMER_ID,
    SMSGATE_KEY and SMSGATE_SECRET``): only for the sets begun, if any is. Any other error is
    returned as it is."""
    _, colon, needed = str(error).partition(": ")
    matches = [_NEEDED.fullmatch(part) for part in needed.split(", or ")]
    if missing_hint is None or not colon or not all(matches):
        return error
    sets = [re.split(r", | and ", match[1]) for match in matches if match is not None]
    if not all(name in parameters for names in sets for name in names):
        return error
    given = {name for name, value in options.items() if value not in (None, "")}
    begun = [names for names in sets if given.intersection(names)]
    hints = [
        missing_hint(missing)
        for names in begun or sets
        if (missing := [name for name in names if name not in given])
    ]
    if not hints:
        return error
    return ConfigurationError(f"{error}; {', or '.join(hints)}")


def _named(
    error: ConfigurationError, option: str, variables: Mapping[str, str]
) -> ConfigurationError:
    """``error`` about ``option``, naming the variable the option was read from if it was
    (``SMSGATE_TIMEZONE: must be ...`` for ``timezone: must be ...``)."""
    variable = variables.get(option)
    if variable is None:
        return error
    return ConfigurationError(f"{variable}: {str(error).removeprefix(f'{option}: ')}")


def from_config(config: Mapping[str, Any]) -> SmsGateway:
    """Build a gateway from a mapping: ``{"provider": "smsworks", "token": ..., ...}``.

    Every key but ``provider`` is an option of that provider, as for `connect`.

    Raises:
        ConfigurationError: ``provider`` is missing, or as for `connect`.
    """
    return from_sources(config)


def from_sources(
    config: Mapping[str, Any],
    *,
    variables: Mapping[str, str] | None = None,
    missing_hint: Callable[[Sequence[str]], str] | None = None,
) -> SmsGateway:
    """Build a gateway from a configuration gathered from several places: some options read
    from environment variables, others given explicitly (as `from_env` and the ``smsgate``
    command do).

    Args:
        config: ``provider`` and the options, as for `from_config`.
        variables: the keys of ``config`` that were read from environment variables, each
            with its variable's name (``{"token": "SMSGATE_TOKEN"}``). One that the provider
            does not take is ignored, and logged at DEBUG on the ``smsgate.config`` logger,
            if another registered provider takes it or its name is reserved (`is_reserved`);
            one that no provider takes is an error. An error about one's value names its
            variable (never the value). Every other key is explicit: an unknown one is an
            error.
        missing_hint: says how to give the required options that are missing
            (``["token"]`` → ``"set SMSGATE_TOKEN"``), for the error that names them, and
            for a provider's own error that lists the sets of options it needs, one of which
            must be given (``smsworks needs credentials: token, or all of customer_id, key
            and secret``): the hint for each set follows it, after ``;``.

    Raises:
        ConfigurationError: ``provider`` is missing, a variable names an option no provider
            takes, or as for `connect`.
    """
    if not isinstance(config, Mapping):
        raise ConfigurationError(f"configuration must be a mapping, not {type(config).__name__}")
    options = dict(config)
    if "provider" not in options:
        raise ConfigurationError(
            f"configuration has no 'provider'; available providers: {_names()}"
        )
    provider = options.pop("provider")
    return _connect(provider, options, variables or {}, missing_hint)


def from_env(environ: Mapping[str, str] | None = None, *, prefix: str = ENV_PREFIX) -> SmsGateway:
    """Build a gateway from environment variables.

    ``SMSGATE_PROVIDER`` names the provider; every other ``SMSGATE_<OPTION>`` variable sets
    that option (``SMSGATE_TOKEN``, ``SMSGATE_DEFAULT_REGION`` ...). Numbers and booleans
    (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``) are read as the
    option's type, and mappings as JSON (``SMSGATE_SENDERS='{"Acme": 123}'``).

    A variable that names no option of that provider but one of another registered provider
    is ignored (logged at DEBUG on the ``smsgate.config`` logger): a shell may hold another
    provider's settings. A variable that names an option of no provider is an error, with a
    guess among the chosen provider's (``SMSGATE_BASE_ULR: no provider takes an option
    'base_ulr' (did you mean SMSGATE_BASE_URL?)``). Some names are never options
    (`RESERVED`, `RESERVED_PREFIXES`): ``SMSGATE_DB``, ``SMSGATE_REDIS``,
    ``SMSGATE_SUPPRESSION``, those smsgate's own tests and benchmarks read, and every
    ``SMSGATE_WEBHOOK_*`` name, such as ``SMSGATE_WEBHOOK_SECRET``, kept for a webhook
    receiver's settings.

    Raises:
        ConfigurationError: ``SMSGATE_PROVIDER`` is unset, a variable names an option no
            provider takes, required options have no variable (or credentials none: the
            message says which variables to set), or a variable's value is invalid (the
            message names the variable, never its value).
    """
    config = env_config(environ, prefix=prefix)
    if "provider" not in config:
        raise ConfigurationError(f"{prefix}PROVIDER is not set; set it to one of: {_names()}")

    def variable(name: str) -> str:
        return f"{prefix}{name.upper()}"

    return from_sources(
        config,
        variables={name: variable(name) for name in config},
        missing_hint=lambda names: f"set {joined([variable(name) for name in names])}",
    )


def env_config(
    environ: Mapping[str, str] | None = None, *, prefix: str = ENV_PREFIX
) -> dict[str, str]:
    """The configuration that `from_env` reads: every ``<prefix><NAME>`` variable as ``name``,
    but those that configure something else (`is_reserved`)."""
    environ = os.environ if environ is None else environ
    return {
        name: value
        for key, value in environ.items()
        if key.startswith(prefix) and not is_reserved(name := key[len(prefix) :].lower())
    }


RESERVED = frozenset(
    {
        "db",
        "redis",
        "suppression",
        "test_postgres",
        "test_redis",
        "bench_postgres",
        "bench_redis",
        "crash_in_commit",
    }
)
"""Names of ``SMSGATE_*`` variables that are no gateway option: ``SMSGATE_DB`` and
``SMSGATE_REDIS``, the database and the Redis of ``smsgate campaign``,
``SMSGATE_SUPPRESSION``, a suppression list, and those smsgate's own tests and benchmarks
read (``SMSGATE_TEST_POSTGRES``, ``SMSGATE_TEST_REDIS``, ``SMSGATE_BENCH_POSTGRES``,
``SMSGATE_BENCH_REDIS``, ``SMSGATE_CRASH_IN_COMMIT``), so that a shell a developer tests in
still sends."""

RESERVED_PREFIXES = ("webhook_",)
"""Beginnings of the names of ``SMSGATE_*`` variables that are no gateway option:
``SMSGATE_WEBHOOK_*`` (``SMSGATE_WEBHOOK_SECRET`` ...) is kept for the settings of a
service's webhook receiver, which the service reads itself."""


def is_reserved(name: str) -> bool:
    """Whether ``SMSGATE_<NAME>`` configures something other than a gateway (`RESERVED`,
    `RESERVED_PREFIXES`); ``name`` in lower case, as `env_config` gives it."""
    return name in RESERVED or name.startswith(RESERVED_PREFIXES)


def from_toml(path: str | os.PathLike[str], *, table: str = "smsgate") -> SmsGateway:
    """Build a gateway from a table of a TOML file.

    ``table`` may be dotted (``"tool.smsgate"`` reads ``[tool.smsgate]`` of a pyproject.toml).

    .. code-block:: toml

        [smsgate]
        provider = "smsworks"
        token = "JWT ..."
        default_region = "GB"

    Raises:
        ConfigurationError: the file cannot be read or parsed, has no such table, or as for
            `from_config`.
    """
    return from_config(toml_config(path, table=table))


def toml_config(path: str | os.PathLike[str], *, table: str = "smsgate") -> dict[str, Any]:
    """The configuration that `from_toml` reads: the table ``table`` of the file.

    Raises:
        ConfigurationError: the file cannot be read or parsed, or has no such table.
    """
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {os.fspath(path)!r}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{os.fspath(path)!r} is not valid TOML: {exc}") from None
    section: Any = document
    for key in table.split("."):
        section = section.get(key) if isinstance(section, dict) else None
    if not isinstance(section, dict):
        raise ConfigurationError(f"{os.fspath(path)!r} has no [{table}] table")
    return section
