"""The ``smsgate`` command group (click) and its small commands, printing with rich."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

import smsgate
from smsgate._version import __version__
from smsgate.cli._common import (
    ARGV,
    INTERRUPTED,
    OK,
    SENDING,
    UNCERTAIN,
    Settings,
    exit_code,
    mark_sending,
    plain,
    settings_of,
)
from smsgate.config import provider_option_info
from smsgate.errors import (
    SmsGateError,
    UnsupportedFeature,
    ValidationError,
)
from smsgate.gateway import BalanceGateway, SmsGateway, announces_dispatch, on_dispatch
from smsgate.model import MessageFields

if TYPE_CHECKING:
    from smsgate.sandbox import Sandbox


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
    mark_sending()
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationError("at", f"{at!r} is not an ISO 8601 date and time") from None

    async def main() -> smsgate.Receipt:
        async with settings.gateway() as gateway:
            message = gateway.message(to, text, **_fields(sender, reference, region))
            return await send_once(settings, gateway, message, when)

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


# --- the sandbox and the demo --------------------------------------------------------------


@cli.command()
@click.option(
    "--port",
    default=8025,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: any).",
)
@click.option("--seed", type=int, default=None, help="Seed the outcomes.")
@click.option("--failure-rate", default=0.1, show_default=True, help="Share of messages failing.")
@click.option("--send-delay", default=0.5, show_default=True, help="Seconds queued.")
@click.option("--deliver-delay", default=1.5, show_default=True, help="Seconds from sent to final.")
@click.option("--webhook-url", help="Where to post The SMS Works' delivery reports.")
@click.option(
    "--credits",
    "credits_",
    default=1_000_000.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Credits each account starts with (try 0 to see 'insufficient credit').",
)
@click.pass_context
def sandbox(
    context: click.Context,
    port: int,
    seed: int | None,
    failure_rate: float,
    send_delay: float,
    deliver_delay: float,
    webhook_url: str | None,
    credits_: float,
) -> int:
    """Run the local stand-in for every emulated provider until Ctrl-C, SIGINT or SIGTERM."""
    from smsgate.sandbox import Sandbox

    settings = settings_of(context)
    running = Sandbox(
        seed=seed,
        failure_rate=failure_rate,
        send_delay=send_delay,
        deliver_delay=deliver_delay,
        webhook_url=webhook_url,
        credits=credits_,
        port=port,
    )

    async def main() -> str:
        stop = asyncio.Event()
        stopped_by: list[str] = []

        def on_signal(number: signal.Signals) -> None:
            stopped_by.append(number.name)
            stop.set()

        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            # Handled here, not left to Python: a background job of a script starts with
            # SIGINT ignored, and SIGTERM would end the process without closing the server.
            loop.add_signal_handler(number, on_signal, number)
        async with running:
            _announce(settings, running)
            await stop.wait()
        return stopped_by[0]

    name = asyncio.run(main())
    if not settings.as_json:
        settings.out.print(f"sandbox stopped ({name})")
    return OK


def _announce(settings: Settings, running: Sandbox) -> None:
    """Say where the sandbox is, and how to point a gateway at each provider in it."""
    configs = {name: running.config(name) for name in running.providers}
    logins = {name: running.logins(name) for name in running.providers}
    credits = {name: running.credits(name) for name in running.providers}
    if settings.as_json:
        answer = {"url": running.url, "providers": configs, "logins": logins, "credits": credits}
        settings.out.print_json(json.dumps(answer), indent=None)  # one line: read as it comes
        return
    settings.out.print(f"sandbox on {running.url} — Ctrl-C or SIGTERM to stop")
    for name, config in configs.items():
        settings.out.print(f"{name}: {_variables(config)}", soft_wrap=True)
        for way, login in logins[name].items():
            settings.out.print(f"{name} ({way}): {_variables(login)}", soft_wrap=True)
    first = next(iter(credits.values()), 0)
    settings.out.print(f"credits: {first:,.10g} on each account (--credits)")


def _variables(config: dict[str, Any]) -> str:
    return " ".join(f"SMSGATE_{key.upper()}={_shell(value)}" for key, value in config.items())


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
    err = Console(stderr=True, soft_wrap=True)
    ARGV.set(tuple(sys.argv[1:] if argv is None else argv))
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
        if _in_flight:
            err.print(
                "smsgate: interrupted after the message left: it may have been sent; look it "
                f"up before sending it again (idempotency key {_in_flight[0]})"
            )
            _in_flight.clear()
            return UNCERTAIN
        err.print("smsgate: interrupted")
        return INTERRUPTED
    except SmsGateError as exc:
        err.print(f"smsgate: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exit_code(exc, sending=SENDING.get())
    finally:
        SENDING.set(False)
    return result if isinstance(result, int) else OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
