"""Campaigns on procrastinate and PostgreSQL: started once, sent by worker processes, each row
exactly once by the provider's own record (the sandbox's), whatever happens to a worker.

Against the machine's PostgreSQL (each test in a schema of its own) and a sandbox served from
this process; the workers are `smsgate campaign worker` processes."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from procrastinate.exceptions import ConnectorException

import smsgate
import smsgate.cli
from smsgate import Message
from smsgate.bulk import send_all
from smsgate.campaign import CHUNK_TASK, FAILED_JOBS_KEPT, CampaignError, Campaigns
from smsgate.errors import ConfigurationError
from smsgate.journal.postgres import _LOCK_SPACE, PostgresJournal
from smsgate.suppression import MemorySuppressionList, SuppressingGateway
from smsgate.testing import FakeGateway
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
        "suppressed": 0,
        "pending": 0,
        "stuck": [],
    }


async def test_a_row_to_an_opted_out_recipient_is_suppressed_and_the_chunk_finishes(
    postgres_schema, sandbox
):
    first = 105_000
    optouts = MemorySuppressionList()
    await optouts.add(number(first, 2), reason="STOP")
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("optout", rows(first, 5), chunk=5)
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            guarded = SuppressingGateway(gateway, optouts)
            await campaigns.work(guarded, once=True, stalled_after=30, heartbeat=0.5)
            assert await campaigns.recover(stalled_after=30) == 0  # finished: nothing to do
        done = await campaigns.status("optout")
    assert (done.accepted, done.suppressed, done.pending, done.done) == (4, 1, 0, True)
    assert done.as_dict()["suppressed"] == 1
    assert sorted(ours(sandbox, first, 5)) == [number(first, i) for i in (0, 1, 3, 4)]


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


async def test_status_counts_only_the_campaigns_own_chunk_runs(postgres_schema, sandbox):
    first = 110_000
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("june", rows(first, 4), chunk=2)
        async with (
            smsgate.from_config(sandbox.config("smsworks")) as gateway,
            PostgresJournal(CONNINFO, schema=postgres_schema) as journal,
        ):
            # Runs of the same journal whose names look like the campaign's chunks.
            for run, offset in (("june:01", 10), ("june:x:1", 20), ("june:0:", 30)):
                await send_all(gateway, rows(first + offset, 1), journal=journal, run=run)
        found = await campaigns.status("june")
    assert [(c.rows, c.accepted, c.pending) for c in found.chunks] == [(2, 0, 2), (2, 0, 2)]


async def test_each_chunk_lets_its_connection_and_its_run_go(postgres_schema):
    # More chunks than the server takes connections (100 here): each chunk's journal is
    # closed with it, and nothing is held once the worker is done.
    first, count = 120_000, 130
    with ThreadedSandbox(seed=4, failure_rate=0, latency=0) as box:
        async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
            await campaigns.start("many", rows(first, count), chunk=1)
            async with smsgate.from_config(box.config("smsworks")) as gateway:
                await campaigns.work(gateway, once=True, stalled_after=2, heartbeat=0.5)
            held = await runs_held(postgres_schema)
            finished = await scalar(f"SELECT count(*) FROM {postgres_schema}.campaign_finished")
            done = await campaigns.status("many")
        record = ours(box, first, count)
    assert (held, finished) == (0, count)
    assert (done.accepted, done.pending) == (count, 0)
    assert (len(record), set(record.values())) == (count, {1})


async def runs_held(schema: str) -> int:
    """How many of the journal's runs in ``schema`` a session holds (their advisory locks)."""
    held: int = await scalar(
        f"SELECT count(*) FROM pg_locks AS l JOIN {schema}.runs AS r"
        " ON l.locktype = 'advisory' AND l.objsubid = 1"
        " AND (l.classid::bigint << 32 | l.objid::bigint)"
        f" = hashtextextended('{schema}' || chr(31) || r.id, {_LOCK_SPACE})"
    )
    return held


