"""The command line in a shell's terms: the group's options anywhere on the line, and what
ends a command as one line on stderr (or, with ``--json``, one JSON object) in the words of
its flags rather than of the Python API."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import attrs
import click

from smsgate._words import closest
from smsgate.cli._common import INTERRUPTED, UNCERTAIN, exit_code
from smsgate.errors import SmsGateError

__all__ = [
    "NO_ARGS_IS_HELP",
    "Failure",
    "ShellGroup",
    "failure_of",
    "interrupted",
    "say",
    "wants_json",
]


class _NoArgsIsHelp(click.UsageError):
    """Never raised: click before 8.2 shows the help for a bare ``smsgate`` and exits 0."""


NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", _NoArgsIsHelp
)
"""What click 8.2 and later raise for a bare ``smsgate``: its help, shown as it is."""


class ShellGroup(click.Group):
    """A command group whose own options (``--provider``, ``--option``, ``--json`` ...) may
    also come after a command: ``smsgate send --json -p smsscheduler TO TEXT``.

    They are read as if given just before the command's name, after the group's own options,
    so that an option given twice takes its later value, as in any shell tool: ``smsgate -p
    smsworks send TO TEXT -p smsscheduler`` sends through SMS Scheduler. An option of the
    group that the command (or a command under it) takes itself stays the command's;
    everything after ``--`` is left alone.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoisted(self, ctx, args))


def _options(command: click.Command, ctx: click.Context) -> dict[str, bool]:
    """Each option string of ``command``, and whether it takes a value."""
    table: dict[str, bool] = {}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                table[name] = not (param.is_flag or param.count)
    return table


def _option_in(token: str) -> tuple[str, bool] | None:
    """The option a token names, and whether its value is in it (``--x=1``, ``-x1``)."""
    if token[:1] != "-" or token == "-":
        return None
    if token.startswith("--"):
        name, equals, _ = token.partition("=")
        return name, bool(equals)
    return token[:2], len(token) > 2


def hoisted(group: click.Group, ctx: click.Context, args: Sequence[str]) -> list[str]:
    """``args`` with the group's options that follow a command moved to just before the
    command's name: after the group's own options, which they then override."""
    eager = {
        name
        for param in group.get_params(ctx)
        if param.is_eager  # --help, --version: a command's own
        for name in (*param.opts, *param.secondary_opts)
    }
    hoistable = {name: takes for name, takes in _options(group, ctx).items() if name not in eager}
    front: list[str] = []
    rest: list[str] = []
    named_at = len(args)  # where the command's name is in ``rest``
    command: click.Command = group
    taken = _options(group, ctx)
    at = 0
    while at < len(args):
        token = args[at]
        if token == "--":
            rest += args[at:]
            break
        option = _option_in(token)
        if option is None:  # an argument, or the name of a command under a group
            if isinstance(command, click.Group):
                found = command.get_command(ctx, token)
                if found is not None:
                    if command is group:
                        named_at = len(rest)
                    command, taken = found, _options(found, ctx)
            rest.append(token)
            at += 1
            continue
        name, attached = option
        moves = command is not group and name not in taken and name in hoistable
        takes = (hoistable if moves else taken).get(name, False)
        width = 1 if attached or not takes else 2
        (front if moves else rest).extend(args[at : at + width])
        at += width
    return rest[:named_at] + front + rest[named_at:]


def wants_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for JSON (``--json``, before any ``--``)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


# --- what ends a command -------------------------------------------------------------------


@attrs.frozen
class Failure:
    """What ended a command, as one line for a person.

    Attributes:
        message: the line, without ``smsgate: error:``.
        exit_code: the command's exit code.
        kind: what sort of failure: the class of the error (``ValidationError``,
            ``AuthenticationError`` ...), ``UsageError`` for a command line that cannot be
            read, ``Interrupted`` for Ctrl-C or SIGTERM.
    """

    message: str
    exit_code: int
    kind: str


SHELL_WORDS: tuple[tuple[str, str], ...] = (
    (
        "or give a region such as 'GB' on the message or the gateway",
        "or pass --region GB (or set SMSGATE_DEFAULT_REGION=GB)",
    ),
    (
        "pass an aware datetime, e.g. datetime(..., tzinfo=ZoneInfo('Europe/London'))",
        'give its offset or zone: --at 2099-12-24T09:00+01:00 or --at "2099-12-24 09:00 '
        'Europe/London"',
    ),
    ("use send() to send right away", "to send now, use `smsgate send`"),
    (
        "The SMS Works needs a sender: set it on the message or the gateway",
        "The SMS Works needs a sender: pass --sender NAME, or set SMSGATE_SENDER",
    ),
    (
        "SMS Scheduler needs a sender: set the gateway's sender_id, or name one of its "
        "senders on the message",
        "SMS Scheduler needs a sender: set SMSGATE_SENDER_ID (or pass -o sender_id=ID), or "
        "pass --sender with a name SMSGATE_SENDERS gives an id",
    ),
)
"""What the library's errors tell a Python caller to do, and what a shell user does
instead."""


