"""``smsgate bulk`` takes files as exports come: extra columns as fields of a text, any of the
usual delimiters, a default region and sender, a time to schedule them all for, and the
number as it was written where it did not parse."""

import contextlib
import csv
import json
import resource
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.cli._common import FAILED, OK, USAGE
from smsgate.testing import FakeGateway
from tests.support.cli import run

pytestmark = pytest.mark.usefixtures("no_smsgate_environment")


@pytest.fixture
def outbox(monkeypatch):
    """(operation, to, text, sender, at) of every message the fake provider takes."""
    taken = []
    original = FakeGateway._accept

    async def accept(self, operation, message, status, at):
        taken.append((operation, message.to, message.text, message.sender, at))
        return await original(self, operation, message, status, at)

    monkeypatch.setattr(FakeGateway, "_accept", accept)
    return taken


def write(tmp_path, content, name="rows.csv"):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_a_text_with_fields_a_default_region_and_sender_make_each_rows_message(
    capsys, tmp_path, outbox
):
    path = write(tmp_path, "id;to;name;sender\n1;07700900001;Ann;\n2;07700900002;Bob;Own\n")

    code, _, err = run(
        capsys, "-p", "fake", "bulk", path, "--text", "Hi {name}", "--region", "gb",
        "--sender", "Shop", "--no-journal",
    )  # fmt: skip

    assert code == OK, err
    assert outbox == [
        ("send", "+447700900001", "Hi Ann", "Shop", None),
        ("send", "+447700900002", "Hi Bob", "Own", None),
    ]


def test_a_semicolon_export_with_extra_columns_is_sent(capsys, tmp_path, outbox):
    path = write(
        tmp_path,
        "\ufeffcustomer;to;text;points\r\n"
        '42;+447700900001;"Hi; you have {points} points";120\r\n'
        "43;+447700900002;Hello;7\r\n",
    )

    code, _, err = run(capsys, "-p", "fake", "bulk", path, "--no-journal")

    assert code == OK, err
    assert [(to, text) for _, to, text, _, _ in outbox] == [
        ("+447700900001", "Hi; you have 120 points"),
        ("+447700900002", "Hello"),
    ]


def test_at_schedules_every_row_for_that_time(capsys, tmp_path, outbox):
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    path = write(tmp_path, "to,text\n+447700900001,Hi\n+447700900002,Ho\n")

    code, out, err = run(
        capsys, "-p", "fake", "--json", "bulk", path, "--at", when.isoformat(), "--no-journal"
    )

    assert code == OK, err
    assert json.loads(out)["accepted"] == 2
    assert [(op, at) for op, _, _, _, at in outbox] == [("schedule", when), ("schedule", when)]


def test_at_takes_a_time_zones_name_as_schedule_does(capsys, tmp_path, outbox):
    year = datetime.now(UTC).year + 1
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")

    code, _, err = run(
        capsys, "-p", "fake", "bulk", path, "--at", f"{year}-07-01 09:00 Europe/London",
        "--no-journal",
    )  # fmt: skip

    assert code == OK, err
    assert outbox[0][4] == datetime(year, 7, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("at", ["2020-01-01T09:00+00:00", "2030-01-01T09:00", "tomorrow"])
def test_an_at_that_cannot_be_used_sends_nothing(capsys, tmp_path, outbox, at):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")

    code, out, err = run(capsys, "-p", "fake", "bulk", path, "--at", at)

    assert code == USAGE
    assert out == ""
    assert err.startswith("smsgate: error: --at: ")
    assert len(err.splitlines()) == 1
    assert outbox == []


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--delimiter", "|"],
            "smsgate: error: --delimiter: '|' is not a delimiter smsgate reads: use ',', ';' "
            "or tab",
        ),
        (
            ["--region", "XX"],
            "smsgate: error: --region: 'XX' is not a two-letter ISO 3166 region code such as "
            "'GB' or 'FR'",
        ),
        (
            ["--dry-run", "--out", "out.csv"],
            "smsgate: error: --dry-run sends nothing, so it writes no --out file",
        ),
        (
            ["--text", "Hi {name"],
            "smsgate: error: --text: has a { that is not closed (character 4): write {{ for a "
            "brace",
        ),
    ],
)
def test_bad_options_are_one_line_and_send_nothing(capsys, tmp_path, outbox, argv, line):
    path = write(tmp_path, "to,name\n+447700900001,Ann\n")

    code, out, err = run(capsys, "-p", "fake", "bulk", path, *argv)

    assert (code, out, err) == (USAGE, "", line + "\n")
    assert outbox == []


