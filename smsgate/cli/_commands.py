"""The ``smsgate`` command group (click) and its small commands, printing with rich."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import smsgate
from smsgate._version import __version__
from smsgate.cli._common import (
    ARGV,
    OK,
    SENDING,
    WHEN,
    Settings,
    mark_sending,
    settings_of,
)
from smsgate.cli._shell import (
    NO_ARGS_IS_HELP,
    ShellGroup,
    failure_of,
    interrupted,
    say,
    wants_json,
)
from smsgate.cli._waiting import wait_showing
from smsgate.config import OptionInfo, provider_option_info
from smsgate.errors import SmsGateError, UnsupportedFeature
from smsgate.gateway import BalanceGateway, SmsGateway, announces_dispatch, on_dispatch
from smsgate.model import MessageFields


@click.group(cls=ShellGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    variables (SMSGATE_PROVIDER=smsworks, SMSGATE_TOKEN=...; another provider's variables
    are ignored, a name no provider takes is an error); --provider and --option override
    either. These
    options may also follow the command: `smsgate send --json -p smsscheduler TO TEXT`.
    `smsgate demo` shows everything against a local sandbox; `smsgate sandbox` runs one
    for your own code.

    Exit codes: 0 done; 1 the provider refused, or a bulk run had failures; 2 bad usage,
    configuration or input (nothing was sent); 3 a message may or may not have been sent
    (check before sending it again); 130 interrupted. Errors are one line on stderr, or
    with --json one JSON object: {"error": ..., "exit_code": ..., "kind": ...}.
    """
    err = Console(stderr=True, soft_wrap=True)
    context.obj = Settings(provider, config_file, options, as_json, Console(), err)


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


_in_flight: list[str] = []
"""The idempotency key of a message whose request had left when Ctrl-C came, if any."""


async def send_once(
    settings: Settings, gateway: SmsGateway, message: smsgate.Message, at: datetime | None
) -> smsgate.Receipt:
    """Send (or schedule) ``message``. Ctrl-C before its request leaves stops it; after, the
    answer is awaited (a second Ctrl-C stops at once, and the exit code says it may have
    been sent)."""
    left = not announces_dispatch(gateway)  # if it cannot say, assume so

    async def heard(leaving: bool, keyed: bool) -> None:
        nonlocal left
        left = leaving

    with on_dispatch(heard):
        call = gateway.send(message) if at is None else gateway.schedule(message, at)
        request = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(request)
    except asyncio.CancelledError:
        if not left:
            request.cancel()
            raise
        _in_flight.append(message.key)
        settings.err.print(
            "interrupted: the message was already on its way; waiting for the provider's "
            "answer (Ctrl-C again to stop now)"
        )
        receipt = await request
        _in_flight.clear()
        return receipt


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
    mark_sending()

    async def main() -> smsgate.Receipt:
        async with settings.gateway() as gateway:
            message = gateway.message(to, text, **_fields(sender, reference, region))
            return await send_once(settings, gateway, message, None)

    settings.show("Sent", asyncio.run(main()))
    return OK


@cli.command()
@click.argument("to")
@click.argument("text")
@click.option(
    "--at",
    "when",
    required=True,
    type=WHEN,
    help="When: ISO 8601 with its offset (2099-12-24T09:00+01:00), or a date and time with "
    "a time zone ('2099-12-24 09:00 Europe/London').",
)
@with_message_options
@click.pass_context
def schedule(
    context: click.Context,
    to: str,
    text: str,
    when: datetime,
    sender: str | None,
    reference: str | None,
    region: str | None,
) -> int:
    """Have the provider send TEXT to TO at a later time."""
    settings = settings_of(context)
    mark_sending()

    async def main() -> smsgate.Receipt:
        async with settings.gateway() as gateway:
            message = gateway.message(to, text, **_fields(sender, reference, region))
            return await send_once(settings, gateway, message, when)

    settings.show("Scheduled", asyncio.run(main()))
    return OK


@cli.command()
@click.argument("message_id")
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until the status is final, showing it as it changes (on stderr).",
)
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to --wait at most.")
@click.pass_context
def status(context: click.Context, message_id: str, wait: bool, timeout: float) -> int:
    """Show where the message MESSAGE_ID stands."""
    settings = settings_of(context)

    async def main() -> smsgate.StatusReport:
        async with settings.gateway() as gateway:
            if wait:
                return await wait_showing(settings, gateway, message_id, timeout=timeout)
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
            if not isinstance(gateway, BalanceGateway):
                raise UnsupportedFeature(gateway.name, "a balance query")
            return gateway.name, await gateway.balance()

    provider, credits = asyncio.run(main())
    if settings.as_json:
        settings.out.print_json(json.dumps({"provider": provider, "credits": credits}))
    else:
        settings.out.print(f"{provider}: {credits:g} credits")
    return OK


@cli.command()
@click.pass_context
def providers(context: click.Context) -> int:
    """List the providers and the options each takes: its type, its default and what it
    does. Set one as SMSGATE_<OPTION> or with -o OPTION=VALUE; options that take an object
    (a session, a rate limiter) are for Python code, and not listed."""
    settings = settings_of(context)
    listed = {
        name: [o for o in provider_option_info(name) if o.settable]
        for name in smsgate.available_providers()
    }
    if settings.as_json:
        answer = {name: [_option(o) for o in info] for name, info in listed.items()}
        settings.out.print_json(json.dumps(answer))
        return OK
    for name, info in listed.items():
        table = Table("option", "type", "default", "description", title=name, title_justify="left")
        for o in info:
            default = "required" if o.required else _shown(o.default)
            cells = (o.name, o.type.removesuffix(" | None"), default, o.description)
            table.add_row(*map(escape, cells))
        settings.out.print(table)
    return OK


def _option(info: OptionInfo) -> dict[str, Any]:
    default = info.default
    if not isinstance(default, str | int | float | bool | None):
        default = str(default)
    return {
        "name": info.name,
        "required": info.required,
        "type": info.type,
        "default": default,
        "description": info.description,
    }


def _shown(default: Any) -> str:
    if default is None:
        return "-"
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


# --- running -------------------------------------------------------------------------------


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``cli`` and turn what ends it into one line (or JSON object) and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    ARGV.set(tuple(args))
    as_json = wants_json(args)
    try:
        result = cli.main(args=args, prog_name="smsgate", standalone_mode=False)
    except NO_ARGS_IS_HELP as exc:  # `smsgate` alone: the help, as click shows it
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:
        say(failure_of(exc, sending=SENDING.get()), as_json=as_json)
        return exc.exit_code
    except (KeyboardInterrupt, click.Abort):
        failure = interrupted(_in_flight[0] if _in_flight else None)
        _in_flight.clear()
        say(failure, as_json=as_json)
        return failure.exit_code
    except SmsGateError as exc:
        failure = failure_of(exc, sending=SENDING.get())
        say(failure, as_json=as_json)
        return failure.exit_code
    finally:
        SENDING.set(False)
    return result if isinstance(result, int) else OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
