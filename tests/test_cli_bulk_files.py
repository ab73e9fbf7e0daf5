"""``smsgate bulk`` takes files as exports come: extra columns as fields of a text, any of the
usual delimiters, a default region and sender, a time to schedule them all for, and the
number as it was written where it did not parse."""

import csv
import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from smsgate.cli import main
from smsgate.cli._common import FAILED, OK, USAGE
from smsgate.testing import FakeGateway


@pytest.fixture(autouse=True)
def no_environment(monkeypatch):
    for key in [k for k in os.environ if k.startswith("SMSGATE_")]:
        monkeypatch.delenv(key)


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


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


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
