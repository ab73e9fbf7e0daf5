"""Opt-outs and quiet hours kept while sending: recipients on a suppression list are refused
before any request, and recipients outside a local-time window are scheduled for its next
opening. Checked against the sandbox's own record (what the provider took, and when it is
to send it) on 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import smsgate
from smsgate import Message, OutcomeStatus, send_all, send_many, try_send
from smsgate.cli import main
from smsgate.errors import RecipientSuppressed
from smsgate.journal.sqlite import SqliteJournal
from smsgate.quiet import Window, next_opening
from smsgate.routing import RoutingGateway
from smsgate.sandbox import Sandbox
from smsgate.suppression import (
    MemorySuppressionList,
    SuppressingGateway,
    SuppressionError,
)
from smsgate.testing import FakeGateway
from tests.support.sandbox import ThreadedSandbox


def next_january(hour: int) -> datetime:
    """15 January of next year at ``hour`` UTC: a winter day, always ahead."""
    return datetime(datetime.now(UTC).year + 1, 1, 15, hour, 0, tzinfo=UTC)


def number(i: int) -> str:
    return f"+4477009{i:05d}"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    box = Sandbox(seed=5, failure_rate=0)
    await box.start()
    yield box
    await box.stop()


class Counting(MemorySuppressionList):
    """A list in memory that counts how often it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
        numbers = list(numbers)
        self.asked.append(len(numbers))
        assert e164  # a bulk run's numbers are its messages', E.164 already
        return await super().suppressed(numbers, e164=e164)


def taken(box: Sandbox, provider: str = "smsworks") -> list[str]:
    return [sms.to for sms in box.messages(provider)]


# --- opt-outs --------------------------------------------------------------------------------


async def test_a_bulk_run_never_sends_to_a_suppressed_number(sandbox):
    suppression = Counting()
    for i in (1, 4, 7):
        await suppression.add(number(i), reason="STOP")
    messages = [Message(number(i), f"Offer {i}") for i in range(10)]
    async with (
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
        send_many(gateway, messages, suppression=suppression) as run,
    ):
        outcomes = sorted([o async for o in run], key=lambda o: o.index)
    assert [o.status for o in outcomes] == [
        OutcomeStatus.SUPPRESSED if i in (1, 4, 7) else OutcomeStatus.ACCEPTED for i in range(10)
    ]
    refused = outcomes[4].error
    assert isinstance(refused, RecipientSuppressed)
    assert refused.to == number(4)
    assert str(refused) == f"{number(4)} opted out (a suppression list holds the number): not sent"
    assert outcomes[4].receipt is None
    assert sorted(taken(sandbox)) == [number(i) for i in range(10) if i not in (1, 4, 7)]
    summary = run.summary
    assert (summary.accepted, summary.suppressed, summary.failed, summary.total) == (7, 3, 0, 10)
    assert suppression.asked == [10]  # one look-up for the whole request


async def test_a_suppressing_gateway_refuses_single_sends_before_any_request(sandbox):
    suppression = MemorySuppressionList()
    await suppression.add(number(1))
    async with smsgate.from_config(sandbox.config("smsworks")) as inner:
        gateway = SuppressingGateway(inner, suppression)
        assert gateway.name == "smsworks"
        with pytest.raises(RecipientSuppressed):
            await gateway.send(Message(number(1), "Hi"))
        with pytest.raises(RecipientSuppressed):
            await gateway.schedule(Message(number(1), "Hi"), datetime.now(UTC) + timedelta(1))
        outcome = await try_send(gateway, Message(number(1), "Hi"))
        assert (outcome.status, type(outcome.error)) == (
            OutcomeStatus.SUPPRESSED,
            RecipientSuppressed,
        )
        assert taken(sandbox) == []
        receipt = await gateway.send(Message(number(2), "Hi"))
        assert taken(sandbox) == [number(2)]
        assert (await gateway.status(receipt)).provider == "smsworks"
        assert gateway.can_find
        assert receipt.key is not None
        assert await gateway.find(receipt.key) is not None
        # A bulk run through it uses the provider's batches, and the list a request at once.
        summary = await send_all(gateway, [Message(number(i), "Yo") for i in range(1, 6)])
    assert (summary.accepted, summary.suppressed) == (4, 1)
    assert sorted(taken(sandbox)) == sorted([number(2), *[number(i) for i in range(2, 6)]])
    assert [s.batch_id is not None for s in sandbox.messages("smsworks")][-4:] == [True] * 4
    with pytest.raises(TypeError, match="suppression: must be a SuppressionList"):
        SuppressingGateway(inner, [number(1)])  # type: ignore[arg-type]