@pytest.mark.parametrize(("given", "delimiter"), [(",", ","), (";", ";"), ("tab", "\t")])
def test_the_delimiter_can_be_given(capsys, tmp_path, outbox, given, delimiter):
    path = write(tmp_path, f'to{delimiter}text\n+447700900001{delimiter}"a,b;c\td"\n')

    code, _, err = run(capsys, "-p", "fake", "bulk", path, "--delimiter", given, "--no-journal")

    assert code == OK, err
    assert outbox[0][2] == "a,b;c\td"


def test_a_number_that_did_not_parse_is_shown_as_it_was_written(capsys, tmp_path, outbox):
    path = write(tmp_path, "to,text,reference\n+447700900001,Hi,a\n0770 O9 ,Hi,b\n")
    out_path = tmp_path / "results.csv"

    code, out, _ = run(capsys, "--json", "-p", "fake", "bulk", path, "--no-journal")
    problem = json.loads(out)["problems"][0]
    _, shown, _ = run(capsys, "-p", "fake", "bulk", path, "--no-journal", "--out", str(out_path))

    assert code == FAILED
    assert (problem["row"], problem["to"], problem["reference"]) == (3, "0770 O9 ", "b")
    assert "│ 3    │ 0770 O9  │ failed │ to: '0770 O9 ' is not a phone number: only        │" in (
        shown.splitlines()
    )
    with out_path.open(newline="", encoding="utf-8") as file:
        written = sorted(csv.DictReader(file), key=lambda row: int(row["line"]))
    assert [(r["line"], r["to"]) for r in written] == [("2", "+447700900001"), ("3", "0770 O9 ")]


def test_a_resumed_run_with_the_same_text_sends_nothing_again(capsys, tmp_path, outbox):
    path = write(tmp_path, "to,name\n+447700900001,Ann\n+447700900002,Bob\n")
    argv = ["--json", "-p", "fake", "bulk", path, "--text", "Hi {name}"]

    first = json.loads(run(capsys, *argv)[1])
    code, out, _ = run(capsys, *argv)
    changed, _, err = run(capsys, *argv[:-1], "Hello {name}")

    assert (first["accepted"], json.loads(out)["earlier"], code) == (2, 2, OK)
    assert len(outbox) == 2  # once each
    assert changed == USAGE  # another text is another message: the journal refuses it
    assert "is not what the journal recorded" in err


def test_a_row_whose_text_cannot_be_written_stops_the_file_before_any_request(
    capsys, tmp_path, outbox
):
    path = write(tmp_path, "to,name\n+447700900001,Ann\n+447700900002,\n")

    code, out, err = run(capsys, "-p", "fake", "bulk", path, "--text", "Hi {name}")

    assert (code, out) == (USAGE, "")
    assert err == (
        f"smsgate: error: FILE: {path!r} line 3: its text needs {{name}}, but it is empty; "
        "nothing was sent (--dry-run lists every row)\n"
    )
    assert outbox == []


@pytest.mark.parametrize("as_json", [False, True])
def test_a_failure_that_stops_a_run_is_said_after_the_report_and_as_json_with_json(
    capsys, tmp_path, outbox, monkeypatch, as_json
):
    from smsgate.suppression import SqliteSuppressionList

    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    optouts = tmp_path / "optouts.sqlite"
    assert run(capsys, "suppress", "add", "+447700900999", "--list", str(optouts))[0] == OK

    async def unreadable(self, numbers, e164=False):
        raise OSError("disk I/O error")

    monkeypatch.setattr(SqliteSuppressionList, "suppressed", unreadable)
    flags = ["--json"] if as_json else []
    code, out, err = run(
        capsys, *flags, "-p", "fake", "bulk", path, "--no-journal", "--suppression", str(optouts)
    )

    assert outbox == []  # nothing is sent past a list that cannot be read
    line = "the suppression list cannot be read: OSError('disk I/O error')"
    if as_json:
        assert json.loads(out)["unsent_rows"] == [2]
        assert json.loads(err) == {"error": line, "exit_code": code, "kind": "SuppressionError"}
    else:
        assert err.splitlines()[-1] == f"smsgate: error: {line}"
    assert code != OK


# --- what a run cannot do is said in one line, before the bar where it can ----------------


