"""Suppression lists: one contract for every store, each store's own promises, the opt-out
keyword rule row by row, applying replies, and ``smsgate suppress``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE

import psycopg
import pytest

import smsgate.cli
import smsgate.suppression.postgres
import smsgate.suppression.sqlite
from smsgate.config import env_config
from smsgate.errors import ValidationError
from smsgate.journal.sqlite import SqliteJournal
from smsgate.model import InboundMessage
from smsgate.suppression import (
    START_KEYWORDS,
    STOP_KEYWORDS,
    Entry,
    MemorySuppressionList,
    PostgresSuppressionList,
    SqliteSuppressionList,
    SuppressionError,
    SuppressionList,
    apply_inbound,
    opt_out_change,
)
from tests.support.postgres import CONNINFO

UK = "+447700900123"
OTHER = "+447700900456"
KINDS = ["memory", "sqlite", "postgres"]

Opener = Callable[..., SuppressionList]


async def lists_of(kind: str, request, tmp_path) -> AsyncIterator[Opener]:
    """Open lists of ``kind``, each call another handle on the same store (a memory list has
    none to share: each is new); all are closed afterwards."""
    opened: list[SuppressionList] = []
    if kind == "postgres":
        schema = request.getfixturevalue("postgres_schema")

    def open_list(*, region: str | None = None) -> SuppressionList:
        suppression: SuppressionList
        if kind == "memory":
            suppression = MemorySuppressionList(region=region)
        elif kind == "sqlite":
            suppression = SqliteSuppressionList(tmp_path / "optouts.sqlite", region=region)
        else:
            suppression = PostgresSuppressionList(CONNINFO, schema=schema, region=region)
        opened.append(suppression)
        return suppression

    yield open_list
    for suppression in opened:
        await suppression.aclose()


@pytest.fixture(params=KINDS)
async def opener(request, tmp_path) -> AsyncIterator[Opener]:
    """Lists of every kind, in turn."""
    async for open_list in lists_of(request.param, request, tmp_path):
        yield open_list


@pytest.fixture(params=["sqlite", "postgres"])
async def shared(request, tmp_path) -> AsyncIterator[Opener]:
    """Lists of the kinds that many handles (and processes) share, in turn."""
    async for open_list in lists_of(request.param, request, tmp_path):
        yield open_list


async def entries_of(suppression: SuppressionList) -> list[Entry]:
    return [entry async for entry in suppression.entries()]


# --- the contract: every store -------------------------------------------------------------


async def test_every_store_keeps_the_protocol(opener):
    assert isinstance(opener(), SuppressionList)


async def test_a_new_list_holds_no_number(opener):
    suppression = opener()
    assert not await suppression.contains(UK)
    assert await suppression.suppressed([UK, OTHER]) == set()
    assert await entries_of(suppression) == []


async def test_an_added_number_is_kept_in_e164_with_its_reason_source_and_time(opener):
    suppression = opener()
    before = datetime.now(UTC)
    assert await suppression.add("+44 (0)7700-900 123", reason="STOP", source="inbound")
    after = datetime.now(UTC)
    assert await suppression.contains(UK)
    [entry] = await entries_of(suppression)
    assert (entry.number, entry.reason, entry.source) == (UK, "STOP", "inbound")
    assert entry.when.tzinfo is UTC
    assert before <= entry.when <= after


async def test_a_number_added_without_reason_or_source_has_none_and_manual(opener):
    suppression = opener()
    await suppression.add(UK)
    [entry] = await entries_of(suppression)
    assert (entry.reason, entry.source) == (None, "manual")


async def test_adding_a_listed_number_again_keeps_its_first_entry(opener):
    suppression = opener(region="GB")
    assert await suppression.add(UK, reason="STOP", source="inbound") is True
    [first] = await entries_of(suppression)
    assert await suppression.add("07700 900123", reason="complaint", source="cli") is False
    assert await suppression.add(UK) is False
    assert await entries_of(suppression) == [first]


async def test_removing_takes_a_number_off_once(opener):
    suppression = opener()
    await suppression.add(UK)
    await suppression.add(OTHER)
    assert await suppression.remove("+44 7700 900123") is True
    assert await suppression.remove(UK) is False
    assert not await suppression.contains(UK)
    assert [entry.number for entry in await entries_of(suppression)] == [OTHER]


async def test_a_removed_number_can_be_added_again(opener):
    suppression = opener()
    await suppression.add(UK, reason="STOP")
    await suppression.remove(UK)
    assert await suppression.add(UK, reason="STOPALL") is True
    [entry] = await entries_of(suppression)
    assert entry.reason == "STOPALL"


async def test_national_numbers_are_read_in_the_lists_region(opener):
    suppression = opener(region="gb")
    assert await suppression.add("07700 900123")
    assert await suppression.contains("+447700900123")
    assert await suppression.contains("(07700) 900-123")
    assert await suppression.remove("07700900123")
    assert not await suppression.contains(UK)


async def test_a_national_number_without_a_region_is_refused(opener):
    suppression = opener()
    with pytest.raises(ValidationError) as caught:
        await suppression.add("07700 900123")
    assert str(caught.value) == (
        "number: '07700 900123' has no country code: write it as +<country code><number>, or "
        "give the list a region such as 'GB'"
    )
    for call in (suppression.contains, suppression.remove):
        with pytest.raises(ValidationError):
            await call("07700 900123")
    with pytest.raises(ValidationError):
        await suppression.suppressed([UK, "07700 900123"])
    assert await entries_of(suppression) == []


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("", "is empty; give the recipient's phone number"),
        ("   ", "is empty; give the recipient's phone number"),
        ("+44 77", "'+44 77' cannot be a phone number: it is too short"),
        ("+44 7700 9001 2345", "'+44 7700 9001 2345' cannot be a phone number: it is too long"),
        ("+999 7700 900123", "'+999 7700 900123' is not a phone number: its country code does "),
        ("0800 FLOWERS", "'0800 FLOWERS' is not a phone number: only digits, spaces and "),
        (447700900123, "must be a string, not int"),
    ],
)
async def test_a_number_that_cannot_be_one_is_refused_before_the_list_is_touched(
    opener, number, problem
):
    suppression = opener(region="GB")
    with pytest.raises(ValidationError) as caught:
        await suppression.add(number)
    assert caught.value.field == "number"
    assert caught.value.problem.startswith(problem)
    with pytest.raises(ValidationError):
        await suppression.suppressed([UK, number])
    assert await entries_of(suppression) == []


async def test_a_region_that_is_none_is_refused_when_the_list_is_made(opener):
    with pytest.raises(ValidationError, match="'UK' is not a two-letter ISO 3166 region code"):
        opener(region="UK")


@pytest.mark.parametrize(
    ("field", "reason", "source", "problem"),
    [
        ("source", None, "", "must be a non-empty string such as 'inbound'"),
        ("source", None, "  ", "must be a non-empty string such as 'inbound'"),
        ("reason", 7, "cli", "must be a string, not int"),
        ("reason", "STOP\udc80", "cli", "holds a lone surrogate at character 5 (U+DC80)"),
    ],
)
async def test_a_reason_or_source_that_cannot_be_stored_is_refused(
    opener, field, reason, source, problem
):
    suppression = opener()
    with pytest.raises(ValidationError) as caught:
        await suppression.add(UK, reason=reason, source=source)
    assert caught.value.field == field
    assert caught.value.problem.startswith(problem)
    assert not await suppression.contains(UK)


async def test_suppressed_answers_for_5000_numbers_exactly(opener):
    suppression = opener()
    asked = [f"+4477009{n:05d}" for n in range(5000)]
    listed = asked[::25]  # 200 of them
    for number in [*listed, "+447700800001", "+33612345678"]:  # and two not asked about
        await suppression.add(number)
    assert await suppression.suppressed(asked) == set(listed)
    assert await suppression.suppressed(iter(asked[1:25])) == set()


async def test_suppressed_gives_back_numbers_as_they_were_given(opener):
    suppression = opener(region="GB")
    await suppression.add(UK)
    asked = ["07700 900123", UK, "+44 7700 900123", "+44 7700 900456", UK]
    assert await suppression.suppressed(asked) == {"07700 900123", UK, "+44 7700 900123"}


async def test_suppressed_of_no_number_is_empty_and_of_one_string_is_refused(opener):
    suppression = opener()
    await suppression.add(UK)
    assert await suppression.suppressed([]) == set()
    with pytest.raises(ValidationError, match="must be an iterable of numbers, not one string"):
        await suppression.suppressed(UK)


async def test_entries_come_in_the_order_of_their_numbers_page_after_page(opener, monkeypatch):
    monkeypatch.setattr(smsgate.suppression.sqlite, "_PAGE", 3)
    monkeypatch.setattr(smsgate.suppression.postgres, "_PAGE", 3)
    suppression = opener()
    numbers = [f"+4477009001{n:02d}" for n in range(10)]
    for number in reversed(numbers):
        await suppression.add(number, reason=f"r{number[-2:]}")
    entries = await entries_of(suppression)
    assert [entry.number for entry in entries] == numbers
    assert [entry.reason for entry in entries] == [f"r{n:02d}" for n in range(10)]


async def test_a_list_is_an_async_context_manager(opener):
    async with opener() as suppression:
        await suppression.add(UK)
        assert await suppression.contains(UK)


async def test_a_closed_list_opens_again_when_used_and_lost_nothing(shared):
    suppression = shared()
    await suppression.add(UK)
    await suppression.aclose()
    await suppression.aclose()  # twice is harmless
    assert await suppression.contains(UK)


async def test_handles_on_one_store_see_each_others_changes(shared):
    first, second = shared(), shared()
    await first.add(UK, reason="STOP")
    assert await second.contains(UK)
    assert await second.add(UK) is False
    assert await second.add(OTHER)
    assert await first.suppressed([UK, OTHER]) == {UK, OTHER}
    assert await second.remove(UK)
    assert not await first.contains(UK)
    assert [entry.number for entry in await entries_of(first)] == [OTHER]


async def test_a_memory_list_says_how_many_numbers_it_holds():
    suppression = MemorySuppressionList()
    await suppression.add(UK)
    assert repr(suppression) == "MemorySuppressionList(1 numbers)"


# --- SQLite ------------------------------------------------------------------------------


async def test_a_sqlite_list_is_a_marked_file_in_wal_mode(tmp_path):
    path = tmp_path / "optouts.sqlite"
    async with SqliteSuppressionList(path) as suppression:
        await suppression.add(UK)
    assert repr(suppression) == f"SqliteSuppressionList({str(path)!r})"
    with contextlib.closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("PRAGMA application_id").fetchone() == (0x534D5353,)
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
        assert connection.execute("SELECT number, source FROM suppressed").fetchall() == [
            (UK, "manual")
        ]
    connection.close()


_CHILD = """
import asyncio, sys
from smsgate.suppression import SqliteSuppressionList

