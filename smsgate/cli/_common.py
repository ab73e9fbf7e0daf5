"""What every command shares: its settings, its exit codes, the types of its options, and
JSON-ready output."""

from __future__ import annotations

import enum
import json
import shlex
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from smsgate.config import ENV_PREFIX, env_config, from_sources, toml_config
from smsgate.errors import (
    ConfigurationError,
    GatewayError,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import SmsGateway
from smsgate.journal import JournalMismatch

OK, FAILED, USAGE, UNCERTAIN, INTERRUPTED = 0, 1, 2, 3, 130
SENDING: ContextVar[bool] = ContextVar("smsgate_cliSENDING", default=False)
"""Whether the running command sends messages (an uncertain failure then exits 3)."""
ARGV: ContextVar[tuple[str, ...]] = ContextVar("smsgate_cliARGV", default=())


def mark_sending() -> None:
    """Say that the running command sends messages (an uncertain failure then exits 3)."""
    SENDING.set(True)


def command_line() -> str:
    """The running command, as a shell line that runs it again."""
    return shlex.join(["smsgate", *ARGV.get()])


def exit_code(error: SmsGateError, *, sending: bool = True) -> int:
    """The exit code for an error that ended a command; ``sending``: the command sends."""
    if isinstance(error, ConfigurationError | ValidationError | UnsupportedFeature):
        return USAGE
    if isinstance(error, JournalMismatch):  # the file changed: nothing was sent
        return USAGE
    if sending and isinstance(error, GatewayError) and error.maybe_sent:
        return UNCERTAIN
    return FAILED


@attrs.define
class Settings:
    """What the group's options say, for every command."""

    provider: str | None
    config_file: Path | None
    options: tuple[str, ...]
    as_json: bool
    out: Console
    err: Console

    def config(self) -> dict[str, Any]:
        """The gateway's configuration: the TOML file if given, else the environment; then
        ``--provider`` and ``--option`` on top."""
        return self._sources()[0]

    def gateway(self) -> SmsGateway:
        """The gateway the configuration describes. ``SMSGATE_*`` variables that the provider
        takes no option for are ignored (another provider's, say); a key of the TOML file or
        an ``--option`` must be one of its options."""
        config, variables, missing_hint = self._sources()
        return from_sources(config, variables=variables, missing_hint=missing_hint)

    def _sources(
        self,
    ) -> tuple[dict[str, Any], dict[str, str], Callable[[Sequence[str]], str]]:
        """The configuration, the environment variable each of its options was read from,
        and what to say of missing options."""
        variables: dict[str, str] = {}
        if self.config_file is not None:
            config: dict[str, Any] = dict(toml_config(self.config_file))
            table = f"the [smsgate] table of {str(self.config_file)!r}"

            def missing_hint(names: Sequence[str]) -> str:
                return f"add {_and(names)} to {table}, or pass {_flags(names)}"
        else:
            config = dict(env_config())
            variables = {name: f"{ENV_PREFIX}{name.upper()}" for name in config}

            def missing_hint(names: Sequence[str]) -> str:
                named = _and([f"{ENV_PREFIX}{name.upper()}" for name in names])
                return f"set {named} or pass {_flags(names)}"

        if self.provider is not None:
            config["provider"] = self.provider
            variables.pop("provider", None)
        for option in self.options:
            key, sep, value = option.partition("=")
            if not sep or not key.strip():
                # The value is not repeated: it may be a token typed with ':' for '='.
                raise click.UsageError("--option takes KEY=VALUE; one of them has no '='")
            name = key.strip().replace("-", "_")
            config[name] = value
            variables.pop(name, None)
        if "provider" not in config:
            raise ConfigurationError(
                "no provider: give --provider, set SMSGATE_PROVIDER, or use --config with an "
                "[smsgate] table"
            )
        return config, variables, missing_hint

    def show(self, title: str, value: Any) -> None:
        """Print an attrs value (a receipt, a report ...) as a table, or as JSON."""
        data = plain(value)
        if self.as_json:
            self.out.print_json(json.dumps(data))
            return
        table = Table(title=title, show_header=False, title_justify="left")
        for key, item in data.items():
            if item not in (None, {}, [], ""):
                table.add_row(key, str(item))
        self.out.print(table)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data; raw provider answers are left out."""
    if attrs.has(type(value)):
        return {
            field.name: plain(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if field.name != "raw"
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def settings_of(context: click.Context) -> Settings:
    settings = context.find_object(Settings)
    assert settings is not None
    return settings


def _and(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(filter(None, [", ".join(words[:-1]), *words[-1:]]))


def _flags(names: Sequence[str]) -> str:
    return " ".join(f"-o {name}=VALUE" for name in names)


# --- option types: read and checked before a command runs ---------------------------------


def concurrency_option(help: str = "Requests in flight at most.") -> Callable[[Any], Any]:
    """``--concurrency N``: a whole number of at least 1, refused before the command runs."""
    return click.option(
        "--concurrency", default=8, show_default=True, type=click.IntRange(min=1), help=help
    )


if TYPE_CHECKING:
    _ReadsDatetime = click.ParamType[datetime]  # generic from click 8.2 on
else:
    _ReadsDatetime = click.ParamType


class When(_ReadsDatetime):
    """A time to send at, in the future and with its time zone: ISO 8601 with its offset
    (``2099-12-24T09:00+01:00``, ``2099-12-24T08:00Z``), or a date and time followed by a
    time zone's name (``"2099-12-24 09:00 Europe/London"``)."""

    name = "when"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            at = _read_when(text)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if at <= datetime.now(UTC):
            self.fail(f"{text} is not in the future; to send now, use `smsgate send`", param, ctx)
        return at


def _read_when(text: str) -> datetime:
    """``text`` as an aware datetime; `ValueError` says what is wrong, in shell terms."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    head, _, zone_name = text.rpartition(" ")
    if at is None and head.strip():
        try:
            naive = datetime.fromisoformat(head.strip())
        except ValueError:
            naive = None
        if naive is not None and naive.tzinfo is None:
            if zone_name[:1] in ("+", "-"):  # "2099-12-24 09:00 +01:00"
                return _read_when(head.strip() + zone_name)
            return _in_zone(naive, zone_name)
    if at is None:
        raise ValueError(
            f"{text!r} is not an ISO 8601 date and time with its offset "
            '(2099-12-24T09:00+01:00), nor a date and time with a time zone ("2099-12-24 '
            '09:00 Europe/London")'
        )
    if _is_date(text):
        raise ValueError(
            f"{text} has no time: give a time and its offset or zone, such as "
            f'{text}T09:00+01:00 or "{text} 09:00 Europe/London"'
        )
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"{text} has no time zone: give its offset ({text}+01:00) or its zone "
            f'("{text} Europe/London")'
        )
    return at


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _in_zone(naive: datetime, name: str) -> datetime:
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone: give an IANA name such as Europe/London, or an "
            "offset such as +01:00"
        ) from None
    at = naive.replace(tzinfo=zone)
    if at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(
            f"{naive.isoformat(sep=' ')} does not exist in {name}: the clocks go forward "
            "then; give a time before or after"
        )
    return at


WHEN = When()
