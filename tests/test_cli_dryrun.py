"""``smsgate bulk FILE --dry-run`` reads and checks every row as the run would, and counts
what sending them would take, without a single request."""

import http.server
import json
import os
import threading
from typing import ClassVar

import pytest

from smsgate.cli._common import FAILED, OK, USAGE
from smsgate.cli._dryrun import describe
from tests.support.cli import clear_environment, run

QUOTE = "\N{RIGHT SINGLE QUOTATION MARK}"
SALE = "our sale ends on Sunday: half price on everything in store"


class Recorder(http.server.BaseHTTPRequestHandler):
    """Records every request, and answers each with a 500."""

    seen: ClassVar[list[str]] = []

    def _any(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = _any

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def recorder():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, Recorder.seen
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def server(recorder):
    """A server on loopback that records the requests it is sent during the test."""
    recorder[1].clear()
    return recorder


@pytest.fixture(autouse=True)
def smsworks(monkeypatch, server):
    """The SMS Works, configured through the environment, at the recording server."""
    clear_environment(monkeypatch)
    httpd, _ = server
    monkeypatch.setenv("SMSGATE_PROVIDER", "smsworks")
    monkeypatch.setenv("SMSGATE_TOKEN", "JWT dry-run")
    monkeypatch.setenv("SMSGATE_SENDER", "Shop")
    monkeypatch.setenv("SMSGATE_BASE_URL", f"http://127.0.0.1:{httpd.server_port}")


def write(tmp_path, lines, name="rows.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


ROWS = [
    "to,name,text",
    "+447700900001,Ann,Hi {name}",
    "+33612345678,Bob,Bonjour {name}",
    f'+447700900003,Cy,"Don{QUOTE}t miss it, {{name}}: {SALE}"',
    "not a number,Di,Hi {name}",
    "+447700900005,Ed,\u4f60\u597d {name}",
]


def test_a_dry_run_counts_parts_and_credits_and_lists_what_would_fail_with_no_request(
    capsys, tmp_path, server
):
    path = write(tmp_path, ROWS)

    code, out, err = run(capsys, "bulk", path, "--dry-run")

    assert (code, err) == (FAILED, "")
    assert out.splitlines() == [
        f"dry run of {path!r} through smsworks: nothing was sent",
        "┏━━━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━━━┓",
        "┃ encoding ┃ messages ┃ SMS parts ┃ credits ┃",
        "┡━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━━━┩",
        "│ GSM-7    │        2 │         2 │       3 │",
        "│ UCS-2    │        2 │         3 │       3 │",
        "├──────────┼──────────┼───────────┼─────────┤",
        "│ total    │        4 │         5 │       6 │",
        "└──────────┴──────────┴───────────┴─────────┘",
        "to numbers outside the UK, charged double: 1 message, 1 SMS part, 2 credits",
        f"line 4: {QUOTE} (U+2019 RIGHT SINGLE QUOTATION MARK) makes this message UCS-2: "
        "2 parts instead of 1",
        "rows that would fail                                                            ",
        "┏━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓",
        "┃ line ┃ to           ┃ why                                                    ┃",
        "┡━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩",
        "│ 5    │ not a number │ to: 'not a number' is not a phone number: only digits, │",
        "│      │              │ spaces and + - . ( ) / may appear                      │",
        "└──────┴──────────────┴────────────────────────────────────────────────────────┘",
        "1 of 5 rows would fail; the others would go",
    ]
    assert server[1] == []  # not one request
    assert not os.path.exists(path + ".journal")


def test_a_dry_run_in_json_has_every_count_and_every_row_that_would_fail(capsys, tmp_path, server):
    path = write(tmp_path, ROWS)

    code, out, err = run(capsys, "--json", "bulk", path, "--dry-run")

    assert (code, err) == (FAILED, "")
    assert json.loads(out) == {
        "dry_run": True,
        "provider": "smsworks",
        "rows": 5,
        "messages": 4,
        "parts": 5,
        "credits": 6,
        "encodings": {
            "GSM-7": {"messages": 2, "parts": 2, "credits": 3},
            "UCS-2": {"messages": 2, "parts": 3, "credits": 3},
        },
        "abroad": {"messages": 1, "parts": 1, "credits": 2, "outside": "UK", "times": 2},
        "ucs2_switches": {
            "messages": 1,
            "parts": 2,
            "credits": 2,
            "gsm_parts": 1,
            "characters": {QUOTE: 1},
            "first": [{"row": 4, "characters": QUOTE, "parts": 2, "gsm_parts": 1}],
        },
        "problems": [
            {
                "row": 5,
                "to": "not a number",
                "reference": None,
                "error": "to: 'not a number' is not a phone number: only digits, spaces and "
                "+ - . ( ) / may appear",
            }
        ],
        "refused": False,
    }
    assert server[1] == []


def test_a_file_whose_every_row_would_go_exits_0(capsys, tmp_path):
    path = write(tmp_path, ["to;text", "+447700900001;Hi", "07700900002;Ho"])

    code, out, _ = run(capsys, "bulk", path, "--dry-run", "--region", "GB")

    assert code == OK
    assert out.splitlines()[-1] == "every row would go (2)"


def test_many_rows_made_ucs2_by_a_few_characters_get_one_line(capsys, tmp_path):
    rows = [f"+4477009000{i:02d},Don{QUOTE}t miss it: {SALE}" for i in range(6)]
    rows += ["+447700900099,\u201cBig\u201d news \N{WAVING HAND SIGN} " + SALE]
    path = write(tmp_path, ["to,text", *rows])

    code, out, _ = run(capsys, "bulk", path, "--dry-run")

    assert code == OK
    assert (
        f"7 rows are UCS-2 because of a few characters, 14 parts instead of 7: {QUOTE} "
        "(U+2019 RIGHT SINGLE QUOTATION MARK) in 6, \u201c (U+201C LEFT DOUBLE QUOTATION "
        "MARK) in 1, \u201d (U+201D RIGHT DOUBLE QUOTATION MARK) in 1, \N{WAVING HAND SIGN} "
        "(U+1F44B WAVING HAND SIGN) in 1; the first on lines 2, 3, 4, 5, 6"
    ) in out.splitlines()


def test_a_dry_run_lists_the_rows_whose_text_cannot_be_written_and_exits_2(capsys, tmp_path):
    path = write(tmp_path, ["to,name", "+447700900001,Ann", "+447700900002,", "nope,Cy"])

    code, out, err = run(capsys, "--json", "bulk", path, "--dry-run", "--text", "Hi {name}")

    result = json.loads(out)
    assert (code, err) == (USAGE, "")
    assert result["refused"] is True
    assert [(p["row"], p["to"], p["error"]) for p in result["problems"]] == [
        (3, "+447700900002", "its text needs {name}, but it is empty"),
        (
            4,
            "nope",
            "to: 'nope' is not a phone number: only digits, spaces and + - . ( ) / may appear",
        ),
    ]
    _, shown, _ = run(capsys, "bulk", path, "--dry-run", "--text", "Hi {name}")
    assert shown.splitlines()[-1] == (
        "smsgate bulk would refuse this file: the text of 1 of its 3 rows cannot be written"
    )


def test_a_sender_the_provider_cannot_take_fails_every_row_before_any_request(
    capsys, tmp_path, server
):
    path = write(tmp_path, ["to,text", "+447700900001,Hi", "+447700900002,Ho"])

    code, out, _ = run(capsys, "--json", "bulk", path, "--dry-run", "--sender", "My Shop")

    assert code == FAILED
    assert [p["error"] for p in json.loads(out)["problems"]] == [
        "sender: 'My Shop' cannot be a The SMS Works sender: use 3 to 11 letters and digits "
        "(no spaces or symbols), or a number of up to 15 digits"
    ] * 2
    assert server[1] == []


def test_more_rows_that_would_fail_than_are_shown_are_all_in_json(capsys, tmp_path):
    path = write(tmp_path, ["to,text", *["nope,Hi"] * 25])

    code, out, _ = run(capsys, "bulk", path, "--dry-run")
    _, data, _ = run(capsys, "--json", "bulk", path, "--dry-run")

    assert code == FAILED
    assert "… and 5 more: every row is in --json" in out.splitlines()
    assert [p["row"] for p in json.loads(data)["problems"]] == list(range(2, 27))


def test_a_provider_without_a_price_rule_is_counted_without_credits(capsys, tmp_path):
    path = write(tmp_path, ["to,text", "+447700900001,Hi"])

    code, out, _ = run(capsys, "-p", "fake", "bulk", path, "--dry-run")
    _, data, _ = run(capsys, "-p", "fake", "--json", "bulk", path, "--dry-run")

    assert code == OK
    assert "│ total    │        1 │         1 │       ? │" in out.splitlines()
    assert "credits: smsgate knows no price rule for fake" in out.splitlines()
    assert (json.loads(data)["credits"], json.loads(data)["abroad"]) == (None, None)


def test_a_dry_run_prices_a_scheduled_file_the_same(capsys, tmp_path, server):
    path = write(tmp_path, ["to,text", "+33612345678,Hi"])

    code, out, _ = run(
        capsys, "--json", "bulk", path, "--dry-run", "--at", "2099-01-01T09:00+00:00"
    )

    assert (code, json.loads(out)["credits"]) == (OK, 2)
    assert server[1] == []


def test_a_character_that_cannot_be_seen_is_named_by_its_code_alone():
    assert describe("\u200b") == "(U+200B ZERO WIDTH SPACE)"
    assert describe("\u00a0") == "(U+00A0 NO-BREAK SPACE)"
    assert describe(QUOTE) == f"{QUOTE} (U+2019 RIGHT SINGLE QUOTATION MARK)"


def test_the_same_file_sent_for_real_reaches_the_recording_server(capsys, tmp_path, server):
    path = write(tmp_path, ["to,text", "+447700900001,Hi"])

    code, _, _ = run(capsys, "bulk", path, "--no-journal", "--patience", "0")

    assert code != OK  # the server answers 500
    assert "POST /message/send" in server[1]  # so the dry runs above would have been seen
