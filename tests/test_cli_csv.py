"""Bulk files are read exactly as written, or refused with the line at fault before anything
is sent."""

import array
import tracemalloc

import pytest

from smsgate.cli import main
from smsgate.cli._common import OK, USAGE
from smsgate.cli._csv import (
    LINE_LIMIT,
    RECORD_LINES,
    FileError,
    RowIndex,
    check_csv,
    message_fields,
    read_rows,
    records,
)
from smsgate.errors import ValidationError
from smsgate.testing import FakeGateway


def write(tmp_path, content: bytes | str, name="rows.csv"):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rows_of(path, **options):
    lines = array.array("L")
    return list(read_rows(check_csv(path, **options), lines)), list(lines)


def refusal(path, **options):
    """What check_csv refuses the file with, as the command prints it."""
    with pytest.raises(ValidationError) as caught:
        check_csv(path, **options)
    return str(caught.value)


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


# --- delimiters ----------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "mark"), [(",", "comma"), (";", "semicolon"), ("\t", "tab")])
def test_columns_are_separated_by_whatever_the_header_uses(tmp_path, delimiter, mark):
    d = delimiter
    path = write(
        tmp_path,
        f"\ufeffto{d}name{d}text\r\n"  # Excel's byte order mark, and CRLF line ends
        f'+447700900001{d}Ann{d}"Hi, Ann; 50%\toff"\r\n'  # every delimiter, quoted
        f'+447700900002{d}"Bob{d} Jr"{d}"Say ""hi"""\r\n',
    )

    rows, lines = rows_of(path)

    assert rows == [
        {"to": "+447700900001", "text": "Hi, Ann; 50%\toff"},
        {"to": "+447700900002", "text": 'Say "hi"'},
    ]
    assert lines == [2, 3]
    assert check_csv(path).delimiter == delimiter
    assert check_csv(path).columns == ("to", "name", "text")


def test_a_semicolon_file_is_never_missing_to_and_text(tmp_path):
    # Excel in much of Europe: ';' between columns, and commas in the texts.
    path = write(tmp_path, "to;text\n+447700900001;Hello, Ann, see you\n")

    assert rows_of(path)[0] == [{"to": "+447700900001", "text": "Hello, Ann, see you"}]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            "number;text\n+447700900001;Hi\n",
            "needs the columns to and text (missing: to); its header, read with ';' between "
            "columns, names: 'number', 'text'",
        ),
        (
            "to,message,name\n+447700900001,Hi,Ann\n",
            "needs the columns to and text (missing: text); its header, read with ',' between "
            "columns, names: 'to', 'message', 'name'",
        ),
        (
            "phone\n+447700900001\n",
            "needs the columns to and text (missing: to, text); its header, read with ',' "
            "between columns, names: 'phone'",
        ),
    ],
)
def test_a_header_without_the_columns_needed_says_how_it_was_read(tmp_path, content, problem):
    path = write(tmp_path, content)

    assert refusal(path) == f"FILE: {str(path)!r} {problem}"


def test_a_delimiter_given_is_the_one_used(tmp_path):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")

    assert refusal(path, delimiter=";") == (
        f"FILE: {str(path)!r} needs the columns to and text (missing: to, text); its header, "
        "read with ';' between columns, names: 'to,text'"
    )
    assert rows_of(path, delimiter=",")[0] == [{"to": "+447700900001", "text": "Hi"}]


def test_a_header_that_reads_well_two_ways_asks_which(tmp_path):
    path = write(tmp_path, "to,a;to;text;b,text\n+447700900001,x;y;Hi;z,w\n")

    assert refusal(path) == (
        f"FILE: {str(path)!r}: its header names the columns needed read with ',' and ';' "
        "between them; say which with --delimiter"
    )
    assert rows_of(path, delimiter=";")[0] == [{"to": "y", "text": "Hi"}]


def test_a_cut_row_of_a_semicolon_file_names_the_semicolon(tmp_path):
    path = write(tmp_path, "to;text\n+447700900001;Your code is 1;234\n")

    assert refusal(path) == (
        f"FILE: {str(path)!r} line 2: has 3 cells where the header has 2: quote a text that "
        'holds a semicolon ("Your code is 1;234"); nothing was sent'
    )


# --- empty files -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff", "\ufeff\r\n"])
def test_an_empty_file_is_refused(tmp_path, content):
    path = write(tmp_path, content)

    assert refusal(path) == (
        f"FILE: {str(path)!r} is empty: it needs a header line naming its columns, such as to,text"
    )


@pytest.mark.parametrize("content", ["to,text\n", "to,text", "\ufeffto;text\r\n\r\n"])
def test_a_header_without_rows_is_refused(tmp_path, content):
    path = write(tmp_path, content)

    assert refusal(path) == f"FILE: {str(path)!r} has a header but no rows: nothing to send"


# --- columns and fields --------------------------------------------------------------------


