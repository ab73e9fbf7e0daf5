"""Campaigns on procrastinate and PostgreSQL: started once, sent by worker processes, each row
exactly once by the provider's own record (the sandbox's), whatever happens to a worker.

Against the machine's PostgreSQL (each test in a schema of its own) and a sandbox served from
this process; the workers are `smsgate campaign worker` processes."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import smsgate
import smsgate.cli
from smsgate import Message
from smsgate.campaign import CampaignError, Campaigns
from tests.support.postgres import CONNINFO
from tests.support.redis import URL as REDIS_URL
from tests.support.sandbox import ThreadedSandbox

ROOT = Path(__file__).parent.parent


def number(first: int, i: int) -> str:
    return f"+4477{first + i:08d}"


def rows(first: int, count: int) -> list[dict[str, str]]:
    return [
        {"to": number(first, i), "text": f"Your code is {i:06d}", "reference": str(i)}
        for i in range(count)
    ]


def write_csv(path: Path, first: int, count: int) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["to", "text", "reference"])
        writer.writeheader()
        writer.writerows(rows(first, count))
    return path


def ours(box, first: int, count: int) -> Counter[str]:
    """How many times the provider took each of the campaign's numbers."""
    numbers = {number(first, i) for i in range(count)}
    return Counter(sms.to for sms in box.messages("smsworks") if sms.to in numbers)


@pytest.fixture(scope="module")
def sandbox():
    with ThreadedSandbox(seed=3, failure_rate=0, latency=0.1) as box:
        yield box


# --- the library -----------------------------------------------------------------------------


async def test_a_campaign_is_started_once_and_sent_once(postgres_schema, sandbox):
    first = 100_000
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        started = await campaigns.start("spring", rows(first, 250), chunk=100)
        assert (started.rows, started.pending, len(started.chunks)) == (250, 250, 3)
        assert [c.rows for c in started.chunks] == [100, 100, 50]
        with pytest.raises(CampaignError, match="exists already"):
            await campaigns.start("spring", rows(first, 10))
        with pytest.raises(CampaignError, match="queued already"):
            await campaigns.enqueue("spring", 1)
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            await campaigns.work(gateway, once=True, stalled_after=2, heartbeat=0.5)
        done = await campaigns.status("spring")
    assert (done.accepted, done.failed, done.uncertain, done.pending) == (250, 0, 0, 0)
    assert done.done
    assert [c.accepted for c in done.chunks] == [100, 100, 50]
    record = ours(sandbox, first, 250)
    assert len(record) == 250
    assert set(record.values()) == {1}
    assert done.as_dict() == {
        "name": "spring",
        "rows": 250,
        "accepted": 250,
        "failed": 0,
        "uncertain": 0,
        "pending": 0,
    }


async def test_rows_are_checked_before_anything_is_stored(postgres_schema):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        cases: list[tuple[Any, str]] = [
            ([{"to": "+447700900123"}], "row 1: "),
            ([{"to": "+447700900123", "text": "Hi"}, {"to": "12", "text": "Hi"}], "row 2: "),
            ([{"to": "+447700900123", "text": "Hi", "colour": "red"}], "unknown field colour"),
            ([42], "row 1: a Message or a mapping"),
            (
                [{"to": "+447700900123", "text": "Hi", "provider_options": {"x": {"at": {1}}}}],
                "row 1: cannot be stored as JSON",
            ),
            ([], "at least one row"),
        ]
        for bad, problem in cases:
            with pytest.raises(CampaignError, match=problem):
                await campaigns.start("bad", bad)
        with pytest.raises(CampaignError, match=r"^name: "):
            await campaigns.start("no:colons", [Message("+447700900123", "Hi")])
        with pytest.raises(CampaignError, match=r"^chunk: "):
            await campaigns.start("ok", [Message("+447700900123", "Hi")], chunk=0)
        with pytest.raises(CampaignError, match="no campaign named 'bad'"):
            await campaigns.status("bad")  # nothing was stored


