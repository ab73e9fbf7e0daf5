"""``smsgate bulk FILE --dry-run``: every row read and checked as the run would check it before
any request, and what sending the rows would take counted (`smsgate.estimate`): messages,
SMS parts by encoding, credits by the provider's price rule, the rows that would fail and
why, and the rows that a character or two makes UCS-2. No request is made: the gateway is
built from the configuration (its default sender and region count) and closed unused.

It exits as the run would before sending: 2 if the file would be refused (a row whose text
cannot be written), 1 if some rows would fail, 0 if every row would go.
"""

from __future__ import annotations

import array
import json
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Column, Table

from smsgate._words import joined
from smsgate.bulk import BatchingGateway
from smsgate.bulk._intake import _as_message
from smsgate.cli._common import FAILED, OK, USAGE, Settings
from smsgate.cli._csv import CsvFile, message_fields, records
from smsgate.errors import ConfigurationError, SmsGateError
from smsgate.gateway import SmsGateway
from smsgate.model import Message
from smsgate.pricing import Estimate, Tally, estimate

__all__ = ["describe", "dry_run", "ucs2_warnings"]

SHOWN = 20
"""Rows that would fail that a person is shown; ``--json`` has them all."""
WARNED = 5
"""Rows made UCS-2 by a few characters that get a line each; more get one line together."""


async def dry_run(
    settings: Settings,
    checked: CsvFile,
    defaults: Mapping[str, str],
    at: datetime | None,
) -> int:
    """Check and count every row of ``checked``; print what sending it would take; return
    the exit code."""
    problems: list[dict[str, Any]] = []
    lines: array.array[int] = array.array("L")  # the line of each message counted
    refused = 0

    def messages(gateway: SmsGateway) -> Iterator[Message]:
        nonlocal refused
        for line, cells in records(checked):
            fields = message_fields(checked, cells, defaults)
            if isinstance(fields, str):
                refused += 1
                problems.append(_problem(line, cells, fields))
                continue
            made = _checked(gateway, fields, at)
            if isinstance(made, SmsGateError):
                problems.append(_problem(line, cells, str(made)))
                continue
            lines.append(line)
            yield made

    async with settings.gateway() as gateway:
        counted = estimate(messages(gateway), provider=type(gateway))
        provider = gateway.name
    if settings.as_json:
        settings.out.print_json(
            json.dumps(_data(provider, checked.rows, counted, lines, problems, refused))
        )
    else:
        _show(settings, provider, checked, counted, lines, problems, refused)
    return USAGE if refused else FAILED if problems else OK


def _checked(
    gateway: SmsGateway, fields: Mapping[str, str], at: datetime | None
) -> Message | SmsGateError:
    """The row's message, checked as a bulk run checks it before any request; or why not."""
    made = _as_message(gateway, fields)
    if isinstance(made, Message) and isinstance(gateway, BatchingGateway):
        try:
            gateway.batch_key(made, at)
        except ConfigurationError:
            raise  # the run could not start at all
        except SmsGateError as exc:
            return exc
    return made


def _problem(line: int, cells: Mapping[str, str], why: str) -> dict[str, Any]:
    return {"row": line, "to": cells.get("to"), "reference": cells.get("reference"), "error": why}


def describe(char: str) -> str:
    """A character and its Unicode name, such as ``“ (U+201C LEFT DOUBLE QUOTATION MARK)``
    (the character itself only where it can be printed).

    >>> describe("\\u200b")
    '(U+200B ZERO WIDTH SPACE)'
    """
    code = f"U+{ord(char):04X} {unicodedata.name(char, 'with no name')}"
    return f"{char} ({code})" if char.isprintable() and not char.isspace() else f"({code})"