def test_a_dry_run_lists_a_columns_name_in_doubled_braces_as_a_text_that_cannot_be_written(
    capsys, tmp_path, outbox
):
    path = write(tmp_path, "to,text,name\n+447700900001,Hi {{name}} welcome,Ann\n")

    code, out, _ = run(capsys, "--json", "-p", "fake", "bulk", path, "--dry-run")

    assert code == USAGE
    report = json.loads(out)
    assert (report["refused"], report["messages"]) == (True, 0)
    assert report["problems"] == [
        {
            "row": 2,
            "to": "+447700900001",
            "reference": None,
            "error": "its text has {{name}}: a doubled brace is a literal brace, so it would "
            "go out as {name}; for the cell of column name, write {name}",
        }
    ]
    assert outbox == []


@pytest.fixture
def changed_once_checked(monkeypatch):
    """The bulk file gets ``row`` appended just after the command has checked it."""
    import smsgate.cli._bulk
    from smsgate.cli._csv import check_csv

    added: list[str] = []

    def check_then_change(path, **options):
        checked = check_csv(path, **options)
        with open(path, "a", encoding="utf-8") as file:
            file.write(added[0])
        return checked

    monkeypatch.setattr(smsgate.cli._bulk, "check_csv", check_then_change)
    return added.append


@pytest.mark.parametrize("as_json", [False, True])
def test_a_file_changed_as_it_is_sent_says_the_rest_was_not_sent_and_exits_1(
    capsys, tmp_path, outbox, changed_once_checked, as_json
):
    path = write(tmp_path, "to,text\n" + "".join(f"+4477009{i:05d},Hi\n" for i in range(300)))
    changed_once_checked("+447700999999,Hi,there\n")
    flags = ["--json"] if as_json else []

    code, out, err = run(capsys, *flags, "-p", "fake", "bulk", path)

    assert code == FAILED
    assert len(outbox) == 300  # every row checked went
    line = (
        f"FILE: {path!r} changed as it was sent: line 302: has 3 cells where the header has 2: "
        'quote a text that holds a comma ("Your code is 1,234"); the rows from there on were '
        "not sent"
    )
    if as_json:
        assert json.loads(out)["accepted"] == 300
        assert json.loads(out)["resume"] == f"smsgate --json -p fake bulk {path}"
        assert json.loads(err.splitlines()[-1]) == {
            "error": line,
            "exit_code": FAILED,
            "kind": "FileError",
        }
    else:
        assert "│ 300      │ 0      │ 0         │ 0      │" in out
        assert f"to send the rest, run again: smsgate -p fake bulk {path}" in out
        assert err.splitlines()[-1] == f"smsgate: error: {line}"
    assert "nothing was sent" not in err


@pytest.mark.parametrize("as_json", [False, True])
def test_an_out_file_that_cannot_be_written_is_one_line_and_nothing_is_sent(
    capsys, tmp_path, outbox, as_json
):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    flags = ["--json"] if as_json else []

    code, out, err = run(capsys, *flags, "-p", "fake", "bulk", path, "--out", "/dev/full")

    line = "--out: cannot write '/dev/full': No space left on device; nothing was sent"
    assert (code, out) == (USAGE, "")
    if as_json:
        assert json.loads(err) == {"error": line, "exit_code": USAGE, "kind": "ValidationError"}
    else:
        assert err == f"smsgate: error: {line}\n"
    assert outbox == []


def _file_size_limit():  # in the child: a write past 4 KiB fails with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_an_out_file_that_fills_up_stops_the_run_with_one_line_and_exit_code_1(tmp_path):
    path = write(tmp_path, "to,text\n" + "".join(f"+4477009{i:05d},Hi\n" for i in range(3000)))
    out_path = tmp_path / "results.csv"
    command = [sys.executable, "-m", "smsgate", "--json", "-p", "fake", "bulk", path]

    done = subprocess.run(
        [*command, "--no-journal", "--out", str(out_path)],
        capture_output=True,
        text=True,
        preexec_fn=_file_size_limit,
        timeout=60,
    )

    assert done.returncode == FAILED, done.stderr
    assert json.loads(done.stderr) == {
        "error": f"--out: cannot write {str(out_path)!r}: File too large; the run stopped "
        "there: the rows after those in the report were not sent",
        "exit_code": FAILED,
        "kind": "FileError",
    }
    report = json.loads(done.stdout)
    with out_path.open(newline="", encoding="utf-8") as file:
        written = list(csv.reader(file))
    assert 0 < len(written) - 1 <= report["accepted"] < 3000  # it stopped soon after
    assert report["failed"] == report["uncertain"] == 0


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["--patience", "-1"], "--patience: must be 0 or more seconds"),
        (["--patience", "nan"], "--patience: must be 0 or more seconds"),
        (["--grace", "-0.5"], "--grace: must be 0 or more seconds"),
        (
            ["--journal", "/nonexistent/dir/j"],
            "--journal: cannot make '/nonexistent/dir/j': there is no directory '/nonexistent/dir'",
        ),
    ],
)
def test_bad_numbers_and_journals_are_refused_before_the_bar_starts(
    capsys, tmp_path, outbox, argv, line
):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")

    code, out, err = run(capsys, "-p", "fake", "bulk", path, *argv)

    assert (code, out, err) == (USAGE, "", f"smsgate: error: {line}\n")  # no bar drawn
    assert outbox == []