async def main():
    async with SqliteSuppressionList(sys.argv[1]) as suppression:
        print("ready", flush=True)
        sys.stdin.readline()
        for n in range(100):
            await suppression.add(f"+4477009002{n:02d}", source="child")

asyncio.run(main())
"""


async def test_two_processes_writing_one_file_at_once_lose_nothing(tmp_path):
    path = tmp_path / "optouts.sqlite"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, str(path), stdin=PIPE, stdout=PIPE
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert await child.stdout.readline() == b"ready\n"
        async with SqliteSuppressionList(path) as suppression:
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            for n in range(100):  # while the child adds its hundred
                await suppression.add(f"+4477009001{n:02d}", source="parent")
            assert await asyncio.wait_for(child.wait(), 30) == 0
            entries = await entries_of(suppression)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert [entry.number for entry in entries] == [
        *(f"+4477009001{n:02d}" for n in range(100)),
        *(f"+4477009002{n:02d}" for n in range(100)),
    ]
    assert {entry.source for entry in entries[:100]} == {"parent"}
    assert {entry.source for entry in entries[100:]} == {"child"}


async def test_a_write_waiting_for_another_process_leaves_the_event_loop_free(tmp_path):
    path = tmp_path / "optouts.sqlite"
    async with SqliteSuppressionList(path) as suppression:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the file
        adding = asyncio.ensure_future(suppression.add(UK))
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20
        assert not adding.done()
        other.execute("COMMIT")
        other.close()
        assert await asyncio.wait_for(adding, 5) is True


async def test_statements_run_on_the_lists_own_thread(tmp_path):
    async with SqliteSuppressionList(tmp_path / "optouts.sqlite") as suppression:
        names: list[str] = []
        await suppression._call(lambda _: names.append(threading.current_thread().name))
        assert names[0].startswith("smsgate-suppression")
        assert names[0] != threading.current_thread().name


async def test_a_sqlite_list_asks_about_5000_numbers_in_one_statement(tmp_path):
    async with SqliteSuppressionList(tmp_path / "optouts.sqlite") as suppression:
        await suppression.add(UK)
        statements: list[str] = []
        await suppression._call(lambda c: c.set_trace_callback(statements.append))
        asked = [f"+4477009{n:05d}" for n in range(5000)]
        assert await suppression.suppressed(asked) == {UK}
        assert len(statements) == 1
        assert statements[0].startswith("SELECT number FROM suppressed WHERE number IN")


async def test_a_sqlite_journal_is_no_suppression_list(tmp_path):
    path = tmp_path / "campaign.journal"
    async with SqliteJournal(path):
        pass
    with pytest.raises(SuppressionError) as caught:
        await SqliteSuppressionList(path).contains(UK)
    assert str(caught.value) == (
        f"{str(path)!r} is not an smsgate suppression list (it holds something else)"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.write_text("+447700900123\n"), "file is not a database"),
        (lambda path: path.mkdir(), "unable to open database file"),
    ],
    ids=["text", "directory"],
)
async def test_what_sqlite_cannot_open_is_refused(tmp_path, make, problem):
    path = tmp_path / "optouts"
    make(path)
    suppression = SqliteSuppressionList(path)
    with pytest.raises(SuppressionError) as caught:
        await suppression.add(UK)
    assert str(caught.value) == f"suppression list {str(path)!r}: cannot use it: {problem}"
    await suppression.aclose()


async def test_a_sqlite_list_of_another_format_is_refused(tmp_path):
    path = tmp_path / "optouts.sqlite"
    async with SqliteSuppressionList(path) as suppression:
        await suppression.add(UK)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 2")
    connection.close()
    with pytest.raises(SuppressionError) as caught:
        await SqliteSuppressionList(path).contains(UK)
    assert str(caught.value) == (
        f"suppression list {str(path)!r} has format 2; this smsgate reads format 1"
    )


# --- PostgreSQL --------------------------------------------------------------------------


async def test_a_postgres_list_makes_its_table_in_its_schema_on_first_use(postgres_schema):
    async with PostgresSuppressionList(CONNINFO, schema=postgres_schema) as suppression:
        await suppression.add(UK, reason="STOP")
    async with await psycopg.AsyncConnection.connect(CONNINFO) as connection:
        cursor = await connection.execute(
            f"SELECT number, reason, source FROM {postgres_schema}.suppressed"
        )
        assert await cursor.fetchall() == [(UK, "STOP", "manual")]


async def test_a_postgres_list_asks_about_5000_numbers_in_one_query(postgres_schema, monkeypatch):
    async with PostgresSuppressionList(CONNINFO, schema=postgres_schema) as suppression:
        await suppression.add(UK)
        queries: list[str] = []
        execute = psycopg.AsyncConnection.execute

        async def counted(self, query, *args, **kwargs):
            queries.append(query.as_string(self) if hasattr(query, "as_string") else query)
            return await execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.AsyncConnection, "execute", counted)
        asked = [f"+4477009{n:05d}" for n in range(5000)]
        assert await suppression.suppressed(asked) == {UK}
    assert queries == [f'SELECT number FROM "{postgres_schema}".suppressed WHERE number = ANY(%s)']


async def test_a_lost_connection_is_opened_again(postgres_schema):
    async with PostgresSuppressionList(CONNINFO, schema=postgres_schema) as suppression:
        await suppression.add(UK)
        assert suppression._connection is not None
        pid = suppression._connection.info.backend_pid
        async with await psycopg.AsyncConnection.connect(CONNINFO) as other:
            await other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await suppression.contains(UK)
        assert suppression._connection.info.backend_pid != pid


async def test_an_unreachable_postgres_is_a_suppression_error(closed_port_url):
    port = closed_port_url.rsplit(":", 1)[1]
    suppression = PostgresSuppressionList(f"host=127.0.0.1 port={port} connect_timeout=3")
    with pytest.raises(SuppressionError) as caught:
        await suppression.contains(UK)
    assert str(caught.value).startswith("cannot connect to the suppression list's PostgreSQL: ")


@pytest.mark.parametrize("schema", ["Smsgate", "1st", "sms-gate", "x" * 64, ""])
def test_a_schema_that_is_no_plain_name_is_refused(schema):
    with pytest.raises(ValidationError) as caught:
        PostgresSuppressionList(CONNINFO, schema=schema)
    assert caught.value.field == "schema"


def test_a_postgres_list_shows_no_password():
    suppression = PostgresSuppressionList("postgresql://sms:hunter2@db/sms", schema="optouts")
    assert repr(suppression) == "PostgresSuppressionList(schema='optouts')"


# --- opt-out keywords ----------------------------------------------------------------------

KEYWORD_TABLE = [
    *((word, "stop") for word in sorted(STOP_KEYWORDS)),
    *((word, "start") for word in sorted(START_KEYWORDS)),
    # case
    ("stop", "stop"),
    ("Stop", "stop"),
    ("sToP", "stop"),
    ("unsubscribe", "stop"),
    ("Unstop", "start"),
    ("start", "start"),
    # punctuation at the ends
    ("STOP.", "stop"),
    ("Stop!", "stop"),
    ("!!STOP!!", "stop"),
    ("'STOP'", "stop"),
    ('"quit"', "stop"),
    ("(end)", "stop"),
    ("¡Stop!", "stop"),
    ("stop…", "stop"),
    ("-STOP-", "stop"),
    ("STOP :)", "stop"),
    ("«START»", "start"),
    # white space and invisible characters at the ends
    (" STOP ", "stop"),
    ("\tSTOP\r\n", "stop"),
    ("\u00a0Stop\u00a0", "stop"),  # no-break spaces
    ("\u3000STOP", "stop"),  # an ideographic space
    ("\u200bSTOP\u200b", "stop"),  # zero-width spaces
    ("\ufeffSTOP", "stop"),  # a byte-order mark
    ("  . stop ! ", "stop"),
    # NFKC
    ("\uff33\uff34\uff2f\uff30", "stop"),  # full-width STOP
    ("\uff53\uff54\uff4f\uff50\uff01", "stop"),  # full-width stop!
    ("\uff35\uff2e\uff33\uff34\uff2f\uff30", "start"),  # full-width UNSTOP
    ("\u017ftop", "stop"),  # a long s
    ("STOP\u2024", "stop"),  # one dot leader: NFKC makes it a full stop
    # not keywords
    ("Stop it please", None),
    ("please stop", None),
    ("STOP ALL", None),
    ("S.T.O.P", None),
    ("S TOP", None),
    ("STOPP", None),
    ("TOP", None),
    ("ENDED", None),
    ("Cancel my order", None),
    ("STOP 🛑", None),  # an emoji is no punctuation
    ("STOP\u0301", None),  # a combining accent makes another letter
    ("\u0421\u0422\u041e\u041f", None),  # Cyrillic СТОП
    ("STO\u0420", None),  # a Cyrillic capital ER in place of the P
    ("STOP\nSTOP", None),
    ("", None),
    ("   ", None),
    ("...", None),
    ("\u200b", None),
]


@pytest.mark.parametrize(("text", "change"), KEYWORD_TABLE, ids=repr)
def test_the_keyword_rule(text, change):
    assert opt_out_change(text) == change


def test_the_default_keywords():
    assert {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"} == STOP_KEYWORDS
    assert {"START", "UNSTOP"} == START_KEYWORDS


def test_keywords_can_be_chosen_and_are_read_by_the_same_rule():
    french = {"ARRET", "ARRÊT", "STOP"}
    assert opt_out_change("arrêt", stop=french, start={"Reprendre"}) == "stop"
    assert opt_out_change(" Arret. ", stop=french, start={"Reprendre"}) == "stop"
    assert opt_out_change("REPRENDRE", stop=french, start={"Reprendre"}) == "start"
    assert opt_out_change("UNSUBSCRIBE", stop=french, start={"Reprendre"}) is None
    assert opt_out_change("START", stop=french, start={"Reprendre"}) is None
    assert opt_out_change("stop", stop={"\uff33\uff34\uff2f\uff30"}) == "stop"
    assert opt_out_change("STOP", stop=()) is None


@pytest.mark.parametrize(
    ("stop", "start", "message"),
    [
        ({"STOP", "START"}, START_KEYWORDS, "start: 'START' is a stop keyword and a start "),
        ({"stop"}, {"Stop!"}, "start: 'Stop!' is a stop keyword and a start keyword"),
        ({"STOP", "..."}, START_KEYWORDS, "stop: '...' is no keyword: a keyword needs a letter"),
        (STOP_KEYWORDS, {""}, "start: '' is no keyword"),
        (STOP_KEYWORDS, {None}, "start: None is no keyword"),
        ("STOP", START_KEYWORDS, "stop: must be an iterable of keywords, not one string"),
    ],
)
def test_keywords_that_cannot_work_are_refused(stop, start, message):
    with pytest.raises(ValidationError) as caught:
        opt_out_change("STOP", stop=stop, start=start)
    assert str(caught.value).startswith(message)


def test_a_text_that_is_no_string_is_refused():
    with pytest.raises(ValidationError, match="text: must be a string, not bytes"):
        opt_out_change(b"STOP")  # type: ignore[arg-type]


# --- applying replies ----------------------------------------------------------------------


def reply(text: str, sender: str = UK) -> InboundMessage:
    return InboundMessage(
        provider="smsworks",
        message_id="in-1",
        sender=sender,
        to="+447700900000",
        text=text,
        received_at=datetime.now(UTC),
    )


async def test_a_stop_reply_lists_its_sender_with_the_keyword_as_reason(opener):
    suppression = opener()
    assert await apply_inbound(suppression, reply(" stopall! ")) == "stop"
    [entry] = await entries_of(suppression)
    assert (entry.number, entry.reason, entry.source) == (UK, "STOPALL", "inbound")
    assert await apply_inbound(suppression, reply("STOP")) == "stop"
    assert [(e.number, e.reason) for e in await entries_of(suppression)] == [(UK, "STOPALL")]


async def test_a_start_reply_takes_its_sender_off(opener):
    suppression = opener()
    await suppression.add(UK)
    await suppression.add(OTHER)
    assert await apply_inbound(suppression, reply("Unstop")) == "start"
    assert await suppression.suppressed([UK, OTHER]) == {OTHER}
    assert await apply_inbound(suppression, reply("START")) == "start"  # not listed: no change
    assert await suppression.suppressed([UK, OTHER]) == {OTHER}


async def test_any_other_reply_changes_nothing(opener):
    suppression = opener()
    await suppression.add(OTHER)
    assert await apply_inbound(suppression, reply("Stop it please")) is None
    assert await apply_inbound(suppression, reply("Unstop", sender=UK)) == "start"
    assert await apply_inbound(suppression, reply("", sender="not a number")) is None
    assert [entry.number for entry in await entries_of(suppression)] == [OTHER]


async def test_chosen_keywords_apply(opener):
    suppression = opener()
    assert await apply_inbound(suppression, reply("Arrêt"), stop={"ARRÊT"}) == "stop"
    [entry] = await entries_of(suppression)
    assert entry.reason == "ARRÊT"
    assert await apply_inbound(suppression, reply("STOP"), stop={"ARRÊT"}) is None
    assert await apply_inbound(suppression, reply("Go"), stop={"ARRÊT"}, start={"GO"}) == "start"
    assert await entries_of(suppression) == []


async def test_a_stop_from_a_sender_that_is_no_number_is_logged_and_changes_nothing(opener, caplog):
    suppression = opener()
    with caplog.at_level(logging.WARNING, logger="smsgate.suppression"):
        assert await apply_inbound(suppression, reply("STOP", sender="Vodafone")) is None
    assert await entries_of(suppression) == []
    assert caplog.messages == [
        "STOP from 'Vodafone' (smsworks message in-1) not applied: 'Vodafone' is not a phone "
        "number: only digits, spaces and + - . ( ) / may appear"
    ]


# --- configuration -------------------------------------------------------------------------


def test_smsgate_suppression_is_no_gateway_option():
    environ = {"SMSGATE_PROVIDER": "fake", "SMSGATE_SUPPRESSION": "/var/lib/sms/optouts"}
    assert env_config(environ) == {"provider": "fake"}


# --- smsgate suppress ----------------------------------------------------------------------

LISTED = re.compile(r"(?P<number>\+\d+) +(?P<when>\S+)  (?P<source>\S+)  (?P<reason>.+)")


@pytest.fixture
def command(capsys, monkeypatch):
    """Run ``smsgate`` here; returns (exit code, stdout, stderr)."""
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)

    def run(*argv: str) -> tuple[int, str, str]:
        code = smsgate.cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def listed(out: str) -> list[tuple[str, str, str]]:
    """The lines `smsgate suppress list` printed: (number, source, reason), each checked."""
    rows = []
    for line in out.splitlines():
        match = LISTED.fullmatch(line)
        assert match, line
        assert len(match["number"]) == 13
        assert line.index(match["when"]) == 18
        assert datetime.fromisoformat(match["when"]).utcoffset() == timedelta(0)
        rows.append((match["number"], match["source"], match["reason"]))
    return rows


def test_the_commands_add_list_and_remove_numbers(command, tmp_path):
    file = str(tmp_path / "optouts.sqlite")
    code, out, err = command(
        "suppress",
        "add",
        "07700 900123",
        "+447700900456",
        "--reason",
        "STOP",
        "--region",
        "gb",
        "--list",
        file,
    )
    assert (code, out, err) == (0, "added +447700900123\nadded +447700900456\n", "")
    code, out, err = command(
        "suppress",
        "add",
        "+44 7700 900123",
        "+447700900789",
        "07700900789",
        "--list",
        file,
        "--region",
        "GB",
    )
    assert (code, out, err) == (
        0,
        "added +447700900789\nalready listed +447700900123\n",
        "",
    )
    code, out, err = command("suppress", "list", "--list", file)
    assert (code, err) == (0, "")
    assert listed(out) == [
        ("+447700900123", "cli", "STOP"),
        ("+447700900456", "cli", "STOP"),
        ("+447700900789", "cli", "-"),
    ]
    code, out, err = command("suppress", "remove", UK, "+447700900999", "--list", file)
    assert (code, out, err) == (0, "removed +447700900123\nnot listed +447700900999\n", "")
    code, out, err = command("suppress", "list", "--list", file, "--json")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert [{k: v for k, v in entry.items() if k != "when"} for entry in shown] == [
        {"number": OTHER, "source": "cli", "reason": "STOP"},
        {"number": "+447700900789", "source": "cli", "reason": None},
    ]
    assert all(datetime.fromisoformat(entry["when"]).tzinfo for entry in shown)


def test_the_commands_speak_json_when_asked_by_the_group(command, tmp_path):
    file = str(tmp_path / "optouts.sqlite")
    code, out, _ = command("--json", "suppress", "add", UK, "--list", file)
    assert (code, json.loads(out)) == (0, {"added": [UK], "already_listed": []})
    code, out, _ = command("--json", "suppress", "remove", UK, OTHER, "--list", file)
    assert (code, json.loads(out)) == (0, {"removed": [UK], "not_listed": [OTHER]})
    code, out, _ = command("--json", "suppress", "list", "--list", file)
    assert (code, json.loads(out)) == (0, [])


def test_the_list_is_found_through_smsgate_suppression(command, tmp_path, monkeypatch):
    file = tmp_path / "optouts.sqlite"
    monkeypatch.setenv("SMSGATE_SUPPRESSION", str(file))
    assert command("suppress", "add", UK) == (0, f"added {UK}\n", "")
    code, out, err = command("suppress", "list")
    assert (code, listed(out), err) == (0, [(UK, "cli", "-")], "")
    assert file.exists()


def test_an_empty_list_says_so_on_stderr(command, tmp_path):
    file = tmp_path / "optouts.sqlite"
    command("suppress", "add", UK, "--list", str(file))
    command("suppress", "remove", UK, "--list", str(file))
    assert command("suppress", "list", "--list", str(file)) == (0, "", "the list is empty\n")


def test_a_bad_number_changes_nothing_and_exits_2(command, tmp_path):
    file = tmp_path / "optouts.sqlite"
    code, out, err = command("suppress", "add", UK, "12", "--list", str(file))
    assert (code, out) == (2, "")
    assert err == (
        "smsgate: error: number: '12' has no country code: write it as +<country "
        "code><number>, or give --region, such as --region GB\n"
    )
    assert not file.exists()
    code, out, err = command("suppress", "add", UK, "+44 77", "--list", str(file))
    assert (code, out) == (2, "")
    assert err == "smsgate: error: number: '+44 77' cannot be a phone number: it is too short\n"
    command("suppress", "add", UK, "--list", str(file))
    code, out, err = command("suppress", "remove", UK, "call me", "--list", str(file))
    assert (code, out) == (2, "")
    assert err.startswith("smsgate: error: number: 'call me' is not a phone number: ")
    assert command("suppress", "list", "--list", str(file))[1].startswith(UK)


def test_a_bad_region_exits_2(command, tmp_path):
    file = tmp_path / "optouts.sqlite"
    code, out, err = command("suppress", "add", UK, "--region", "UK", "--list", str(file))
    assert (code, out) == (2, "")
    assert err == (
        "smsgate: error: region: 'UK' is not a two-letter ISO 3166 region code such as 'GB' "
        "or 'FR'\n"
    )
    assert not file.exists()


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (
            ["suppress", "list"],
            "which list? give --list PATH (a SQLite file; or set SMSGATE_SUPPRESSION) or "
            "--db DSN (PostgreSQL)",
        ),
        (
            ["suppress", "add", UK, "--list", "x", "--db", "y"],
            "give --list PATH or --db DSN, not both",
        ),
        (["suppress", "remove", UK, "--schema", "s", "--list", "x"], "--schema goes with --db"),
        (
            ["suppress", "add", "--list", "x"],
            "missing argument NUMBER... for `smsgate suppress add` (try --help)",
        ),
    ],
)
def test_a_command_without_one_list_exits_2_with_one_line(command, argv, problem):
    code, out, err = command(*argv)
    assert (code, out, err) == (2, "", f"smsgate: error: {problem}\n")


@pytest.mark.parametrize("action", [["list"], ["remove", UK]])
def test_listing_or_removing_from_a_file_that_does_not_exist_exits_2(command, tmp_path, action):
    file = tmp_path / "optuots.sqlite"
    code, out, err = command("suppress", *action, "--list", str(file))
    assert (code, out) == (2, "")
    assert err == (
        f"smsgate: error: list: {str(file)!r} does not exist (`smsgate suppress add` makes it)\n"
    )
    assert not file.exists()


def test_a_file_that_is_no_suppression_list_exits_1(command, tmp_path):
    file = tmp_path / "numbers.txt"
    file.write_text(f"{UK}\n")
    code, out, err = command("suppress", "list", "--list", str(file))
    assert (code, out) == (1, "")
    assert err == (
        f"smsgate: error: suppression list {str(file)!r}: cannot use it: file is not a database\n"
    )


def test_the_commands_keep_the_list_in_postgres(command, postgres_schema, monkeypatch):
    # A list named by SMSGATE_SUPPRESSION gives way to --db.
    monkeypatch.setenv("SMSGATE_SUPPRESSION", "/nonexistent/optouts.sqlite")
    db = ("--db", CONNINFO, "--schema", postgres_schema)
    code, out, err = command("suppress", "add", UK, "07700900456", "--region", "GB", *db)
    assert (code, out, err) == (0, f"added {UK}\nadded {OTHER}\n", "")
    assert command("suppress", "remove", UK, *db) == (0, f"removed {UK}\n", "")
    code, out, err = command("suppress", "list", *db)
    assert (code, listed(out), err) == (0, [(OTHER, "cli", "-")], "")


def test_an_unreachable_postgres_exits_1(command, closed_port_url):
    port = closed_port_url.rsplit(":", 1)[1]
    code, out, err = command("suppress", "list", "--db", f"host=127.0.0.1 port={port}")
    assert (code, out) == (1, "")
    assert err.startswith("smsgate: error: cannot connect to the suppression list's PostgreSQL")


# --- docs/suppression.md -------------------------------------------------------------------

DOCS = Path(__file__).parent.parent / "docs" / "suppression.md"
DOC_EXAMPLES = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)


def test_the_docs_have_their_examples():
    assert len(DOC_EXAMPLES) == 3


@pytest.mark.parametrize("code", DOC_EXAMPLES, ids=[f"example-{i}" for i in range(3)])
def test_a_docs_example_runs(code):
    exec(compile(code, str(DOCS), "exec"), {"__name__": "__docs__"})