async def scalar(query: str, schema: str = "public") -> Any:
    """The first value ``query`` returns (procrastinate's triggers need its ``schema``)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(
        CONNINFO, autocommit=True, options=f"-c search_path={schema}"
    ) as connection:
        found = await (await connection.execute(query)).fetchone()
        assert found is not None
        return found[0]


async def stall_jobs(schema: str, heartbeat_age: str) -> int:
    """Mark every waiting job of ``schema`` as run by a worker last heard of
    ``heartbeat_age`` ago; returns that worker's id."""
    worker = await scalar(
        f"INSERT INTO {schema}.procrastinate_workers (last_heartbeat)"
        f" VALUES (now() - interval '{heartbeat_age}') RETURNING id"
    )
    await scalar(
        f"WITH j AS (UPDATE {schema}.procrastinate_jobs SET status = 'doing', worker_id = {worker}"
        " WHERE status = 'todo' RETURNING 1) SELECT count(*) FROM j",
        schema,
    )
    return int(worker)


async def test_stalled_jobs_are_queued_again_once_by_workers_recovering_together(
    postgres_schema,
):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("july", rows(130_000, 30), chunk=10)
        await stall_jobs(postgres_schema, "1 hour")
        others = [Campaigns(CONNINFO, schema=postgres_schema) for _ in range(4)]
        try:
            for other in others:
                await other.setup()
            counts = await asyncio.gather(*(c.recover(stalled_after=30) for c in others))
        finally:
            for other in others:
                await other.aclose()
        assert sum(counts) == 3  # each of the three jobs queued again exactly once
        states = await scalar(
            f"SELECT array_agg(status::text ORDER BY id) FROM {postgres_schema}.procrastinate_jobs"
        )
        assert states == ["todo"] * 3
        assert await campaigns.recover(stalled_after=30) == 0  # nothing left to recover


async def test_a_job_of_a_live_worker_is_left_alone(postgres_schema):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("august", rows(140_000, 10), chunk=10)
        await stall_jobs(postgres_schema, "1 second")  # beating: not stalled after 30 s
        assert await campaigns.recover(stalled_after=30) == 0
        states = await scalar(
            f"SELECT array_agg(status::text) FROM {postgres_schema}.procrastinate_jobs"
        )
        assert states == ["doing"]


async def test_a_chunk_has_one_job_at_most_however_many_queue_it_at_once(postgres_schema):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("sept", rows(145_000, 5), chunk=5)
        worker = await stall_jobs(postgres_schema, "1 second")  # its job is running
        with pytest.raises(CampaignError, match="queued already"):
            await campaigns.enqueue("sept", 0)  # procrastinate alone would queue a second
        await scalar(
            f"UPDATE {postgres_schema}.procrastinate_jobs SET status = 'failed'"
            f" WHERE worker_id = {worker} RETURNING 1",
            postgres_schema,
        )
        others = [Campaigns(CONNINFO, schema=postgres_schema) for _ in range(6)]
        try:
            for other in others:
                await other.setup()

            async def queue(other: Campaigns) -> bool:
                try:
                    await other.enqueue("sept", 0)
                except CampaignError:
                    return False
                return True

            queued = await asyncio.gather(*(queue(other) for other in others))
        finally:
            for other in others:
                await other.aclose()
        assert sorted(queued) == [False] * 5 + [True]
        waiting = await scalar(
            f"SELECT count(*) FROM {postgres_schema}.procrastinate_jobs WHERE status = 'todo'"
        )
        assert waiting == 1


async def test_a_stalled_job_with_a_waiting_twin_or_tried_too_often_is_ended(postgres_schema):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("oct", rows(146_000, 30), chunk=10)
        await stall_jobs(postgres_schema, "1 hour")
        jobs = f"{postgres_schema}.procrastinate_jobs"
        # Chunk 0 has a twin waiting (queued past the guard); chunk 1 was tried 3 times.
        deferrer = campaigns.app.configure_task(
            CHUNK_TASK, queue="smsgate", queueing_lock="oct:0", lock="oct:0"
        )
        await deferrer.defer_async(campaign="oct", chunk=0)
        await scalar(f"UPDATE {jobs} SET attempts = 3 WHERE lock = 'oct:1' RETURNING 1")
        # Chunk 2's job is queued again; chunk 1's ends, and chunk 1 gets a new job.
        assert await campaigns.recover(stalled_after=30) == 2
        states = await scalar(
            f"SELECT array_agg(lock || '=' || status::text || '/' || attempts ORDER BY id)"
            f" FROM {jobs}",
            postgres_schema,
        )
        assert states == [
            "oct:0=failed/0",
            "oct:1=failed/3",
            "oct:2=todo/1",
            "oct:0=todo/0",
            "oct:1=todo/0",
        ]
        later = await scalar(f"SELECT scheduled_at > now() FROM {jobs} WHERE lock = 'oct:2'")
        assert later  # queued again after a wait (1 s after its first try, then 2, 4)
        assert await campaigns.recover(stalled_after=30) == 0


