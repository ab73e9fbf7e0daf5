"""``smsgate sandbox`` and ``smsgate demo``: the local stand-in for every emulated provider,
for your own code (``eval "$(smsgate sandbox --env smsworks)"`` points a shell at it), and
the whole job run through it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import signal
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from smsgate._words import closest
from smsgate.cli._commands import cli
from smsgate.cli._common import OK, Settings, settings_of
from smsgate.config import ENV_PREFIX

if TYPE_CHECKING:
    from smsgate.sandbox import Sandbox

__all__ = ["demo", "sandbox"]

DEFAULT_PORT = 8025


@cli.command()
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: any).",
)
@click.option(
    "--env",
    "env_for",
    metavar="PROVIDER",
    help="Print only the `export` lines that point a shell at a sandbox on --port for "
    'PROVIDER, and start nothing: eval "$(smsgate sandbox --env smsworks)".',
)
@click.option("--verbose", is_flag=True, help="Log each request on stderr (method, path, status).")
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
    env_for: str | None,
    verbose: bool,
    seed: int | None,
    failure_rate: float,
    send_delay: float,
    deliver_delay: float,
    webhook_url: str | None,
    credits_: float,
) -> int:
    """Run the local stand-in for every emulated provider until Ctrl-C, SIGINT or SIGTERM.

    It prints the `export` lines that point a shell (and smsgate.from_env() in your code)
    at each provider in it; `smsgate sandbox --env PROVIDER` prints those of one provider
    alone, to eval in another shell.
    """
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
        log_requests=verbose,
    )
    if env_for is not None:
        return _print_env(settings, running, env_for, port)
    if verbose:
        _log_requests_to_stderr()

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
        try:
            await running.start()
        except OSError as exc:
            await running.stop()
            why = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise click.BadParameter(
                f"cannot listen on 127.0.0.1:{port} ({why}); is a sandbox running there "
                "already? Stop it, or choose another --port",
                param_hint="--port",
            ) from None
        try:
            _announce(settings, running)
            await stop.wait()
        finally:
            await running.stop()
        return stopped_by[0]

    name = asyncio.run(main())
    if not settings.as_json:
        settings.out.print(f"sandbox stopped ({name})")
    return OK


def _print_env(settings: Settings, running: Sandbox, provider: str, port: int) -> int:
    """``--env``: the variables for ``provider`` in a sandbox on ``port``, as `export`
    lines (or, with ``--json``, an object)."""
    if provider not in running.providers:
        names = list(running.providers)
        close = closest(provider, names)
        guess = f"; did you mean {close!r}?" if close else ""
        raise click.BadParameter(
            f"the sandbox emulates {', '.join(names)}, not {provider!r}{guess}",
            param_hint="--env",
        )
    if port == 0:
        raise click.BadParameter(
            "--env needs the port the sandbox listens on (0 picks one when it starts)",
            param_hint="--port",
        )
    variables = _variables(running.config(provider, port=port))
    if settings.as_json:
        settings.out.print_json(json.dumps(variables))
    else:
        logins = running.logins(provider, port=port).values()
        for line in _unsets(variables, [_variables(login) for login in logins]):
            _line(settings, line)
        for line in _exports(variables):
            _line(settings, line)
    return OK


def _log_requests_to_stderr() -> None:
    """``--verbose``: each request's line (`Sandbox` ``log_requests``) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    requests = logging.getLogger("smsgate.sandbox.requests")
    requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    requests.propagate = False


def _announce(settings: Settings, running: Sandbox) -> None:
    """Say where the sandbox is, and how to point a shell at each provider in it."""
    configs = {name: running.config(name) for name in running.providers}
    logins = {name: running.logins(name) for name in running.providers}
    credits = {name: running.credits(name) for name in running.providers}
    if settings.as_json:
        answer = {"url": running.url, "providers": configs, "logins": logins, "credits": credits}
        settings.out.print_json(json.dumps(answer), indent=None)  # one line: read as it comes
        return
    _line(settings, f"sandbox on {running.url} — Ctrl-C or SIGTERM to stop")
    for name, config in configs.items():
        _line(settings, f"# {name}")
        variables = _variables(config)
        others = {way: _variables(login) for way, login in logins[name].items()}
        for line in [*_unsets(variables, others.values()), *_exports(variables)]:
            _line(settings, line)
        for way, other in others.items():
            _line(settings, f"# {name}, with its {way} instead")
            for line in [*_unsets(other, [variables]), *_exports(other)]:
                _line(settings, line)
    port = urlsplit(running.url).port
    on_port = "" if port == DEFAULT_PORT else f" --port {port}"
    first = next(iter(configs), "PROVIDER")
    _line(
        settings,
        f'# in another shell: eval "$(smsgate sandbox --env {first}{on_port})"; then '
        "smsgate.from_env() in your code sends here",
    )
    first_credits = next(iter(credits.values()), 0)
    _line(settings, f"credits: {first_credits:,.10g} on each account (--credits)")


def _line(settings: Settings, text: str) -> None:
    settings.out.print(text, markup=False, highlight=False, soft_wrap=True)


def _variables(config: Mapping[str, Any]) -> dict[str, str]:
    """A configuration as the ``SMSGATE_*`` variables `smsgate.from_env` reads."""
    return {f"{ENV_PREFIX}{key.upper()}": _text(value) for key, value in config.items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value)
    return str(value)


def _unsets(variables: Mapping[str, str], others: Iterable[Mapping[str, str]]) -> list[str]:
    """``unset`` lines for what another way of logging in to the same provider sets and
    ``variables`` do not: pasted after that way's lines, they leave one way, not a mix that
    the provider refuses."""
    stale = set().union(*(other.keys() for other in others)) - variables.keys()
    return [f"unset {name}" for name in sorted(stale)]


def _exports(variables: Mapping[str, str]) -> Iterator[str]:
    for name, value in variables.items():
        yield f"export {name}={shlex.quote(value)}"


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
