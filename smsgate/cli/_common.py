"""What every command shares: its settings, its exit codes, the types of its options, and
JSON-ready output."""

from __future__ import annotations

import enum
import json
import re
import shlex
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from smsgate._words import joined
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
                return f"add {joined(names)} to {table}, or pass {_flags(names)}"
        else:
            config = dict(env_config())
            variables = {name: f"{ENV_PREFIX}{name.upper()}" for name in config}

            def missing_hint(names: Sequence[str]) -> str:
                named = joined([f"{ENV_PREFIX}{name.upper()}" for name in names])
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
    """A time to send at, in the future, with its time zone.

    DATE is an ISO 8601 date (`2099-12-24`; `20991224` and `2099-W52-4` too), TIME an ISO
    8601 time (`09:00`, `09:00:30`, `09`), OFFSET `Z` or `+HH:MM` (`-HH:MM`, `+HHMM`,
    `+HH`), ZONE a time zone's IANA name (`Europe/London`, `UTC`). It takes:

    - DATE `T` TIME OFFSET: `2099-12-24T09:00+01:00`, `2099-12-24T08:00Z`;
    - the same with a space for the `T` or before the offset: `"2099-12-24 09:00+01:00"`,
      `"2099-12-24 09:00 +01:00"`;
    - DATE TIME ZONE, with `T` or a space between date and time: `"2099-12-24 09:00
      Europe/London"`.

    It refuses, each in one line saying what to give instead: a date without a time, whatever
    follows it (`2099-12-24`, `"2099-12-24 Europe/London"`, `"2099-12-24 +01:00"`,
    `2099-12-24Z`); a time without an offset or zone; both an offset and a zone; a time the
    clocks skip, or show twice as they go back (its offset tells which); a zone named by an
    abbreviation (`ABBREVIATED_ZONES`: `EST`, `CET`, `EST5EDT`, `GMT` ...) or `Etc/GMT+5`
    (which is -05:00); a time not in the future.
    """

    name = "when"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = " ".join(str(value).split())
        try:
            at = _read_when(text)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        if at <= datetime.now(UTC):
            self.fail(f"{text} is not in the future; to send now, use `smsgate send`", param, ctx)
        return at


ABBREVIATED_ZONES: dict[str, str] = {
    "EST": "America/New_York",
    "EST5EDT": "America/New_York",
    "CST6CDT": "America/Chicago",
    "MST": "America/Denver",
    "MST7MDT": "America/Denver",
    "PST8PDT": "America/Los_Angeles",
    "HST": "Pacific/Honolulu",
    "CET": "Europe/Paris",
    "MET": "Europe/Paris",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
    "GMT": "Europe/London",
    "GMT0": "Europe/London",
    "GMT+0": "Europe/London",
    "GMT-0": "Europe/London",
    "Greenwich": "Europe/London",
}
"""Time zones the tz database names by an abbreviation, which ``--at`` refuses, and a place
it suggests instead. They keep no place's clocks: EST is -05:00 in July too (New York is then
-04:00), GMT is +00:00 while London keeps summer time, and what CET or EST5EDT do has changed
between versions of the database."""

_POSIX_GMT = re.compile(r"Etc/GMT[+-][1-9][0-9]?")  # Etc/GMT+5 is -05:00: POSIX's sign is backwards
_STAMP = re.compile(r"(?P<day>[0-9]{4}-?(?:W[0-9]{2}(?:-?[0-9])?|[0-9]{2}-?[0-9]{2}))(?P<rest>.*)")
_NOT_READ = (
    "is not an ISO 8601 date and time with its offset (2099-12-24T09:00+01:00), nor a date "
    'and time with a time zone ("2099-12-24 09:00 Europe/London")'
)