async def test_workers_of_a_schema_must_agree_on_when_a_worker_is_stalled(postgres_schema):
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await scalar(
            f"INSERT INTO {postgres_schema}.campaign_settings VALUES ('stalled_after', 60)"
            " RETURNING 1"
        )
        worker = await scalar(
            f"INSERT INTO {postgres_schema}.procrastinate_workers (last_heartbeat)"
            " VALUES (now()) RETURNING id"
        )
        gateway = FakeGateway(name="fake")
        with pytest.raises(ConfigurationError, match=r"the 1 live workers of schema .* use 60 s"):
            await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)
        await campaigns.work(gateway, once=True, stalled_after=60, heartbeat=0.5)  # the same
        await scalar(
            f"DELETE FROM {postgres_schema}.procrastinate_workers WHERE id = {worker} RETURNING 1"
        )
        await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)  # none live
        agreed = await scalar(f"SELECT value FROM {postgres_schema}.campaign_settings")
    assert agreed == 30


async def test_a_heartbeat_that_fails_once_goes_on_beating(caplog):
    campaigns = Campaigns("host=127.0.0.1 dbname=none", schema="unused")  # never connects
    beats: list[int] = []

    async def beat(worker_id: int) -> None:
        beats.append(worker_id)
        if len(beats) == 1:
            raise ConnectorException("the server closed the connection")

    campaigns.app.job_manager.update_heartbeat = beat  # type: ignore[method-assign]
    campaigns._keep_beating()
    campaigns._keep_beating()  # once is enough
    with caplog.at_level(logging.WARNING, "smsgate.campaign"):
        await campaigns.app.job_manager.update_heartbeat(7)  # does not raise
        await campaigns.app.job_manager.update_heartbeat(7)
    assert beats == [7, 7]
    assert "could not update this worker's heartbeat: the server closed" in caplog.text


async def test_a_chunk_whose_run_is_held_elsewhere_is_left_to_it_then_queued_again(
    postgres_schema, sandbox
):
    first = 150_000
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("sept", rows(first, 20), chunk=20)
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            holder = PostgresJournal(CONNINFO, schema=postgres_schema)
            await holder.open("sept:0", provider=gateway.name)  # another session has it
            assert await runs_held(postgres_schema) == 1
            await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)
            held = await campaigns.status("sept")
            assert (held.pending, held.chunks[0].failed_jobs, held.stuck) == (20, 0, ())
            assert ours(sandbox, first, 20) == Counter()  # nothing sent meanwhile
            await holder.aclose()
            assert await campaigns.recover(stalled_after=30) == 1  # unfinished, no job
            await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)
        done = await campaigns.status("sept")
    assert (done.accepted, done.pending) == (20, 0)
    assert set(ours(sandbox, first, 20).values()) == {1}


async def test_a_chunk_that_keeps_failing_is_left_stuck_until_queued_again(
    postgres_schema, sandbox, monkeypatch, caplog
):
    first = 160_000
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
        await campaigns.start("oct", rows(first, 5), chunk=5)
        monkeypatch.setattr(campaigns.app.tasks[CHUNK_TASK], "retry_strategy", None)
        sending = campaigns.run_chunk

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("the provider's account is suspended")

        monkeypatch.setattr(campaigns, "run_chunk", broken)
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            for failures in range(1, FAILED_JOBS_KEPT + 1):
                await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)
                chunk = (await campaigns.status("oct")).chunks[0]
                assert (chunk.failed_jobs, chunk.queued, chunk.pending) == (failures, False, 5)
                assert chunk.stuck is (failures == FAILED_JOBS_KEPT)
                with caplog.at_level(logging.WARNING, "smsgate.campaign"):
                    queued = await campaigns.recover(stalled_after=30)
                assert queued == (0 if chunk.stuck else 1)
            assert "chunk 0 of campaign 'oct' is stuck: its jobs failed 3 times" in caplog.text
            stuck = await campaigns.status("oct")
            assert stuck.stuck == (0,)
            assert stuck.as_dict()["stuck"] == [0]
            monkeypatch.setattr(campaigns, "run_chunk", sending)  # put right
            assert await campaigns.requeue("oct") == (0,)
            assert (await campaigns.status("oct")).stuck == ()  # queued: not stuck
            await campaigns.work(gateway, once=True, stalled_after=30, heartbeat=0.5)
            assert await campaigns.requeue("oct") == ()
        done = await campaigns.status("oct")
    assert (done.accepted, done.pending, done.stuck) == (5, 0, ())
    assert set(ours(sandbox, first, 5).values()) == {1}