# --- a resumed run sends at the times it was begun with ------------------------------------


def test_a_run_resumed_with_another_window_or_none_is_refused_naming_the_first(
    capsys, tmp_path, outbox
):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    journal = f"{path}.journal"
    began = ["-p", "fake", "bulk", path]

    assert run(capsys, *began, "--window", "Mon-Fri 09:00-20:00")[0] == OK
    code, out, err = run(capsys, *began, "--window", "09:00-20:00")
    without = run(capsys, *began)
    same = run(capsys, *began, "--window", "mon - fri 9:00-20:00")  # written another way

    assert (code, out) == (USAGE, "")
    assert err == (
        f"smsgate: error: --window: run 'rows.csv' of journal {journal!r} was begun with "
        "--window 'Mon-Fri 09:00-20:00': give that --window to resume it, or --run with a new "
        "name to send the file as a new run; nothing was sent\n"
    )
    assert without[0] == USAGE
    assert "was begun with --window 'Mon-Fri 09:00-20:00'" in without[2]
    assert same[0] == OK
    assert "1 rows were done in an earlier session of this run" in same[1]
    assert len(outbox) == 1


def test_a_run_begun_without_at_is_resumed_without_it_and_one_begun_with_it_with_it(
    capsys, tmp_path, outbox
):
    year = datetime.now(UTC).year + 1
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    journal = f"{path}.journal"

    again = ["-p", "fake", "bulk", path, "--run", "again"]

    assert run(capsys, "-p", "fake", "bulk", path)[0] == OK
    later = run(capsys, "-p", "fake", "bulk", path, "--at", f"{year}-07-01T09:00+01:00")
    assert run(capsys, *again, "--at", f"{year}-07-01 09:00 Europe/London")[0] == OK
    same = run(capsys, *again, "--at", f"{year}-07-01T08:00Z")
    now = run(capsys, *again)

    assert later == (
        USAGE,
        "",
        f"smsgate: error: --at: run 'rows.csv' of journal {journal!r} was begun without "
        "--at: give no --at to resume it, or --run with a new name to send the file as a new "
        "run; nothing was sent\n",
    )
    assert same[0] == OK  # the same time, written another way
    assert now[0] == USAGE
    assert now[2] == (
        f"smsgate: error: --at: run 'again' of journal {journal!r} was begun with --at "
        f"{year}-07-01T09:00:00+01:00: give that --at to resume it, or --run with a new name "
        "to send the file as a new run; nothing was sent\n"
    )
    assert [(op, at) for op, _, _, _, at in outbox] == [
        ("send", None),
        ("schedule", datetime(year, 7, 1, 8, tzinfo=UTC)),
    ]


def test_a_run_whose_at_has_passed_is_resumed_without_at_and_sends_the_rest_now(
    capsys, tmp_path, outbox
):
    year = datetime.now(UTC).year + 1
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    journal = f"{path}.journal"
    began = ["-p", "fake", "bulk", path]
    assert run(capsys, *began, "--at", f"{year}-07-01T09:00Z")[0] == OK
    with contextlib.closing(sqlite3.connect(journal)) as db, db:  # as if it had come and gone
        db.execute("UPDATE bulk_sending SET at = '2001-07-01T09:00:00+00:00'")

    other = run(capsys, *began, "--at", f"{year}-08-01T09:00Z")
    now = run(capsys, *began)
    again = run(capsys, *began)

    assert other == (
        USAGE,
        "",
        f"smsgate: error: --at: run 'rows.csv' of journal {journal!r} was begun with --at "
        "2001-07-01T09:00:00+00:00, which has passed: give no --at to send the rest now, or "
        "--run with a new name to send the file as a new run; nothing was sent\n",
    )
    assert now[0] == OK
    assert again[0] == OK  # the run now sends without --at
    assert len(outbox) == 1  # the one row, sent once
