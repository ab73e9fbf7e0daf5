"""What every command shares: its settings, its exit codes, and JSON-ready output."""

from __future__ import annotations

import enum
import json
import shlex
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table

import smsgate
from smsgate.config import env_config, toml_config
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
        if self.config_file is not None:
            config: dict[str, Any] = dict(toml_config(self.config_file))
        else:
            config = dict(env_config())
        if self.provider is not None:
            config["provider"] = self.provider
        for option in self.options:
            key, sep, value = option.partition("=")
            if not sep or not key.strip():
                # The value is not repeated: it may be a token typed with ':' for '='.
                raise click.UsageError("--option takes KEY=VALUE; one of them has no '='")
            config[key.strip().replace("-", "_")] = value
        if "provider" not in config:
            raise ConfigurationError(
                "no provider: give --provider, set SMSGATE_PROVIDER, or use --config with an "
                "[smsgate] table"
            )
        return config

    def gateway(self) -> SmsGateway:
        return smsgate.from_config(self.config())

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