async def test_a_campaign_stored_but_not_queued_is_queued_by_the_first_worker(
    postgres_schema, sandbox, monkeypatch
):
    first = 170_000
    async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:

        async def refused(*args: Any, **kwargs: Any) -> None:
            raise ConnectorException("the server closed the connection")

        monkeypatch.setattr(campaigns.app.job_manager, "defer_job_async", refused)
        with pytest.raises(CampaignError, match="'nov' is stored, but not every chunk"):
            await campaigns.start("nov", rows(first, 30), chunk=10)
        monkeypatch.undo()
        assert (await campaigns.status("nov")).pending == 30
        async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
            await campaigns.work(gateway, once=True, stalled_after=2, heartbeat=0.5)
        done = await campaigns.status("nov")
    assert (done.accepted, done.pending) == (30, 0)
    assert set(ours(sandbox, first, 30).values()) == {1}


@pytest.mark.parametrize(
    ("timing", "problem"),
    [
        ({"stalled_after": 0}, "stalled_after, heartbeat: positive"),
        ({"heartbeat": -1}, "stalled_after, heartbeat: positive"),
        ({"heartbeat": True}, "stalled_after, heartbeat: positive"),
        ({"stalled_after": 30, "heartbeat": 16}, "heartbeat: at most half"),
        ({"stalled_after": 30, "heartbeat": 5, "grace": 21}, r"grace: 0 to 20 seconds"),
        ({"grace": -1}, r"grace: 0 to 20 seconds"),
    ],
)
async def test_worker_timings_that_would_let_a_chunk_run_twice_are_refused(timing, problem):
    campaigns = Campaigns("host=127.0.0.1 dbname=none", schema="unused")  # never connects
    with pytest.raises(ConfigurationError, match=problem):
        await campaigns.work(object(), **timing)  # type: ignore[arg-type]


async def test_a_worker_goes_on_looking_for_stalled_work_while_the_database_is_away(
    monkeypatch, caplog
):
    campaigns = Campaigns("host=127.0.0.1 dbname=none", schema="unused")  # never connects
    calls: list[float] = []
    third = asyncio.Event()

    async def recover(*, stalled_after: float) -> int:
        calls.append(stalled_after)
        if len(calls) == 1:
            raise CampaignError("cannot look for chunks to queue again: the server went away")
        if len(calls) == 3:
            third.set()
        return 0

    monkeypatch.setattr(campaigns, "recover", recover)
    with caplog.at_level(logging.WARNING, "smsgate.campaign"):
        watcher = asyncio.create_task(campaigns._recovering(0.01))
        async with asyncio.timeout(5):
            await third.wait()
        assert not watcher.done()  # it kept going after the failure
        watcher.cancel()
    assert calls[:3] == [0.01, 0.01, 0.01]
    assert (
        "could not look for chunks to queue again (next in 0.01s): cannot look for chunks "
        "to queue again: the server went away"
    ) in caplog.text


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
        "suppressed": 0,
        "pending": 0,
        "stuck": [],
        "chunks": [
            {
                "chunk": n,
                "rows": rows,
                "accepted": rows,
                "failed": 0,
                "uncertain": 0,
                "suppressed": 0,
                "failed_jobs": 0,
                "queued": False,
                "pending": 0,
                "stuck": False,
            }
            for n, rows in enumerate([50, 50, 20])
        ],
    }
    code, out, err = command(*args, "campaign", "status", "autumn", "--chunks")
    assert code == 0
    assert "campaign autumn" in out
    rows_of = [line.replace("│", " ").split() for line in out.splitlines()]
    assert ["all", "120", "120", "0", "0", "0", "0"] in rows_of
    assert ["2", "20", "20", "0", "0", "0", "0"] in rows_of
    code, out, err = command(*args, "campaign", "status", "winter")
    assert (code, err) == (1, "smsgate: error: there is no campaign named 'winter'\n")
    record = ours(sandbox, first, count)
    assert (len(record), set(record.values())) == (count, {1})


