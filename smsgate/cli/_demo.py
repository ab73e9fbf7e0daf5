"""``smsgate demo``: the whole job against the local sandbox, through every provider it
emulates.

The same code runs for each provider; only the configuration (``Sandbox.config(name)``, the
mapping a service would read from its settings) differs.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table

import smsgate
from smsgate._words import joined
from smsgate.cli._common import FAILED, INTERRUPTED, OK, Settings
from smsgate.cli._progress import send_with_progress
from smsgate.sandbox import Sandbox

TO = "+447700900123"
LATER = "+447700900456"


async def run_demo(settings: Settings, *, messages: int, seed: int) -> int:
    """Run the demo; returns the exit code (0 when every step did what it should)."""
    say = settings.err.print if settings.as_json else settings.out.print
    results: dict[str, dict[str, Any]] = {}
    async with Sandbox(seed=seed, failure_rate=0.05, send_delay=0.2, deliver_delay=0.6) as box:
        titles = [emulator.title for emulator in box.providers.values()]
        say(f"Sandbox of {joined(titles)} running on {box.url}\n")
        for provider in box.providers:
            config = box.config(provider)  # what your service would read from its settings
            async with smsgate.from_config(config) as gateway:
                result = results[provider] = {}
                say(f"[bold]{provider}[/bold]")

                receipt = await gateway.send(gateway.message(TO, "Your code is 2468"))
                say(f"  send      {receipt.to}: {receipt.status} (id {receipt.message_id})")
                started = time.perf_counter()
                final = await smsgate.wait_for_final(gateway, receipt, interval=0.2, timeout=30)
                took = time.perf_counter() - started
                say(f"  track     {final.status} after {took:.1f} s")
                result["sent"] = receipt.status.value
                result["tracked to"] = final.status.value

                at = datetime.now(UTC) + timedelta(hours=1)
                scheduled = await gateway.schedule(gateway.message(LATER, "See you at 10"), at)
                say(f"  schedule  {scheduled.to} for {at:%H:%M} UTC: {scheduled.status}")
                cancelled = await gateway.cancel(scheduled)
                say(f"  cancel    {cancelled.status}")
                result["scheduled"] = scheduled.status.value
                result["cancelled"] = cancelled.status.value

                rows = (
                    {"to": f"+4477009{i % 100_000:05d}", "text": f"Sale: code {i % 50:02d}"}
                    for i in range(messages)
                )
                started = time.perf_counter()
                label = f"  bulk      {messages:,} messages"
                bulk = await send_with_progress(settings, gateway, rows, messages, label)
                summary = bulk.summary
                took = time.perf_counter() - started
                if bulk.interrupted:
                    say(
                        f"  bulk      interrupted: {summary.accepted:,} accepted, "
                        f"{summary.uncertain:,} uncertain, {summary.unsent:,} unsent"
                    )
                    return INTERRUPTED
                say(
                    f"  bulk      {summary.accepted:,} accepted, {summary.failed:,} failed, "
                    f"{summary.uncertain:,} uncertain in {took:.1f} s\n"
                )
                result.update(
                    accepted=summary.accepted,
                    failed=summary.failed,
                    uncertain=summary.uncertain,
                    seconds=round(took, 2),
                    credits_left=box.credits(provider),
                )
    if settings.as_json:
        settings.out.print_json(json.dumps(results))
    else:
        table = Table("", *results, title="smsgate demo", title_justify="left")
        for key in next(iter(results.values()), {}):
            table.add_row(key, *(_cell(result[key]) for result in results.values()))
        settings.out.print(table)
    every_step = all(
        r["tracked to"] in ("delivered", "undelivered", "expired", "rejected")
        and r["cancelled"] == "cancelled"
        and r["accepted"] == messages
        for r in results.values()
    )
    return OK if every_step else FAILED


def _cell(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)