def test_columns_other_than_the_messages_own_are_allowed_and_not_sent(tmp_path):
    path = write(
        tmp_path,
        "id,to,text,sender,reference,colour,\n7,+447700900001,Hi,Shop,r1,red,\n"
        "8,+447700900002,Ho,,,blue,\n",
    )

    assert rows_of(path)[0] == [
        {"to": "+447700900001", "text": "Hi", "sender": "Shop", "reference": "r1"},
        {"to": "+447700900002", "text": "Ho"},
    ]


def test_a_text_column_is_a_template_of_its_rows_cells(tmp_path):
    path = write(
        tmp_path,
        "to,name,code,text\n"
        '+447700900001,Ann,1234,"Hi {name}, your code is {code}"\n'
        "+447700900002,Bob,,Hello {name} {{not a field}}\n",
    )

    assert [r["text"] for r in rows_of(path)[0]] == [
        "Hi Ann, your code is 1234",
        "Hello Bob {not a field}",
    ]


def test_text_gives_the_template_of_every_row(tmp_path):
    path = write(tmp_path, "to;name\n+447700900001;Ann\n+447700900002;Bob\n")

    rows, _ = rows_of(path, text="Hi {name}")

    assert rows == [
        {"to": "+447700900001", "text": "Hi Ann"},
        {"to": "+447700900002", "text": "Hi Bob"},
    ]


def test_defaults_fill_only_the_fields_a_row_has_no_cell_for(tmp_path):
    path = write(tmp_path, "to,text,sender\n07700900001,Hi,Own\n07700900002,Ho,\n")
    checked = check_csv(path)
    defaults = {"sender": "Shop", "region": "GB"}

    rows = [message_fields(checked, cells, defaults) for _, cells in records(checked)]

    assert rows == [
        {"to": "07700900001", "text": "Hi", "sender": "Own", "region": "GB"},
        {"to": "07700900002", "text": "Ho", "sender": "Shop", "region": "GB"},
    ]


def test_rows_whose_text_cannot_be_written_are_refused_by_line_before_anything_is_sent(
    tmp_path, outbox
):
    path = write(
        tmp_path,
        "to,name,text\n"
        "+447700900001,Ann,Hi {name}\n"
        "+447700900002,,Hi {name}\n"  # empty: "Hi " is not what was meant
        "+447700900003,Cy,Hi {nmae}\n"
        "+447700900004,Di,Hi {name\n"
        "+447700900005,Ed,Hi {text}\n"
        "+447700900006,Fi,Hi {name.upper}\n",
    )

    problem = (
        f"FILE: {str(path)!r} line 3: its text needs {{name}}, but it is empty; and 4 more "
        "rows whose text cannot be written (lines 4, 5, ...); nothing was sent (--dry-run "
        "lists every row)"
    )
    assert refusal(path) == problem
    assert main(["-p", "fake", "bulk", str(path)]) == USAGE
    assert outbox == []
    assert not path.with_name(path.name + ".journal").exists()


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (
            "Ann,Hi {nmae}",
            "its text names the field {{nmae}}, but {path} has no column nmae "
            "(its columns: to, name, text); did you mean {{name}}?",
        ),
        (
            "Ann,Hi {zzz}",
            "its text names the field {{zzz}}, but {path} has no column zzz "
            "(its columns: to, name, text)",
        ),
        (",Hi {name}", "its text needs {{name}}, but it is empty"),
        ("   ,Hi {name}", "its text needs {{name}}, but it is empty"),
        (
            "Ann,Hi {name",
            "its text has a {{ that is not closed (character 4): write {{{{ for a brace",
        ),
        (
            "Ann,Hi name}",
            "its text has a }} with no {{ before it (character 8): write }}}} for a brace",
        ),
        ("Ann,Hi {}", "its text has {{}}, which names no column: write {{{{}}}} for braces"),
        ("Ann,Hi {text}", "its text names {{text}}, which is the text itself"),
        (
            "Ann,Hi {name[0]}",
            "its text has {{name[0]}}: a field is a column's name only, "
            "without . [ ] ! or : (no attributes, indexes, conversions or formats)",
        ),
    ],
)
def test_each_way_a_rows_text_cannot_be_written_is_said(tmp_path, row, why):
    path = write(tmp_path, f"to,name,text\n+447700900001,{row}\n")

    assert refusal(path) == (
        f"FILE: {str(path)!r} line 2: {why.format(path=repr(str(path)))}; nothing was sent "
        "(--dry-run lists every row)"
    )


def test_two_empty_fields_are_named_together(tmp_path):
    path = write(tmp_path, "to,a,b,text\n+447700900001,,,{a}{b}\n")

    assert "line 2: its text needs {a}, {b}, but they are empty;" in refusal(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "Hi {nmae}",
            "names the field {nmae}, but {path} has no column nmae (its columns: to, "
            "name); did you mean {name}?",
        ),
        ("Hi {name", "has a { that is not closed (character 4): write {{ for a brace"),
        (
            "Hi {name:>9}",
            "has {name:>9}: a field is a column's name only, without . [ ] ! or : "
            "(no attributes, indexes, conversions or formats)",
        ),
        (
            "Hi {{ name }}",
            "has {{ name }}: a doubled brace is a literal brace, so it would go out as "
            "{ name }; for the cell of column name, write {name}",
        ),
    ],
)
def test_a_text_option_that_cannot_be_written_is_refused_before_reading_rows(
    tmp_path, text, problem
):
    path = write(tmp_path, "to,name\n+447700900001,Ann\n")

    assert refusal(path, text=text) == "--text: " + problem.replace("{path}", repr(str(path)))