async def test_messages_keep_their_fields_and_get_keys_of_their_own(postgres_schema):
    message = Message("+447700900123", "Hi", sender="Acme", reference="r1", metadata={"a": "b"})
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("kept", [message, {"to": "+447700900124", "text": "Yo"}])
        stored = await campaigns._rows("kept", 0)
    keys = [row.pop("key") for row in stored]
    assert stored == [
        {
            "to": "+447700900123",
            "text": "Hi",
            "sender": "Acme",
            "reference": "r1",
            "metadata": {"a": "b"},
        },
        {"to": "+447700900124", "text": "Yo"},
    ]
    assert len(set(keys)) == 2
    assert all(key.startswith("kept-") for key in keys)


# --- the command line, in this process ---------------------------------------------------------


def command(capsys, monkeypatch, sandbox, schema, *argv):
    """Run ``smsgate`` here with the sandbox's provider; returns (code, stdout, stderr)."""
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)
    for key, value in sandbox.config("smsworks").items():
        monkeypatch.setenv(f"SMSGATE_{key.upper()}", str(value))
    monkeypatch.setenv("SMSGATE_DB", CONNINFO)
    code = smsgate.cli.main([*argv, "--schema", schema])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_commands_start_work_and_count_a_campaign(
    capsys, monkeypatch, postgres_schema, sandbox, tmp_path
):
    first, count = 400_000, 120
    file = write_csv(tmp_path / "autumn.csv", first, count)
    args = (capsys, monkeypatch, sandbox, postgres_schema)
    code, out, err = command(*args, "campaign", "start", str(file), "--chunk", "50")
    assert (code, out) == (0, "autumn\n"), err
    code, out, err = command(*args, "campaign", "start", str(file), "--name", "autumn")
    assert code == 1
    assert err == "smsgate: error: a campaign named 'autumn' exists already\n"
    code, out, err = command(*args, "campaign", "status", "autumn", "--json")
    assert json.loads(out)["pending"] == count
    code, out, err = command(*args, "campaign", "worker", "--once", "--concurrency", "0")
    assert code == 2
    code, out, err = command(*args, "campaign", "worker", "--once", "--stalled-after", "2")
    assert code == 0, err
    assert "ready" in err
    code, out, err = command(*args, "campaign", "status", "autumn", "--json", "--chunks")
    assert json.loads(out) == {
        "name": "autumn",
        "rows": count,
        "accepted": count,
        "failed": 0,
        "uncertain": 0,
        "pending": 0,
        "chunks": [
            {"chunk": n, "rows": rows, "accepted": rows, "failed": 0, "uncertain": 0, "pending": 0}
            for n, rows in enumerate([50, 50, 20])
        ],
    }
    code, out, err = command(*args, "campaign", "status", "autumn", "--chunks")
    assert code == 0
    assert "campaign autumn" in out
    rows_of = [line.replace("│", " ").split() for line in out.splitlines()]
    assert ["all", "120", "120", "0", "0", "0"] in rows_of
    assert ["2", "20", "20", "0", "0", "0"] in rows_of
    code, out, err = command(*args, "campaign", "status", "winter")
    assert (code, err) == (1, "smsgate: error: there is no campaign named 'winter'\n")
    record = ours(sandbox, first, count)
    assert (len(record), set(record.values())) == (count, {1})


# --- worker processes --------------------------------------------------------------------------