def _read_when(text: str) -> datetime:
    """``text`` (its words one space apart) as an aware datetime, in the forms `When` takes;
    `ValueError` says what is wrong, in shell terms."""
    words = text.split(" ")
    zone = words.pop() if len(words) > 1 and not words[-1][:1].isdigit() else None
    offset = zone if zone is not None and _is_offset(zone) else None
    stamp = _STAMP.fullmatch(words[0])
    if stamp is None or len(words) > 2 or (len(words) == 2 and stamp["rest"]):
        raise ValueError(f"{text!r} {_NOT_READ}")
    try:
        day = date.fromisoformat(stamp["day"])
    except ValueError:
        raise ValueError(f"{text!r} {_NOT_READ}") from None
    rest = stamp["rest"]
    if len(words) == 2:
        clock_text = words[1]
    elif rest[:1] in ("T", "t"):
        clock_text = rest[1:]
    elif not rest or _is_offset(rest):
        clock_text = rest
    else:  # "2099-12-24x09:00"
        raise ValueError(f"{text!r} {_NOT_READ}")
    if not clock_text or _is_offset(clock_text):  # "2099-12-24+01:00": a date, an offset
        raise ValueError(_no_time(text, stamp["day"], zone or clock_text))
    try:
        if not clock_text[0].isdigit():
            raise ValueError  # "2099-12-24TT09:00"
        clock = time.fromisoformat(clock_text + (offset or ""))
    except ValueError:
        raise ValueError(f"{text!r} {_NOT_READ}") from None
    if zone is not None and offset is None:
        if clock.tzinfo is not None:
            raise ValueError(f"{text} gives both an offset and a time zone: give one of them")
        return _in_zone(datetime.combine(day, clock), zone)
    if clock.tzinfo is None:
        raise ValueError(
            f"{text} has no time zone: give its offset ({text}+01:00) or its zone "
            f'("{text} Europe/London")'
        )
    return datetime.combine(day, clock)


def _is_offset(text: str) -> bool:
    return text[:1] in ("+", "-", "Z")


def _no_time(text: str, day: str, zone: str) -> str:
    """What to say of a date given without a time, and followed by ``zone`` (or by ``""``)."""
    if not zone:
        return (
            f"{text} has no time: give a time and its offset or zone, such as "
            f'{day}T09:00+01:00 or "{day} 09:00 Europe/London"'
        )
    if _is_offset(zone):
        return f"{text} has no time: give one, such as {day}T09:00{zone}"
    return f'{text} has no time: give one, such as "{day} 09:00 {zone}"'


def _in_zone(naive: datetime, name: str) -> datetime:
    """``naive`` on the clocks of the zone ``name``, if they show it, and only once."""
    try:
        zone = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone: give an IANA name such as Europe/London, or an "
            "offset such as +01:00"
        ) from None
    at = naive.replace(tzinfo=zone)
    if name in ABBREVIATED_ZONES:
        raise ValueError(
            f"{name!r} is an abbreviation, not a place's clocks: give a place's zone, "
            f'"{_wall(naive, " ")} {ABBREVIATED_ZONES[name]}", or an offset, '
            f"{_wall(naive, 'T')}{_offset(at)} (what {name} is then)"
        )
    if _POSIX_GMT.fullmatch(name):
        raise ValueError(
            f"{name!r} is {_offset(at)} (its sign is backwards): give the offset instead, "
            f"{_wall(naive, 'T')}{_offset(at)}"
        )
    if at.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(
            f"{_wall(naive, ' ')} does not exist in {name}: the clocks go forward then; give "
            "a time before or after"
        )
    again = naive.replace(tzinfo=zone, fold=1)
    if again.utcoffset() != at.utcoffset():
        wall = _wall(naive, "T")
        raise ValueError(
            f"{_wall(naive, ' ')} happens twice in {name} (the clocks go back): give its "
            f"offset, {wall}{_offset(at)} or {wall}{_offset(again)}"
        )
    return at


def _wall(naive: datetime, sep: str) -> str:
    """A wall time as ISO 8601, to the minute unless it has seconds."""
    whole_minute = naive.second == naive.microsecond == 0
    return naive.isoformat(sep=sep, timespec="minutes" if whole_minute else "auto")


def _offset(at: datetime) -> str:
    """``at``'s offset from UTC, as ``+01:00``."""
    return at.isoformat(timespec="minutes")[-6:]


WHEN = When()