def _counted(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


def _parts(count: int) -> str:
    return _counted(count, "part")


def ucs2_warnings(counted: Estimate, lines: Sequence[int]) -> list[str]:
    """One line for each row that a few characters make UCS-2 and cost more parts, or, for
    more than `WARNED` rows, one line for them all."""
    switched = counted.switched
    if not switched.messages:
        return []
    if switched.messages <= WARNED:
        warnings = []
        for switch in counted.switches:
            chars = [describe(c) for c in switch.characters]
            verb = "makes" if len(chars) == 1 else "make"
            warnings.append(
                f"line {lines[switch.index]}: {joined(chars)} {verb} this message UCS-2: "
                f"{_parts(switch.parts)} instead of {switch.gsm_parts:,}"
            )
        return warnings
    ranked = sorted(counted.switching.items(), key=lambda item: -item[1])
    which = ", ".join(f"{describe(char)} in {count:,}" for char, count in ranked)
    first = ", ".join(str(lines[s.index]) for s in counted.switches[:WARNED])
    return [
        f"{switched.messages:,} rows are UCS-2 because of a few characters, "
        f"{_parts(switched.parts)} instead of {counted.switched_gsm_parts:,}: {which}; "
        f"the first on lines {first}"
    ]


def _credits(credits: float | None) -> str:
    return "?" if credits is None else f"{credits:,.10g}"


def _show(
    settings: Settings,
    provider: str,
    checked: CsvFile,
    counted: Estimate,
    lines: Sequence[int],
    problems: Sequence[dict[str, Any]],
    refused: int,
) -> None:
    out = settings.out

    def say(line: str) -> None:
        out.print(line, markup=False, highlight=False, soft_wrap=True)

    say(f"dry run of {str(checked.path)!r} through {provider}: nothing was sent")
    table = Table(
        "encoding", *(Column(h, justify="right") for h in ("messages", "SMS parts", "credits"))
    )
    for encoding, tally in counted.by_encoding.items():
        table.add_row(str(encoding), *_cells(tally))
    table.add_section()
    table.add_row("total", *_cells(Tally(counted.messages, counted.parts, counted.credits)))
    out.print(table)
    pricing = counted.pricing
    if pricing is None:
        say(f"credits: smsgate knows no price rule for {provider}")
    elif pricing.home is not None:
        abroad = counted.abroad
        times = "double" if pricing.abroad == 2 else f"{pricing.abroad:g} times as much"
        say(
            f"to numbers outside the {pricing.home_name}, charged {times}: "
            f"{_counted(abroad.messages, 'message')}, {_counted(abroad.parts, 'SMS part')}, "
            f"{_credits(abroad.credits)} credits"
        )
    for warning in ucs2_warnings(counted, lines):
        say(warning)
    if problems:
        listed = Table("line", "to", "why", title="rows that would fail", title_justify="left")
        for problem in problems[:SHOWN]:
            listed.add_row(str(problem["row"]), problem["to"] or "", problem["error"])
        out.print(listed)
        if len(problems) > SHOWN:
            say(f"… and {len(problems) - SHOWN:,} more: every row is in --json")
    if refused:
        say(
            f"smsgate bulk would refuse this file: the text of {refused:,} of its "
            f"{checked.rows:,} rows cannot be written"
        )
    elif problems:
        say(f"{len(problems):,} of {checked.rows:,} rows would fail; the others would go")
    else:
        say(f"every row would go ({checked.rows:,})")


def _cells(tally: Tally) -> tuple[str, str, str]:
    return f"{tally.messages:,}", f"{tally.parts:,}", _credits(tally.credits)


def _tally(tally: Tally) -> dict[str, Any]:
    return {"messages": tally.messages, "parts": tally.parts, "credits": tally.credits}


def _data(
    provider: str,
    rows: int,
    counted: Estimate,
    lines: Sequence[int],
    problems: list[dict[str, Any]],
    refused: int,
) -> dict[str, Any]:
    pricing = counted.pricing
    abroad = None
    if pricing is not None and pricing.home is not None:
        abroad = {**_tally(counted.abroad), "outside": pricing.home_name, "times": pricing.abroad}
    return {
        "dry_run": True,
        "provider": provider,
        "rows": rows,
        "messages": counted.messages,
        "parts": counted.parts,
        "credits": counted.credits,
        "encodings": {str(e): _tally(t) for e, t in counted.by_encoding.items()},
        "abroad": abroad,
        "ucs2_switches": {
            **_tally(counted.switched),
            "gsm_parts": counted.switched_gsm_parts,
            "characters": dict(counted.switching),
            "first": [
                {
                    "row": lines[s.index],
                    "characters": s.characters,
                    "parts": s.parts,
                    "gsm_parts": s.gsm_parts,
                }
                for s in counted.switches
            ],
        },
        "problems": problems,
        "refused": refused > 0,
    }