def cli(sandbox, schema: str, *args: str, stall: int | None = None) -> subprocess.Popen[str]:
    config = sandbox.config("smsworks")
    options = [f"{k}={v}" for k, v in config.items() if k != "provider"]
    command = [sys.executable, "-m", "smsgate", "-p", "smsworks"]
    for option in options:
        command += ["-o", option]
    command += [*args[:2], "--db", CONNINFO, "--schema", schema, *args[2:]]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SMSGATE_")}
    if stall is not None:  # its stall-th transaction stalls before its commit
        environment["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests/support/stall"), str(ROOT)])
        environment["STALL_IN_COMMIT"] = str(stall)
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def ready(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """Wait until a worker says it is ready (its signal handlers are in place)."""
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "ready" in line, line + process.stderr.read()
    return process


def run_cli(sandbox, schema: str, *args: str) -> str:
    process = cli(sandbox, schema, *args)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out


def pending(schema: str, name: str) -> int:
    """The campaign's pending rows, read here (quicker than a command, for polling)."""

    async def read() -> int:
        async with Campaigns(CONNINFO, schema=schema) as campaigns:
            return (await campaigns.status(name)).pending

    return asyncio.run(read())


def status_of(sandbox, schema: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        run_cli(sandbox, schema, "campaign", "status", name, "--json")
    )
    return found


@pytest.mark.slow
def test_two_workers_send_ten_thousand_exactly_once_within_one_shared_limit(
    postgres_schema, redis_key, sandbox, tmp_path
):
    first, count = 200_000, 10_000
    file = write_csv(tmp_path / "winter.csv", first, count)
    assert (
        run_cli(sandbox, postgres_schema, "campaign", "start", str(file), "--chunk", "500").strip()
        == "winter"
    )
    duplicate = cli(sandbox, postgres_schema, "campaign", "start", str(file))
    _, err = duplicate.communicate(timeout=60)
    assert duplicate.returncode == 1
    assert "exists already" in err
    limit = ("--limit", "2000", "--redis", REDIS_URL, "--limit-key", redis_key)
    started = time.monotonic()
    workers = [
        cli(
            sandbox, postgres_schema, "campaign", "worker", "--once", "--stalled-after", "5", *limit
        )
        for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    # 10,000 one-part messages at 2,000 parts a second between them, 2,000 at once: no less
    # than 4 s, whichever worker sent what.
    assert time.monotonic() - started >= 4
    record = ours(sandbox, first, count)
    assert len(record) == count  # every row sent
    assert sum(record.values()) == count  # the credits used: one a message, none twice
    assert status_of(sandbox, postgres_schema, "winter") == {
        "name": "winter",
        "rows": count,
        "accepted": count,
        "failed": 0,
        "uncertain": 0,
        "pending": 0,
    }


def wait_for_messages(sandbox, first: int, count: int, seen: int, deadline: float) -> None:
    while sum(ours(sandbox, first, count).values()) < seen:
        assert time.monotonic() < deadline, "the worker sent nothing"
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "kill", "seen"),
    [
        (300_000, signal.SIGKILL, 0),  # at once: before its first request, or with it in flight
        (310_000, signal.SIGKILL, 1),  # right after the provider took its first messages
        (320_000, signal.SIGKILL, 1800),  # mid-campaign, with chunks done behind it
        (330_000, signal.SIGTERM, 1),  # a clean stop: the chunk under way finishes or is left
        (340_000, signal.SIGINT, 1800),
        (350_000, signal.SIGKILL, "commit"),  # inside a journal write (the 8th transaction)
    ],
)
def test_a_worker_stopped_anywhere_leaves_every_row_sent_exactly_once(
    postgres_schema, sandbox, tmp_path, first, kill, seen
):
    count = 3_000  # numbers first to first + 2,999: no other test's
    file = write_csv(tmp_path / "c.csv", first, count)
    run_cli(sandbox, postgres_schema, "campaign", "start", str(file), "--chunk", "250")
    options = ("--stalled-after", "2", "--grace", "1")
    stall = 8 if seen == "commit" else None
    doomed = ready(cli(sandbox, postgres_schema, "campaign", "worker", *options, stall=stall))
    deadline = time.monotonic() + 60
    if seen == "commit":
        assert doomed.stdout is not None
        assert doomed.stdout.readline().strip() == "in-commit"
    elif seen:
        wait_for_messages(sandbox, first, count, seen, deadline)
    else:
        time.sleep(0.5)
    doomed.send_signal(kill)
    _, err = doomed.communicate(timeout=30)
    if kill is signal.SIGKILL:
        assert doomed.returncode == -signal.SIGKILL
    else:
        assert doomed.returncode == 0, err  # stopped cleanly, and gone
    # A new worker finds the job the dead one held once its heartbeat is missed, and sends
    # what is left of the campaign.
    rescuer = ready(cli(sandbox, postgres_schema, "campaign", "worker", "--stalled-after", "2"))
    while pending(postgres_schema, "c"):
        assert time.monotonic() < deadline + 60, "the campaign was not finished"
        time.sleep(0.2)
    rescuer.send_signal(signal.SIGTERM)
    _, err = rescuer.communicate(timeout=30)
    assert rescuer.returncode == 0, err
    record = ours(sandbox, first, count)
    assert len(record) == count  # zero unsent
    assert set(record.values()) == {1}  # none twice
    final = status_of(sandbox, postgres_schema, "c")
    assert (final["accepted"], final["failed"], final["uncertain"]) == (count, 0, 0)