async def test_a_list_that_cannot_be_read_stops_the_run_and_sends_nothing(sandbox):
    class Broken(MemorySuppressionList):
        async def suppressed(self, numbers: Iterable[str], *, e164: bool = False) -> set[str]:
            raise OSError("disk I/O error")

    messages = [Message(number(i), "Hi") for i in range(5)]
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        run = send_many(gateway, messages, suppression=Broken())
        seen: list[smsgate.Outcome] = []

        async def read() -> None:
            async with run:
                async for outcome in run:
                    seen.append(outcome)

        with pytest.raises(SuppressionError, match="the suppression list cannot be read"):
            await read()
    assert taken(sandbox) == []
    assert run.summary.unsent == 5
    assert {o.status for o in seen} <= {OutcomeStatus.UNSENT}


async def test_a_resumed_run_looks_suppressed_rows_up_again(sandbox, tmp_path):
    suppression = MemorySuppressionList()
    await suppression.add(number(3))
    messages = [Message(number(i), f"Code {i}", reference=f"r{i}") for i in range(5)]
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        async with SqliteJournal(tmp_path / "run.journal") as journal:
            first = await send_all(
                gateway, messages, journal=journal, run="r", suppression=suppression
            )
        await suppression.remove(number(3))  # they opted back in
        async with SqliteJournal(tmp_path / "run.journal") as journal:
            again = await send_all(
                gateway, messages, journal=journal, run="r", suppression=suppression
            )
    assert (first.accepted, first.suppressed) == (4, 1)
    assert (again.accepted, again.earlier, again.suppressed) == (5, 4, 0)
    assert sorted(taken(sandbox)) == [number(i) for i in range(5)]  # each once


def test_bad_policies_are_refused_at_once():
    gateway = smsgate.testing.FakeGateway()
    with pytest.raises(smsgate.ValidationError, match="suppression: must be a SuppressionList"):
        send_many(gateway, [], suppression=["+447700900123"])  # type: ignore[arg-type]
    with pytest.raises(smsgate.ValidationError, match="window: must be a Window"):
        send_many(gateway, [], window=9)  # type: ignore[arg-type]
    with pytest.raises(smsgate.ValidationError, match=r"^window: "):
        send_many(gateway, [], window="9 to 5")


# --- quiet hours -----------------------------------------------------------------------------


async def test_recipients_outside_the_window_are_scheduled_for_its_next_opening(sandbox):
    # 03:00 UTC on 15 January: 03:00 in London (outside 09:00-20:00), 12:00 in Tokyo
    # (inside), 22:00 the day before in New York (outside).
    at = next_january(3)
    window = Window.parse("09:00-20:00")
    to = {"london": "+447700900123", "tokyo": "+81312345678", "new_york": "+12125550123"}
    messages = [Message(n, f"Hello {city}") for city, n in to.items()]
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        summary = await send_all(gateway, messages, at=at, window=window)
    assert summary.accepted == 3
    when = {sms.to: sms.send_at for sms in sandbox.messages("smsworks")}
    assert when[to["london"]] == at.replace(hour=9)
    assert when[to["tokyo"]] == at
    assert when[to["new_york"]] == at.replace(hour=14)  # 09:00 EST
    for n in to.values():  # the module's own rule says the same
        assert when[n] == (next_opening(n, window, at) or at)


async def test_one_request_goes_for_each_sending_time(sandbox):
    at = next_january(3)
    to = ["+447700900123", "+81312345678", "+12125550123", "+447700900124"]
    messages = [Message(n, "Hello") for n in to]  # one text: one group, until it leaves
    async with smsgate.from_config(sandbox.config("smsworks")) as gateway:
        summary = await send_all(gateway, messages, at=at, window="09:00-20:00")
    assert summary.accepted == 4
    stored = {sms.to: sms for sms in sandbox.messages("smsworks")}
    london = [stored["+447700900123"], stored["+447700900124"]]
    assert london[0].batch_id is not None
    assert london[0].batch_id == london[1].batch_id  # one request for the two, at 09:00
    others = {stored["+81312345678"].batch_id, stored["+12125550123"].batch_id}
    assert london[0].batch_id not in others  # Tokyo (now) and New York (14:00) apart
    assert {sms.send_at for sms in stored.values()} == {
        at,
        at.replace(hour=9),
        at.replace(hour=14),
    }


async def test_the_window_is_asked_as_the_request_leaves(monkeypatch):
    gateway = smsgate.testing.FakeGateway()
    instant = [datetime(2030, 1, 15, 3, 0, tzinfo=UTC)]  # 03:00 in London: closed

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Clock:
            return cls.fromtimestamp(instant[0].timestamp(), tz)

    monkeypatch.setattr("smsgate.bulk._dispatch.datetime", Clock)

    async def receipt(to: str) -> smsgate.Receipt:
        async with send_many(gateway, [Message(to, "Hi")], window="09:00-20:00") as run:
            [outcome] = [o async for o in run]
        assert outcome.receipt is not None
        return outcome.receipt

    scheduled = await receipt(number(1))
    instant[0] = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)  # open
    sent = await receipt(number(2))
    assert scheduled.scheduled_at == datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
    assert sent.scheduled_at is None