def test_the_commands_show_and_requeue_a_stuck_chunk(
    capsys, monkeypatch, postgres_schema, sandbox, tmp_path
):
    first, count = 410_000, 6
    file = write_csv(tmp_path / "stuck.csv", first, count)
    args = (capsys, monkeypatch, sandbox, postgres_schema)
    assert command(*args, "campaign", "start", str(file))[:2] == (0, "stuck\n")

    async def fail_its_jobs() -> None:  # as if each had failed after all its tries
        async with Campaigns(CONNINFO, schema=postgres_schema) as campaigns:
            for _ in range(FAILED_JOBS_KEPT):
                await scalar(
                    f"UPDATE {postgres_schema}.procrastinate_jobs SET status = 'failed'"
                    " WHERE status = 'todo' RETURNING 1",
                    postgres_schema,
                )
                await campaigns.recover(stalled_after=2)  # queues it again, until stuck

    asyncio.run(fail_its_jobs())
    code, out, err = command(*args, "campaign", "status", "stuck")
    assert code == 0, err
    assert out.splitlines()[-1] == (
        "stuck chunks (their jobs failed too often to be queued again): 0; see why in the "
        "workers' logs, then: smsgate campaign requeue stuck"
    )
    assert json.loads(command(*args, "campaign", "status", "stuck", "--json")[1])["stuck"] == [0]
    assert command(*args, "campaign", "requeue", "stuck")[:2] == (0, "queued chunks: 0\n")
    assert command(*args, "--json", "campaign", "requeue", "stuck")[:2] == (
        0,
        '{\n  "name": "stuck",\n  "queued": []\n}\n',
    )
    code, out, err = command(*args, "campaign", "worker", "--once", "--stalled-after", "2")
    assert code == 0, err
    final = json.loads(command(*args, "campaign", "status", "stuck", "--json")[1])
    assert (final["accepted"], final["pending"], final["stuck"]) == (count, 0, [])
    assert set(ours(sandbox, first, count).values()) == {1}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (("--grace", "21"), "--grace: 0 to 20 seconds with --stalled-after 30 (less two"),
        (("--grace", "-1"), "--grace: 0 to 20 seconds"),
        (("--stalled-after", "2", "--grace", "1.5"), "--grace: 0 to 1 seconds"),
        (("--stalled-after", "0"), "--stalled-after: must be more than 0 seconds"),
    ],
)
def test_a_worker_refuses_a_grace_longer_than_its_heartbeat_allows(
    capsys, monkeypatch, postgres_schema, sandbox, options, problem
):
    args = (capsys, monkeypatch, sandbox, postgres_schema)
    code, _, err = command(*args, "campaign", "worker", "--once", *options)
    assert code == 2
    assert problem in err


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
        "suppressed": 0,
        "pending": 0,
        "stuck": [],
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


@pytest.mark.slow
def test_a_second_signal_stops_the_chunk_under_way_at_once(postgres_schema, tmp_path):
    first, count = 360_000, 400
    # The provider stores each request's messages at once and answers 3 s later.
    with ThreadedSandbox(seed=5, failure_rate=0, latency=3) as box:
        file = write_csv(tmp_path / "cut.csv", first, count)
        run_cli(box, postgres_schema, "campaign", "start", str(file), "--chunk", "200")
        # --stalled-after 60: a grace of 50 s, far longer than the request takes.
        worker = ready(cli(box, postgres_schema, "campaign", "worker", "--stalled-after", "60"))
        deadline = time.monotonic() + 60
        wait_for_messages(box, first, count, 1, deadline)  # its first request is answering
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        worker.send_signal(signal.SIGTERM)  # the second: do not wait for the answer
        _, err = worker.communicate(timeout=30)
        assert worker.returncode == 128 + signal.SIGTERM, err
        cut = status_of(box, postgres_schema, "cut")
        assert cut["accepted"] == 0  # its answer never came: the chunk was stopped
        box.latency = 0  # the stop is over: the rescuer's requests need not be held
        rescuer = ready(cli(box, postgres_schema, "campaign", "worker", "--stalled-after", "60"))
        while pending(postgres_schema, "cut"):
            assert time.monotonic() < deadline, "the campaign was not finished"
            time.sleep(0.2)
        rescuer.send_signal(signal.SIGTERM)
        _, err = rescuer.communicate(timeout=30)
        assert rescuer.returncode == 0, err
        record = ours(box, first, count)
        final = status_of(box, postgres_schema, "cut")
    assert (len(record), set(record.values())) == (count, {1})
    assert (final["accepted"], final["uncertain"], final["pending"]) == (count, 0, 0)