def test_a_text_option_and_a_text_column_are_one_too_many(tmp_path):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")

    assert refusal(path, text="Ho") == (
        f"--text: gives the text of every row, but {str(path)!r} has a text column too: give "
        "one or the other"
    )


def test_a_dry_run_checks_no_template_while_reading_the_file(tmp_path):
    path = write(tmp_path, "to,name,text\n+447700900001,,Hi {name}\n")

    assert check_csv(path, templates=False).rows == 1


def test_the_index_keeps_each_rows_line_and_its_number_as_written_until_taken(tmp_path):
    path = write(tmp_path, "to,text\n\nnot a number,Hi\n+447700900002,Ho\n")
    index = RowIndex()

    rows = list(read_rows(check_csv(path), index))

    assert [index.line(0), index.line(1), index.line(2)] == [3, 4, 4]  # 2: not read
    assert index.take(0) == "not a number"
    assert index.take(0) is None  # once: a huge file is never held whole
    assert index.take(1) == "+447700900002"
    assert len(rows) == 2


def test_a_file_changed_while_sent_stops_at_the_row_that_changed(tmp_path):
    path = write(
        tmp_path, "to,name,text\n+447700900001,Ann,Hi {name}\n+447700900002,Bo,Hi {name}\n"
    )
    checked = check_csv(path)
    path.write_text("to,name,text\n+447700900001,Ann,Hi {name}\n+447700900002,,Hi {name}\n")
    rows = read_rows(checked, RowIndex())

    assert next(rows)["text"] == "Hi Ann"
    with pytest.raises(FileError) as caught:
        next(rows)
    assert str(caught.value) == (
        f"FILE: {str(path)!r} changed as it was sent: line 3: its text needs {{name}}, but it "
        "is empty; the rows from there on were not sent"
    )


@pytest.mark.parametrize(
    ("added", "problem"),
    [
        (
            "+447700900003,Hi,there\n",
            'has 3 cells where the header has 2: quote a text that holds a comma ("Your code '
            'is 1,234")',
        ),
        ('+447700900003,"Hi\n', "is not valid CSV (unexpected end of data); quote a text that"),
        (b"+447700900003,Caf\xe9\n", "is not UTF-8 (byte 18); save the file as UTF-8"),
        ("+447700900003,Call {{to}}\n", "its text has {{to}}: a doubled brace is a literal"),
    ],
)
def test_any_row_not_read_as_checked_while_sent_says_the_rest_was_not_sent(
    tmp_path, added, problem
):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n+447700900002,Ho\n")
    checked = check_csv(path)
    with path.open("ab") as file:
        file.write(added.encode() if isinstance(added, str) else added)
    rows = read_rows(checked, RowIndex())

    assert [next(rows)["to"], next(rows)["to"]] == ["+447700900001", "+447700900002"]
    with pytest.raises(FileError) as caught:
        next(rows)
    said = str(caught.value)
    assert said.startswith(f"FILE: {str(path)!r} changed as it was sent: line 4: {problem}")
    assert said.endswith("; the rows from there on were not sent")
    assert "nothing was sent" not in said


def test_a_file_gone_when_it_is_sent_says_no_row_was_sent(tmp_path):
    path = write(tmp_path, "to,text\n+447700900001,Hi\n")
    checked = check_csv(path)
    path.unlink()

    with pytest.raises(FileError) as caught:
        list(read_rows(checked, RowIndex()))

    assert str(caught.value) == (
        f"FILE: cannot read {str(path)!r} any more (No such file or directory) as it was "
        "sent: the rows from there on were not sent"
    )


def test_a_columns_name_in_doubled_braces_refuses_the_file_with_how_to_write_it(tmp_path, outbox):
    path = write(tmp_path, "to,text,name\n+447700900123,Hi {{name}} welcome,Ann\n")

    assert refusal(path) == (
        f"FILE: {str(path)!r} line 2: its text has {{{{name}}}}: a doubled brace is a literal "
        "brace, so it would go out as {name}; for the cell of column name, write {name}; "
        "nothing was sent (--dry-run lists every row)"
    )
    assert main(["-p", "fake", "bulk", str(path)]) == USAGE
    assert outbox == []


def test_doubled_braces_around_the_cell_or_what_is_no_column_are_braces(tmp_path):
    path = write(tmp_path, "to,name,text\n+447700900001,Ann,{{{name}}} {{code}} {{text}} {{ }}\n")

    assert rows_of(path)[0] == [{"to": "+447700900001", "text": "{Ann} {code} {text} { }"}]