async def test_a_number_whose_zones_never_share_the_window_fails_alone(sandbox):
    at = next_january(3)
    # A Russian mobile could be anywhere from Kaliningrad to Kamchatka (phonenumbers gives
    # it 16 zones): no moment is inside 09:00-11:00 in all of them at once.
    messages = [Message("+79161234567", "Privet"), Message("+447700900123", "Hi")]
    async with (
        smsgate.from_config(sandbox.config("smsworks")) as gateway,
        send_many(gateway, messages, at=at, window="09:00-11:00") as run,
    ):
        outcomes = sorted([o async for o in run], key=lambda o: o.index)
    assert [o.status for o in outcomes] == [OutcomeStatus.FAILED, OutcomeStatus.ACCEPTED]
    assert "window" in str(outcomes[0].error)
    assert taken(sandbox) == ["+447700900123"]


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def threaded() -> Any:
    with ThreadedSandbox(seed=6, failure_rate=0) as box:
        yield box


def cli(monkeypatch, capsys, box, *argv: str) -> tuple[int, str, str]:
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)
    for key, value in box.config("smsworks").items():
        monkeypatch.setenv(f"SMSGATE_{key.upper()}", str(value))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def csv_of(path: Path, numbers: list[str]) -> str:
    path.write_text("to,text\n" + "".join(f"{n},Sale\n" for n in numbers))
    return str(path)


def test_bulk_skips_the_numbers_of_a_suppression_list(monkeypatch, capsys, threaded, tmp_path):
    listed = tmp_path / "optouts.sqlite"
    numbers = [number(i) for i in range(6)]
    code, _, err = cli(
        monkeypatch, capsys, threaded, "suppress", "add", numbers[2], "--list", str(listed)
    )
    assert code == 0, err
    rows = csv_of(tmp_path / "rows.csv", numbers)
    code, out, err = cli(
        monkeypatch, capsys, threaded, "--json", "bulk", rows, "--suppression", str(listed)
    )
    assert code == 0, err
    found = json.loads(out)
    assert (found["accepted"], found["suppressed"], found["failed"]) == (5, 1, 0)
    assert sorted(taken(threaded)) == [n for n in numbers if n != numbers[2]]
    # The list from the environment, and a table for people.
    monkeypatch.setenv("SMSGATE_SUPPRESSION", str(listed))
    rows = csv_of(tmp_path / "more.csv", [numbers[2], number(9)])
    code = main(["bulk", rows])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1 rows were not sent: their recipients opted out" in out
    code = main(["bulk", rows, "--suppression", str(tmp_path / "none.sqlite")])
    out, err = capsys.readouterr()
    assert code == 2
    assert "none.sqlite" in err


def test_bulk_keeps_quiet_hours(monkeypatch, capsys, threaded, tmp_path):
    # A window that opens two hours from now in London, for an hour: every row waits for it.
    local = datetime.now(ZoneInfo("Europe/London"))
    opens = (local + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = f"{opens:%H:%M}-{opens + timedelta(hours=1):%H:%M}"
    numbers = [number(i) for i in range(3)]
    rows = csv_of(tmp_path / "rows.csv", numbers)
    started = datetime.now(UTC)
    code, out, err = cli(monkeypatch, capsys, threaded, "--json", "bulk", rows, "--window", window)
    assert code == 0, err
    assert json.loads(out)["accepted"] == 3
    expected = next_opening(numbers[0], Window.parse(window), started)
    assert expected is not None
    for sms in threaded.messages("smsworks"):
        assert abs(sms.send_at - expected) < timedelta(minutes=1)
    code, _, err = cli(monkeypatch, capsys, threaded, "bulk", rows, "--window", "nine to five")
    assert code == 2
    assert "window" in err


async def test_a_router_never_fails_over_past_an_opt_out():
    primary, backup = FakeGateway(name="primary"), FakeGateway(name="backup")
    optouts = MemorySuppressionList()
    await optouts.add(number(1))
    router = RoutingGateway(providers=[SuppressingGateway(primary, optouts), backup])
    outcome = await try_send(router, Message(number(1), "Hi"))
    assert outcome.status is OutcomeStatus.SUPPRESSED
    assert (primary.outbox, backup.outbox) == ([], [])


def test_a_gateway_that_brings_a_list_takes_no_second_one():
    gateway = SuppressingGateway(FakeGateway(), MemorySuppressionList())
    with pytest.raises(smsgate.ValidationError, match="brings a suppression list already"):
        send_many(gateway, [], suppression=MemorySuppressionList())
    send_many(gateway, [], suppression=gateway.suppression)  # the same one: fine
