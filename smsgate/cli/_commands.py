"""The ``smsgate`` commands (click), printing with rich."""

from __future__ import annotations

import asyncio
import csv
import enum
import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import smsgate
from smsgate._version import __version__
from smsgate.config import env_config, provider_option_info, toml_config
from smsgate.errors import (
    ConfigurationError,
    GatewayError,
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import SmsGateway
from smsgate.model import MessageFields
from smsgate.outcomes import can_find

OK, FAILED, USAGE, UNCERTAIN, INTERRUPTED = 0, 1, 2, 3, 130
CSV_COLUMNS = ("to", "text", "sender", "reference")
HEADER_LINES = 1  # a CSV row's line number is its index plus this, plus one
_sending: ContextVar[bool] = ContextVar("smsgate_cli_sending", default=False)
"""Whether the running command sends messages (an uncertain failure then exits 3)."""


def exit_code(error: SmsGateError, *, sending: bool = True) -> int:
    """The exit code for an error that ended a command; ``sending``: the command sends."""
    if isinstance(error, ConfigurationError | ValidationError | UnsupportedFeature):
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
                raise click.UsageError(f"--option takes KEY=VALUE, not {option!r}")
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-p", "--provider", help="Provider name (see `smsgate providers`).")
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with an [smsgate] table (instead of SMSGATE_* variables).",
)
@click.option(
    "-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="A provider option."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.version_option(__version__, prog_name="smsgate")
@click.pass_context
def cli(
    context: click.Context,
    provider: str | None,
    config_file: Path | None,
    options: tuple[str, ...],
    as_json: bool,
) -> None:
    """Send SMS through any provider with one API.

    The provider and its options come from --config FILE, or else from SMSGATE_* environment
    variables (SMSGATE_PROVIDER=smsworks, SMSGATE_TOKEN=...); --provider and --option
    override either. `smsgate demo` shows everything against a local sandbox.
    """
    context.obj = Settings(provider, config_file, options, as_json, Console(), Console(stderr=True))


def _fields(sender: str | None, reference: str | None, region: str | None) -> MessageFields:
    fields: MessageFields = {}
    if sender:
        fields["sender"] = sender
    if reference:
        fields["reference"] = reference
    if region:
        fields["region"] = region
    return fields


message_options = [
    click.option("--sender", help="Sender name or number (else the gateway's default)."),
    click.option("--reference", help="Your own id, echoed back on results."),
    click.option("--region", help="Country of a national number, e.g. GB."),
]


def with_message_options(command: Any) -> Any:
    for option in reversed(message_options):
        command = option(command)
    return command


@cli.command()
@click.argument("to")
@click.argument("text")
@with_message_options
@click.pass_context
def send(
    context: click.Context,
    to: str,
    text: str,
    sender: str | None,
    reference: str | None,
    region: str | None,
) -> int:
    """Send TEXT to the number TO now."""
    settings = settings_of(context)
    _sending.set(True)

    async def main() -> smsgate.Receipt:
        async with settings.gateway() as gateway:
            message = gateway.message(to, text, **_fields(sender, reference, region))
            return await gateway.send(message)

    settings.show("Sent", asyncio.run(main()))
    return OK


@cli.command()
@click.argument("to")
@click.argument("text")
@click.option(
    "--at", "at", required=True, help="When, in ISO 8601 with its offset: 2026-12-24T09:00+01:00"
)
@with_message_options
@click.pass_context
def schedule(
    context: click.Context,
    to: str,
    text: str,
    at: str,
    sender: str | None,
    reference: str | None,
    region: str | None,
) -> int:
    """Have the provider send TEXT to TO at a later time."""
    settings = settings_of(context)
    _sending.set(True)
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationError("at", f"{at!r} is not an ISO 8601 date and time") from None

    async def main() -> smsgate.Receipt:
        async with settings.gateway() as gateway:
            message = gateway.message(to, text, **_fields(sender, reference, region))
            return await gateway.schedule(message, when)

    settings.show("Scheduled", asyncio.run(main()))
    return OK


@cli.command()
@click.argument("message_id")
@click.option("--wait", is_flag=True, help="Wait until the status is final.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to --wait at most.")
@click.pass_context
def status(context: click.Context, message_id: str, wait: bool, timeout: float) -> int:
    """Show where the message MESSAGE_ID stands."""
    settings = settings_of(context)

    async def main() -> smsgate.StatusReport:
        async with settings.gateway() as gateway:
            if wait:
                return await smsgate.wait_for_final(gateway, message_id, timeout=timeout)
            return await gateway.status(message_id)

    settings.show("Status", asyncio.run(main()))
    return OK


@cli.command()
@click.argument("message_id")
@click.pass_context
def cancel(context: click.Context, message_id: str) -> int:
    """Cancel the scheduled message MESSAGE_ID."""
    settings = settings_of(context)

    async def main() -> smsgate.StatusReport:
        async with settings.gateway() as gateway:
            return await gateway.cancel(message_id)

    settings.show("Cancelled", asyncio.run(main()))
    return OK


@cli.command()
@click.pass_context
def balance(context: click.Context) -> int:
    """Show the credits left on the account (providers that tell)."""
    settings = settings_of(context)

    async def main() -> tuple[str, float]:
        async with settings.gateway() as gateway:
            ask = getattr(gateway, "balance", None)
            if ask is None:
                raise UnsupportedFeature(gateway.name, "a balance query")
            credits: float = await ask()
            return gateway.name, credits

    provider, credits = asyncio.run(main())
    if settings.as_json:
        settings.out.print_json(json.dumps({"provider": provider, "credits": credits}))
    else:
        settings.out.print(f"{provider}: {credits:g} credits")
    return OK


@cli.command()
@click.pass_context
def providers(context: click.Context) -> int:
    """List the providers and the options each takes."""
    settings = settings_of(context)
    listed = {name: provider_option_info(name) for name in smsgate.available_providers()}
    if settings.as_json:
        settings.out.print_json(json.dumps({name: plain(info) for name, info in listed.items()}))
        return OK
    table = Table("provider", "options (* required)")
    for name, info in listed.items():
        table.add_row(name, ", ".join(f"{o.name}{'*' if o.required else ''}" for o in info))
    settings.out.print(table)
    return OK


# --- bulk ----------------------------------------------------------------------------------


def read_rows(path: Path) -> tuple[int, Iterator[dict[str, str]]]:
    """The number of rows of a CSV file and a reader of them, after checking its header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            header = next(csv.reader(file), None)
            count = sum(1 for _ in csv.reader(file))
    except OSError as exc:
        raise ValidationError("FILE", f"cannot read {str(path)!r}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError("FILE", f"{str(path)!r} is not a UTF-8 CSV file: {exc}") from None
    columns = [c.strip() for c in header or ()]
    missing = [c for c in ("to", "text") if c not in columns]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if missing or unknown:
        problem = (
            f"needs columns to and text (missing: {', '.join(missing)})"
            if missing
            else (f"has unknown columns {', '.join(unknown)}")
        )
        raise ValidationError(
            "FILE", f"{str(path)!r} {problem}; columns are {', '.join(CSV_COLUMNS)}"
        )

    def rows() -> Iterator[dict[str, str]]:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            next(reader)
            for values in reader:
                row = dict(zip(columns, values, strict=False))
                yield {key: value for key, value in row.items() if value.strip()}

    return count, rows()


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--concurrency", default=8, show_default=True, help="Requests in flight at most.")
@click.option(
    "--patience",
    default=30.0,
    show_default=True,
    help="Seconds to look uncertain rows up at the provider, where it can (0: look once).",
)
@click.pass_context
def bulk(context: click.Context, file: Path, concurrency: int, patience: float) -> int:
    """Send every row of a CSV FILE (columns to, text; optional sender, reference)."""
    settings = settings_of(context)
    _sending.set(True)
    total, rows = read_rows(file)
    summary, elapsed, interrupted = asyncio.run(_bulk(settings, rows, total, concurrency, patience))
    report_summary(settings, summary, elapsed, interrupted=interrupted)
    if interrupted:
        return INTERRUPTED
    if summary.uncertain:
        return UNCERTAIN
    return FAILED if summary.failed or summary.unsent else OK


async def _bulk(
    settings: Settings,
    rows: Iterator[dict[str, str]],
    total: int,
    concurrency: int,
    patience: float,
) -> tuple[smsgate.Summary, float, bool]:
    started = time.perf_counter()
    async with settings.gateway() as gateway:
        label = f"sending through {gateway.name}"
        summary, interrupted = await send_with_progress(
            settings, gateway, rows, total, label, concurrency, patience=patience
        )
    return summary, time.perf_counter() - started, interrupted


async def send_with_progress(
    settings: Settings,
    gateway: SmsGateway,
    rows: Iterable[Mapping[str, str]],
    total: int,
    label: str,
    concurrency: int = 8,
    *,
    patience: float | None = None,
) -> tuple[smsgate.Summary, bool]:
    """`send_many` with a progress bar on standard error (none with ``--json``), looking
    uncertain sends up where the gateway can (unless ``patience`` is ``None``).

    Returns the summary, and whether the run was interrupted (Ctrl-C): the summary then
    accounts for every row read, with what was in flight uncertain and the rest unsent.
    """
    resolving = patience is not None and can_find(gateway)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=settings.err,
        disable=settings.as_json,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advanced(progress: smsgate.Progress) -> None:
            bar.update(task, completed=progress.done)

        run = smsgate.send_many(
            gateway,
            rows,
            concurrency=concurrency,
            on_progress=advanced,
            resolve_uncertain=resolving,
            resolve_patience=patience or 0.0,
        )
        try:
            async with run:
                async for _ in run:
                    pass
        except asyncio.CancelledError:  # Ctrl-C: the run has stopped and accounted for all
            return run.summary, True
        bar.update(task, completed=run.summary.total)
    return run.summary, False


def report_summary(
    settings: Settings, summary: smsgate.Summary, elapsed: float, *, interrupted: bool = False
) -> None:
    """The counts, every uncertain row, unsent rows by line, and the first failed rows; with
    ``--json``, all of them as JSON."""
    uncertain = sorted(summary.uncertainties, key=lambda o: o.index)
    unsent = sorted(summary.unsent_inputs, key=lambda o: o.index)
    failures = sorted(summary.failures, key=lambda o: o.index)
    if settings.as_json:
        data = {
            "accepted": summary.accepted,
            "failed": summary.failed,
            "uncertain": summary.uncertain,
            "unsent": summary.unsent,
            "resolved": summary.resolved,
            "interrupted": interrupted,
            "seconds": round(elapsed, 3),
            "problems": [_problem(o) for o in sorted([*failures, *uncertain], key=_line)],
            "unsent_rows": [_line(o) for o in unsent],
        }
        settings.out.print_json(json.dumps(data))
        return
    table = Table("accepted", "failed", "uncertain", "unsent", "seconds", "messages/s")
    rate = summary.total / elapsed if elapsed else 0.0
    table.add_row(
        f"{summary.accepted:,}",
        f"{summary.failed:,}",
        f"{summary.uncertain:,}",
        f"{summary.unsent:,}",
        f"{elapsed:.1f}",
        f"{rate:,.0f}",
    )
    settings.out.print(table)
    if interrupted:
        settings.out.print("interrupted: requests in flight were stopped")
    if summary.resolved:
        settings.out.print(
            f"{summary.resolved:,} uncertain rows were looked up at the provider and found: "
            "they count as accepted"
        )
    if uncertain:
        title = "uncertain rows: the provider may have them; check before sending them again"
        settings.out.print(_problems(uncertain, title))
    if unsent:
        settings.out.print(
            "unsent rows (never sent; safe to send again): lines "
            + line_ranges([_line(o) for o in unsent]),
            soft_wrap=True,
        )
    if failures:
        shown = failures[:20]
        title = "failed rows" + (f" (first {len(shown)})" if len(shown) < summary.failed else "")
        settings.out.print(_problems(shown, title))


def _problems(outcomes: Sequence[smsgate.Outcome], title: str) -> Table:
    listed = Table("row", "to", "status", "why", title=title, title_justify="left")
    for outcome in outcomes:
        row = _problem(outcome)
        listed.add_row(str(row["row"]), row["to"] or "", row["status"], row["error"])
    return listed


def _line(outcome: smsgate.Outcome) -> int:
    return outcome.index + HEADER_LINES + 1


def _problem(outcome: smsgate.Outcome) -> dict[str, Any]:
    return {
        "row": _line(outcome),
        "to": outcome.message.to if outcome.message is not None else None,
        "status": outcome.status.value,
        "error": str(outcome.error),
        "key": outcome.key,
    }


def line_ranges(lines: Sequence[int]) -> str:
    """Sorted line numbers as ranges: ``2-4, 7``.

    >>> line_ranges([2, 3, 4, 7])
    '2-4, 7'
    """
    ranges: list[list[int]] = []
    for line in lines:
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


# --- the sandbox and the demo --------------------------------------------------------------


@cli.command()
@click.option("--port", default=8025, show_default=True, help="Port on 127.0.0.1 (0: any).")
@click.option("--seed", type=int, default=None, help="Seed the outcomes.")
@click.option("--failure-rate", default=0.1, show_default=True, help="Share of messages failing.")
@click.option("--send-delay", default=0.5, show_default=True, help="Seconds queued.")
@click.option("--deliver-delay", default=1.5, show_default=True, help="Seconds from sent to final.")
@click.option("--webhook-url", help="Where to post The SMS Works' delivery reports.")
@click.pass_context
def sandbox(
    context: click.Context,
    port: int,
    seed: int | None,
    failure_rate: float,
    send_delay: float,
    deliver_delay: float,
    webhook_url: str | None,
) -> int:
    """Run the local stand-in for both providers until interrupted (Ctrl-C)."""
    from smsgate.sandbox import PROVIDERS, Sandbox

    settings = settings_of(context)
    running = Sandbox(
        seed=seed,
        failure_rate=failure_rate,
        send_delay=send_delay,
        deliver_delay=deliver_delay,
        webhook_url=webhook_url,
        port=port,
    )

    async def main() -> None:
        async with running:
            configs = {name: running.config(name) for name in PROVIDERS}
            if settings.as_json:
                settings.out.print_json(json.dumps({"url": running.url, "providers": configs}))
            else:
                settings.out.print(f"sandbox on {running.url} — Ctrl-C to stop")
                for name, config in configs.items():
                    variables = " ".join(
                        f"SMSGATE_{key.upper()}={_shell(value)}" for key, value in config.items()
                    )
                    settings.out.print(f"{name}: {variables}", soft_wrap=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        return OK
    return OK  # pragma: no cover - main() only ends by interruption


def _shell(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, dict) else str(value)
    return f"'{text}'" if any(c in text for c in " {}\"'$") else text


@cli.command()
@click.option("--messages", default=10_000, show_default=True, help="Messages in the bulk run.")
@click.option("--seed", default=1, show_default=True, help="Seed the sandbox's outcomes.")
@click.pass_context
def demo(context: click.Context, messages: int, seed: int) -> int:
    """Send, schedule, track, cancel and bulk-send through both providers, in a local
    sandbox: no account needed."""
    from smsgate.cli._demo import run_demo

    settings = settings_of(context)
    return asyncio.run(run_demo(settings, messages=messages, seed=seed))


# --- running -------------------------------------------------------------------------------


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``cli`` and turn what ends it into one line and an exit code."""
    err = Console(stderr=True)
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="smsgate",
            standalone_mode=False,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        err.print("smsgate: interrupted")
        return INTERRUPTED
    except SmsGateError as exc:
        err.print(f"smsgate: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exit_code(exc, sending=_sending.get())
    finally:
        _sending.set(False)
    return result if isinstance(result, int) else OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