def in_shell_words(text: str) -> str:
    """An error's text as one line, telling what to do in shell terms (`SHELL_WORDS`)."""
    for python, shell in SHELL_WORDS:
        text = text.replace(python, shell)
    return " ".join(text.split())


def failure_of(error: click.ClickException | SmsGateError, *, sending: bool) -> Failure:
    """What to say of ``error``; ``sending``: the command sends messages."""
    if isinstance(error, SmsGateError):
        message = in_shell_words(str(error))
        return Failure(message, exit_code(error, sending=sending), type(error).__name__)
    if isinstance(error, click.UsageError):
        return Failure(" ".join(_usage(error).split()), error.exit_code, "UsageError")
    message = " ".join(_sentence(error.format_message()).split())
    return Failure(message, error.exit_code, type(error).__name__)


def interrupted(in_flight: str | None) -> Failure:
    """What to say when Ctrl-C stopped a command; ``in_flight``: the idempotency key of a
    message whose request had left."""
    if in_flight is None:
        return Failure("interrupted", INTERRUPTED, "Interrupted")
    return Failure(
        "interrupted after the message left: it may have been sent; look it up before "
        f"sending it again (idempotency key {in_flight})",
        exit_code=UNCERTAIN,
        kind="Interrupted",
    )


def say(failure: Failure, *, as_json: bool) -> None:
    """Print ``failure`` on stderr: one line, or one JSON object."""
    if as_json:
        answer = {"error": failure.message, "exit_code": failure.exit_code, "kind": failure.kind}
        click.echo(json.dumps(answer), err=True)
    elif failure.kind == "Interrupted":
        click.echo(f"smsgate: {failure.message}", err=True)
    else:
        click.echo(f"smsgate: error: {failure.message}", err=True)


_CLICK_WORDING = re.compile(r"[A-Z][a-z]")


def _sentence(text: str) -> str:
    """One of click's sentences ("No such option: --x.") in the style of the others."""
    text = text.strip().removesuffix(".")
    if _CLICK_WORDING.match(text):
        text = text[0].lower() + text[1:]
    return text


def _usage(error: click.UsageError) -> str:
    context = error.ctx
    command = context.command if context is not None else None
    where = f" for `{context.command_path}`" if context is not None else ""
    help_hint = " (try --help)"
    if isinstance(error, click.NoSuchOption):
        names = list(_options(command, context)) if command and context else []
        names += _group_options(context)
        guess = closest(error.option_name, names, cutoff=0.7)
        said = f": did you mean {guess!r}?" if guess else ""
        return f"no such option {error.option_name!r}{where}{said}{help_hint}"
    if isinstance(error, click.MissingParameter):
        return f"missing {_param_name(error.param)}{where}{help_hint}"
    if isinstance(error, click.BadParameter):
        return f"{_param_hint(error)}: {_sentence(error.message)}"
    unknown_command = getattr(click.exceptions, "NoSuchCommand", None)  # click 8.4 and later
    if unknown_command is not None and isinstance(error, unknown_command):
        commands = list(getattr(command, "commands", {}))
        guess = closest(error.command_name, commands)
        said = f": did you mean {guess!r}?" if guess else ""
        return f"no such command {error.command_name!r}{where}{said}{help_hint}"
    if _CLICK_WORDING.match(error.message):  # click's own: "Got unexpected extra argument"
        return f"{_sentence(error.message)}{where}{help_hint}"
    return error.message  # the commands' own, which say what to do


def _group_options(context: click.Context | None) -> list[str]:
    """The option strings of the top command group, which every command takes too."""
    while context is not None and context.parent is not None:
        context = context.parent
    if context is None:
        return []
    return list(_options(context.command, context))


def _param_name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Argument):
        return f"argument {param.human_readable_name}"
    if isinstance(param, click.Option):
        return f"option {max(param.opts, key=len)}"
    return "a parameter"


def _param_hint(error: click.BadParameter) -> str:
    if isinstance(error.param, click.Option):
        return max(error.param.opts, key=len)
    if isinstance(error.param, click.Argument):
        return error.param.human_readable_name
    hint = error.param_hint
    if isinstance(hint, str):
        return hint
    return " / ".join(hint) if hint else "value"
