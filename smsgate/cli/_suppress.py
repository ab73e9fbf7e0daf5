"""``smsgate suppress``: the suppression list (`smsgate.suppression`) from a shell."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from smsgate.cli._commands import cli
from smsgate.cli._common import OK, Settings, settings_of
from smsgate.errors import ValidationError
from smsgate.numbers import check_region
from smsgate.suppression import Entry, SqliteSuppressionList, SuppressionList
from smsgate.suppression._base import to_e164

__all__ = ["suppress"]

_store_options = [
    click.option(
        "--list",
        "list_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="SMSGATE_SUPPRESSION",
        help="The list's SQLite file (or SMSGATE_SUPPRESSION).",
    ),
    click.option(
        "--db", "conninfo", metavar="DSN", help="Keep the list in PostgreSQL: a URL or conninfo."
    ),
    click.option(
        "--schema",
        default="smsgate",
        show_default=True,
        help="With --db: the schema of the list's table.",
    ),
]
_region_option = click.option(
    "--region", metavar="REGION", help="Country of national numbers, e.g. GB."
)


def _with_store_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_store_options):
        command = option(command)
    return command


@cli.group()
def suppress() -> None:
    """The suppression list: numbers that must not be texted (they replied STOP).

    The list is a SQLite file (--list PATH, or SMSGATE_SUPPRESSION) or a table in PostgreSQL
    (--db DSN, --schema). Numbers are kept in E.164 form; a national number needs --region.
    """


def _open(
    context: click.Context,
    list_path: Path | None,
    conninfo: str | None,
    schema: str,
    *,
    made: bool = True,
) -> SuppressionList:
    """The list the options name; ``made``: a SQLite file must exist already."""
    given = context.get_parameter_source
    if conninfo is not None:
        if list_path is not None and given("list_path") is not ParameterSource.ENVIRONMENT:
            raise click.UsageError("give --list PATH or --db DSN, not both")
        try:
            from smsgate.suppression.postgres import PostgresSuppressionList
        except ImportError as exc:
            raise click.UsageError(str(exc)) from None
        return PostgresSuppressionList(conninfo, schema=schema)
    if given("schema") is not ParameterSource.DEFAULT:
        raise click.UsageError("--schema goes with --db")
    if list_path is None:
        raise click.UsageError(
            "which list? give --list PATH (a SQLite file; or set SMSGATE_SUPPRESSION) or "
            "--db DSN (PostgreSQL)"
        )
    if made and not list_path.exists():
        raise ValidationError(
            "list", f"{str(list_path)!r} does not exist (`smsgate suppress add` makes it)"
        )
    return SqliteSuppressionList(list_path)


def _e164(numbers: tuple[str, ...], region: str | None) -> list[str]:
    """Every number in E.164, each once, in order: all read before the list is touched."""
    if region is not None:
        region = check_region(region)
    hint = "give --region, such as --region GB"
    return list(dict.fromkeys(to_e164(n, region, hint=hint) for n in numbers))


def _say(settings: Settings, changed: dict[str, list[str]]) -> None:
    """Print each number with what became of it (``changed``: numbers by that)."""
    if settings.as_json:
        settings.out.print_json(data={what.replace(" ", "_"): n for what, n in changed.items()})
        return
    for what, numbers in changed.items():
        for number in numbers:
            settings.out.print(f"{what} {number}", markup=False, highlight=False, soft_wrap=True)


@suppress.command()
@click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
@click.option("--reason", help="Why they are on the list (kept with each).")
@_region_option
@_with_store_options
@click.pass_context
def add(
    context: click.Context,
    numbers: tuple[str, ...],
    reason: str | None,
    region: str | None,
    list_path: Path | None,
    conninfo: str | None,
    schema: str,
) -> int:
    """Put each NUMBER on the list.

    Each is kept with --reason and the source "cli"; a number on the list already keeps its
    entry. Every NUMBER is checked first: one that is not a phone number changes nothing."""
    settings = settings_of(context)
    wanted = _e164(numbers, region)
    suppression = _open(context, list_path, conninfo, schema, made=False)

    async def adding() -> list[bool]:
        async with suppression:
            return [await suppression.add(n, reason=reason, source="cli") for n in wanted]

    added = asyncio.run(adding())
    _say(
        settings,
        {
            "added": [n for n, new in zip(wanted, added, strict=True) if new],
            "already listed": [n for n, new in zip(wanted, added, strict=True) if not new],
        },
    )
    return OK


@suppress.command()
@click.argument("numbers", nargs=-1, required=True, metavar="NUMBER...")
@_region_option
@_with_store_options
@click.pass_context
def remove(
    context: click.Context,
    numbers: tuple[str, ...],
    region: str | None,
    list_path: Path | None,
    conninfo: str | None,
    schema: str,
) -> int:
    """Take each NUMBER off the list.

    It may be texted again: they replied START, or were listed by mistake. Every NUMBER is
    checked first: one that is not a phone number changes nothing."""
    settings = settings_of(context)
    wanted = _e164(numbers, region)
    suppression = _open(context, list_path, conninfo, schema)

    async def removing() -> list[bool]:
        async with suppression:
            return [await suppression.remove(n) for n in wanted]

    removed = asyncio.run(removing())
    _say(
        settings,
        {
            "removed": [n for n, was in zip(wanted, removed, strict=True) if was],
            "not listed": [n for n, was in zip(wanted, removed, strict=True) if not was],
        },
    )
    return OK


@suppress.command("list")
@_with_store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.pass_context
def list_(
    context: click.Context, list_path: Path | None, conninfo: str | None, schema: str, as_json: bool
) -> int:
    """Print every number on the list.

    One a line, in order, with when it was added (UTC), its source and its reason ("-" for
    none); with --json, an array of objects."""
    settings = settings_of(context)
    suppression = _open(context, list_path, conninfo, schema)
    as_json = as_json or settings.as_json

    async def listing() -> tuple[int, list[Entry]]:
        count, kept = 0, []  # kept for JSON only: lines are printed as they come
        async with suppression:
            async for entry in suppression.entries():
                count += 1
                if as_json:
                    kept.append(entry)
                else:
                    settings.out.print(_line(entry), markup=False, highlight=False, soft_wrap=True)
        return count, kept

    count, entries = asyncio.run(listing())
    if as_json:
        settings.out.print_json(data=[_plain(entry) for entry in entries])
    elif count == 0:
        settings.err.print("the list is empty", markup=False, highlight=False)
    return OK


def _line(entry: Entry) -> str:
    when = entry.when.isoformat(timespec="seconds")
    return f"{entry.number:<16}  {when}  {entry.source}  {entry.reason or '-'}"


def _plain(entry: Entry) -> dict[str, str | None]:
    return {
        "number": entry.number,
        "when": entry.when.isoformat(),
        "source": entry.source,
        "reason": entry.reason,
    }
