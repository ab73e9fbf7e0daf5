"""Progress people can read: the bulk bar's rate, time left and live counts, and what
``smsgate track`` shows while it follows a run."""

import io
import json
import os
import re

import pytest
from rich.console import Console

from smsgate import DeliveryStatus
from smsgate.cli import main
from smsgate.cli._common import OK
from smsgate.cli._progress import BulkBar, StatusBoard, counts_line
from tests.support.sandbox import ThreadedSandbox

QUEUED, SENT, DELIVERED, UNDELIVERED = (
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.UNDELIVERED,
)


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal(width=80):
    return Console(file=io.StringIO(), force_terminal=True, width=width, record=True)


def plain():
    return Console(file=io.StringIO(), force_terminal=False, width=80)


def drawn(console, renderable):
    console.print(renderable)
    return console.export_text().splitlines()


# --- the bulk bar --------------------------------------------------------------------------


def test_the_bulk_bar_shows_the_rate_the_time_left_and_the_counts_so_far():
    clock, console = Clock(), terminal()
    bar = BulkBar(console, get_time=clock)
    task = bar.add_task("sending through smsworks", total=12_000)
    clock.now += 1
    bar.update(task, completed=1_000, accepted=1_000)
    clock.now += 4
    bar.update(task, completed=5_000, accepted=4_990, failed=7, uncertain=3)

    assert drawn(console, bar.get_renderable()) == [
        "sending through smsworks ━━━━━━━━━╺━━━━━━━━━━━━ 5,000/12,000 1,000/s ETA 0:00:07",
        "  4,990 accepted · 7 failed · 3 uncertain",
    ]


def test_the_bulk_bar_says_how_long_a_finished_run_took():
    clock, console = Clock(), terminal()
    bar = BulkBar(console, get_time=clock)
    task = bar.add_task("sending through fake", total=300)
    clock.now += 1
    bar.update(task, completed=100, accepted=100)
    clock.now += 2
    bar.update(task, completed=300, accepted=290, failed=4, uncertain=1, suppressed=5)

    assert drawn(console, bar.get_renderable()) == [
        "sending through fake ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 300/300 100/s in 0:00:03",
        "  290 accepted · 4 failed · 1 uncertain · 5 opted out",
    ]


def test_the_bulk_bar_waits_for_a_rate_before_it_guesses_the_time_left():
    clock, console = Clock(), terminal()
    bar = BulkBar(console, get_time=clock)
    bar.add_task("sending through fake", total=10)

    assert drawn(console, bar.get_renderable())[0].endswith(" 0/10 -/s ETA -")


def test_counts_have_thousands_separators():
    assert counts_line(1_234_567, 0, 12_000).plain == (
        "  1,234,567 accepted · 0 failed · 12,000 uncertain"
    )


def test_bulk_shows_its_bar_and_counts_on_stderr_and_none_with_json(capsys, tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)
    path = tmp_path / "rows.csv"
    path.write_text("to,text\n+447700900001,Hi\nnope,Hi\n+447700900003,Hi\n", encoding="utf-8")

    main(["-p", "fake", "bulk", str(path), "--no-journal"])
    err = capsys.readouterr().err.splitlines()
    main(["-p", "fake", "--json", "bulk", str(path), "--no-journal"])
    quiet = capsys.readouterr().err

    assert re.fullmatch(r"sending through fake ━+ 3/3 [\d,]+/s in 0:00:0\d", err[0])
    assert err[1] == "  2 accepted · 1 failed · 0 uncertain"
    assert quiet == ""


# --- what track shows ----------------------------------------------------------------------


def test_the_board_prints_a_line_when_the_counts_change_at_most_every_few_seconds():
    clock, console = Clock(), plain()
    board = StatusBoard(console, "following 3 messages", every=5, clock=clock)

    with board:
        board.show([QUEUED, QUEUED, QUEUED])
        clock.now += 1
        board.show([SENT, QUEUED, QUEUED])  # too soon: not printed
        clock.now += 5
        board.show([SENT, SENT, DELIVERED])
        clock.now += 10
        board.show([SENT, SENT, DELIVERED])  # no change: not printed again
        clock.now += 1
        board.show([DELIVERED, UNDELIVERED, DELIVERED])  # the last: printed on leaving

    assert console.file.getvalue().splitlines() == [
        "0 of 3 final: queued 3",
        "1 of 3 final: sent 2, delivered 1",
        "3 of 3 final: delivered 2, undelivered 1",
    ]


def test_the_board_prints_nothing_when_disabled():
    console = plain()

    with StatusBoard(console, "following 1 message", enabled=False) as board:
        board.show([QUEUED])
        board.show([DELIVERED])

    assert console.file.getvalue() == ""


def test_the_board_is_a_table_of_statuses_with_how_many_are_final():
    clock = Clock()
    board = StatusBoard(plain(), "following 12 messages of run 'x.csv'", clock=clock)
    board.show([DELIVERED] * 6 + [SENT] * 4 + [QUEUED] * 2)
    clock.now += 75

    assert drawn(terminal(), board.table()) == [
        "following 12 messages of run 'x.csv'",
        "┏━━━━━━━━━━━┳━━━━━━━━━━┓",
        "┃ status    ┃ messages ┃",
        "┡━━━━━━━━━━━╇━━━━━━━━━━┩",
        "│ queued    │        2 │",
        "│ sent      │        4 │",
        "│ delivered │        6 │",
        "└───────────┴──────────┘",
        "6 of 12 final · 0:01:15",
    ]


def test_on_a_terminal_the_board_is_drawn_live_and_cleared_at_the_end():
    console = terminal()

    with StatusBoard(console, "following 2 messages") as board:
        board.show([QUEUED, SENT])
        board.show([DELIVERED, SENT])

    written = console.file.getvalue()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written)
    assert re.search(r"│ queued +│ +1 │", text)  # first drawn
    assert re.search(r"│ delivered +│ +1 │", text)  # then drawn over
    assert "1 of 2 final" in text
    assert written.endswith("\x1b[2K")  # and cleared at the end


@pytest.fixture(scope="module")
def sandbox():
    with ThreadedSandbox(seed=1, failure_rate=0, send_delay=0.02, deliver_delay=0.02) as box:
        yield box


def test_track_shows_the_statuses_while_it_waits_and_only_the_json_with_json(
    capsys, sandbox, tmp_path, monkeypatch
):
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)
    for key, value in sandbox.config("smsworks").items():
        monkeypatch.setenv(f"SMSGATE_{key.upper()}", str(value))
    journals = []
    for first in (31_000, 31_100):
        path = tmp_path / f"rows{first}.csv"
        path.write_text(
            "to,text\n" + "".join(f"+4477009{first + i:05d},Offer {i}\n" for i in range(12)),
            encoding="utf-8",
        )
        assert main(["--json", "bulk", str(path)]) == OK
        journals.append(str(path) + ".journal")
    capsys.readouterr()

    code = main(["track", "--journal", journals[0], "--interval", "0.05"])
    err = capsys.readouterr().err.splitlines()
    again = main(["--json", "track", "--journal", journals[1], "--interval", "0.05"])
    quiet = capsys.readouterr()

    assert code == OK
    assert err[0] in {"0 of 12 final: queued 12", "0 of 12 final: sent 12"}
    assert err[-1] == "12 of 12 final: delivered 12"
    assert again == OK
    assert quiet.err == ""
    assert json.loads(quiet.out) == {"run": "rows31100.csv", "statuses": {"delivered": 12}}
