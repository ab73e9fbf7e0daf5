"""Bulk files are read exactly as written, or refused with the line at fault before anything
is sent."""

import array
import tracemalloc

import pytest

from smsgate.cli import main
from smsgate.cli._common import OK, USAGE
from smsgate.cli._csv import LINE_LIMIT, RECORD_LINES, check_csv, read_rows
from smsgate.errors import ValidationError
from smsgate.testing import FakeGateway


def write(tmp_path, content: bytes | str, name="rows.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows_of(path):
    lines = array.array("L")
    return list(read_rows(check_csv(path), lines)), list(lines)


@pytest.fixture
def outbox(monkeypatch):
    """Every message the fake provider is given, whichever gateway the command makes."""
    sent = []
    original = FakeGateway.send

    async def send(self, message):
        sent.append(message)
        return await original(self, message)

    monkeypatch.setattr(FakeGateway, "send", send)
    for key in ("SMSGATE_PROVIDER", "SMSGATE_TOKEN", "SMSGATE_SENDER"):
        monkeypatch.delenv(key, raising=False)
    return sent


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        # An unquoted comma would cut the text short: refused, not cut.
        ("to,text\n+447700900001,Hi\n+447700900008,Your code is 1,234\n", 3, "has 3 cells"),
        ("to,text\n+447700900001\n", 2, "has 1 cells where the header has 2"),
        # A quote never closed would swallow every later row into one text.
        ('to,text\n+447700900001,"Hi\n+447700900002,Ho\n', 2, "is not valid CSV"),
        # A quote closed in the middle of a cell.
        ('to,text\n+447700900001,"Hi" there\n', 2, "is not valid CSV"),
        (b"to,text\n+447700900001,Caf\xe9\n", 2, "is not UTF-8"),
        # With an optional column the count comes out right, and the cut shows here.
        ('to,text,reference\n+447700900123, "Hello, Bob"\n', 2, "has a quote after a space"),
        (b"to,text\n+447700900001,H\x00i\n", 2, "holds a NUL byte"),
        (
            'to,text\n+447700900001,"' + "line\n" * (RECORD_LINES + 1) + '"\n',
            2,
            "starts a row that runs over 12 lines",
        ),
    ],
)
def test_a_row_not_read_exactly_as_written_is_refused_with_its_line(
    tmp_path, outbox, capsys, content, line, problem
):
    path = write(tmp_path, content)

    with pytest.raises(ValidationError, match=f"line {line}: {problem}"):
        check_csv(path)
    code = main(["-p", "fake", "bulk", str(path)])

    assert code == USAGE
    err = capsys.readouterr().err
    assert f"line {line}" in err
    assert "nothing was sent" in err
    assert outbox == []
    assert not path.with_name(path.name + ".journal").exists()


def test_a_line_over_the_limit_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as file:
        file.write(b"to,text\n+447700900001,")
        for _ in range(20):
            file.write(b"x" * 1_000_000)  # one line of 20 MB
        file.write(b"\n")

    tracemalloc.start()
    try:
        with pytest.raises(ValidationError, match=f"line 2: is longer than {LINE_LIMIT:,} bytes"):
            check_csv(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * LINE_LIMIT


def test_quoted_commas_quotes_and_line_breaks_are_read_as_written(tmp_path):
    path = write(
        tmp_path,
        "\ufeffto,text,reference\r\n"
        '+447700900001,"Your code is 1,234",a\r\n'
        "\r\n"
        '+447700900002,"Say ""hi""",b\r\n'
        '+447700900003,"Two\nlines",c\r\n'
        "+447700900004,Plain,d\r\n",
    )

    rows, lines = rows_of(path)

    assert [r["text"] for r in rows] == ["Your code is 1,234", 'Say "hi"', "Two\nlines", "Plain"]
    assert lines == [2, 4, 5, 7]  # each row's own line, blank lines and line breaks counted


def test_a_good_file_is_sent_whole(tmp_path, outbox):
    path = write(tmp_path, 'to,text\n+447700900001,"a, b"\n+447700900002,c\n')

    assert main(["-p", "fake", "bulk", str(path), "--no-journal"]) == OK

    assert [(m.to, m.text) for m in outbox] == [("+447700900001", "a, b"), ("+447700900002", "c")]


def test_a_header_that_names_a_column_twice_is_refused(tmp_path):
    path = write(tmp_path, "to,text,to\n+447700900001,hello,+447700900999\n")
    with pytest.raises(ValidationError, match="names the column to more than once"):
        check_csv(path)
