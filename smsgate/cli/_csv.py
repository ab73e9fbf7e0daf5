"""Reading a bulk CSV file exactly as written, or not at all.

Its columns: ``to`` and ``text`` (no ``text`` with ``--text``, which gives the text of every
row), optional ``sender`` and ``reference``, and any others: a text may use the cells of its
row as fields (``Hi {name}``, `smsgate.cli._template`). The columns are separated by ``,``,
``;`` or a tab: the one with which the header names the columns needed, unless
``--delimiter`` says which.

A row is sent only if it was read exactly as written: every problem is refused, with its line
number, before anything is sent (`check_csv` reads the whole file once for that; `read_rows`
reads it again, lazily, to send):

- text that is not UTF-8, or holds a NUL byte;
- a line longer than `LINE_LIMIT` bytes (refused without reading it whole);
- a row with more or fewer cells than the header (an unquoted comma cuts a text short), or a
  cell that starts with a space and a quote (`` "Hello, Bob"``: a quote quotes only first);
- a header that names a column twice;
- a quote that is not closed, or closed in the middle of a cell (strict CSV);
- a row that runs over more than `RECORD_LINES` lines (a quote closed much later swallows
  the rows in between into one text);
- a row whose text is not a template (a brace on its own), or names a field that its row has
  no cell for, or an empty one (``Hi {name}`` with no name would go out as ``Hi ``), or writes
  a column's name in doubled braces (``Hi {{name}}``, another tool's field, would go out as
  ``Hi {name}``).

A number that cannot be a phone number, or an empty text, fails that row alone, as it is sent.
A file that changes while it is sent stops the run at the first row not read as it was
checked (`FileError`: the rows before it went, the rows from it on did not).
"""

from __future__ import annotations

import array
import csv
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import attrs

from smsgate._words import closest
from smsgate.cli._template import Template, TemplateError, doubled_field, parse
from smsgate.errors import SmsGateError, ValidationError

__all__ = [
    "DELIMITERS",
    "LINE_LIMIT",
    "MESSAGE_COLUMNS",
    "RECORD_LINES",
    "CsvFile",
    "FileError",
    "RowIndex",
    "check_csv",
    "message_fields",
    "read_rows",
    "records",
]

MESSAGE_COLUMNS = ("to", "text", "sender", "reference")
"""The columns that are fields of the message; any others are only fields of its text."""
DELIMITERS = {",": "','", ";": "';'", "\t": "tab"}
"""What may separate the columns, and how a message names each."""
LINE_LIMIT = 64 * 1024
"""Bytes in one line at most."""
RECORD_LINES = 10
"""Lines one row may run over (a text with line breaks, quoted) at most."""
SHOWN = 3
"""Rows whose text cannot be written that the error refusing the file names."""


@attrs.frozen
class CsvFile:
    """A bulk file whose every row has been checked.

    Attributes:
        path: the file.
        columns: the header's columns.
        rows: how many rows it has (blank lines aside).
        delimiter: what separates its columns.
        text: the template of every row's text (``--text``), or ``None`` for each row's
            ``text`` cell.
    """

    path: Path
    columns: tuple[str, ...]
    rows: int
    delimiter: str = ","
    text: Template | None = None


class RowIndex:
    """Where each row read so far came from: its line, and its ``to`` cell as written until
    `take` hands it over (a number that did not parse is shown as it was in the file).

    The lines are kept for every row, in an array of machine integers; the cells only for
    the rows whose outcome has not been taken, so that a huge file is never held whole.
    """

    def __init__(self) -> None:
        self.lines: array.array[int] = array.array("L")
        self._to: dict[int, str] = {}

    def add(self, line: int, to: str) -> None:
        self._to[len(self.lines)] = to
        self.lines.append(line)

    def line(self, index: int) -> int:
        """The line of the row at ``index`` (a row not read: the line it would be on)."""
        return self.lines[index] if index < len(self.lines) else index + 2

    def take(self, index: int) -> str | None:
        """The ``to`` cell of the row at ``index``, once."""
        return self._to.pop(index, None)


class FileError(SmsGateError):
    """A file could not be read, or written, while a run was sending: the rows it had sent
    are in its report, and ``str()`` says which were not (exit code 1, not 2: something may
    have been sent)."""


class _Refused(Exception):
    """A line or row not read as written: its line, and what is wrong with it."""

    def __init__(self, line: int, problem: str) -> None:
        self.line = line
        self.problem = problem
        super().__init__(f"line {line}: {problem}")


def _name(path: Path) -> str:
    return repr(str(path))


def _problem(path: Path, refused: _Refused) -> ValidationError:
    """``refused`` before anything was sent."""
    return ValidationError("FILE", f"{_name(path)} {refused}; nothing was sent")


def _changed(path: Path, refused: _Refused) -> FileError:
    """``refused`` while the rows before it were being sent."""
    return FileError(
        f"FILE: {_name(path)} changed as it was sent: {refused}; the rows from there on were "
        "not sent"
    )


def _lines(file: BinaryIO, counter: list[int]) -> Iterator[str]:
    """The file's lines, decoded and checked; ``counter[0]`` is the number of the last."""
    while True:
        raw = file.readline(LINE_LIMIT + 1)
        if not raw:
            return
        counter[0] += 1
        line = counter[0]
        if len(raw) > LINE_LIMIT and not raw.endswith(b"\n"):
            raise _Refused(line, f"is longer than {LINE_LIMIT:,} bytes")
        if b"\0" in raw:
            raise _Refused(line, "holds a NUL byte: is it a CSV file?")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Refused(
                line, f"is not UTF-8 (byte {exc.start + 1}); save the file as UTF-8"
            ) from None
        if line == 1:
            text = text.removeprefix("\ufeff")  # Excel's byte order mark
        yield text


def _records(file: BinaryIO, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row with the line it starts on, the header first."""
    counter = [0]
    reader = csv.reader(_lines(file, counter), delimiter=delimiter, strict=True)
    while True:
        start = counter[0] + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _Refused(
                start,
                f"is not valid CSV ({exc}); quote a text that holds a {_mark(delimiter)} or "
                'a quote, and double the quotes inside it: "Say ""hi"", 2"',
            ) from None
        if counter[0] - start + 1 > RECORD_LINES:
            raise _Refused(
                start,
                f"starts a row that runs over {counter[0] - start + 1} lines: a quote left open?",
            )
        if cells:
            yield start, cells


def _mark(delimiter: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab"}[delimiter]


def _first_record(path: Path, delimiter: str) -> list[str] | None:
    with path.open("rb") as file:
        first = next(_records(file, delimiter), None)
    return None if first is None else first[1]


def _header(
    path: Path, delimiter: str | None, needed: Sequence[str]
) -> tuple[str, tuple[str, ...]]:
    """The delimiter and the columns of the file's header: with the delimiter given, or else
    the one (of `DELIMITERS`) with which the header names every column ``needed``."""
    read: dict[str, tuple[str, ...]] = {}
    refusals: list[ValidationError] = []
    for candidate in DELIMITERS if delimiter is None else (delimiter,):
        try:
            cells = _first_record(path, candidate)
        except _Refused as exc:  # e.g. "a";"b" read with commas: not this one
            refusals.append(_problem(path, exc))
            continue
        if cells is None:
            raise ValidationError(
                "FILE",
                f"{_name(path)} is empty: it needs a header line naming its columns, such as "
                "to,text",
            )
        read[candidate] = tuple(c.strip() for c in cells)
    if not read:
        raise refusals[0]
    fits = {d: columns for d, columns in read.items() if all(n in columns for n in needed)}
    if len(set(fits.values())) > 1:
        ways = " and ".join(DELIMITERS[d] for d in fits)
        raise ValidationError(
            "FILE",
            f"{_name(path)}: its header names the columns needed read with {ways} between "
            "them; say which with --delimiter",
        )
    if fits:
        chosen = next(iter(fits))  # the same columns every way: ',' first
        return chosen, fits[chosen]
    # None fits: say what the header names read the likeliest way.
    chosen = max(read, key=lambda d: (_count(read[d]), -list(DELIMITERS).index(d)))
    columns = read[chosen]
    missing = [n for n in needed if n not in columns]
    raise ValidationError(
        "FILE",
        f"{_name(path)} needs the column{'s' if len(needed) > 1 else ''} "
        f"{' and '.join(needed)} (missing: {', '.join(missing)}); its header, read with "
        f"{DELIMITERS[chosen]} between columns, names: {', '.join(map(repr, columns))}",
    )


def _count(columns: tuple[str, ...]) -> int:
    return sum(1 for c in columns if c)


def _check_columns(
    path: Path, columns: tuple[str, ...], text: str | None, template: Template | None
) -> None:
    named = [c for c in columns if c]
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise ValidationError(
            "FILE", f"{_name(path)} names the column {', '.join(twice)} more than once"
        )
    if text is None or template is None:
        return
    if "text" in columns:
        raise ValidationError(
            "--text",
            f"gives the text of every row, but {_name(path)} has a text column too: give "
            "one or the other",
        )
    for field in template.fields:
        if field not in columns:
            raise ValidationError("--text", _unknown(field, path, columns))
    doubled = doubled_field(text, columns)
    if doubled is not None:
        raise ValidationError("--text", doubled)


def _unknown(field: str, path: Path, columns: Sequence[str]) -> str:
    fields = [c for c in columns if c and c != "text"]
    close = closest(field, fields)
    hint = f"; did you mean {{{close}}}?" if close else ""
    return (
        f"names the field {{{field}}}, but {_name(path)} has no column {field} (its "
        f"columns: {', '.join(columns)}){hint}"
    )


_QUOTE_AFTER_SPACE = re.compile(r'\s+"')


def _check_row(checked: CsvFile, line: int, cells: list[str]) -> None:
    columns = checked.columns
    if len(cells) != len(columns):
        mark = _mark(checked.delimiter)
        raise _Refused(
            line,
            f"has {len(cells)} cells where the header has {len(columns)}: quote a text that "
            f'holds a {mark} ("Your code is 1{checked.delimiter}234")',
        )
    for cell in cells:
        # `, "Hello, Bob"` is read as two cells, ` "Hello` and ` Bob"`: the quote only quotes
        # when it comes first. Where optional columns make the count come out right, this
        # is how the cut shows.
        if _QUOTE_AFTER_SPACE.match(cell):
            raise _Refused(
                line,
                "has a quote after a space at the start of a cell: write the quote straight "
                f'after the {_mark(checked.delimiter)} ({checked.delimiter}"Hello, Bob")',
            )


def _rows(checked: CsvFile) -> Iterator[tuple[int, list[str]]]:
    """Each row of the file with its line, checked (`_check_row`).

    Raises:
        _Refused: a line or row is not read as written.
        OSError: the file cannot be read.
    """
    with checked.path.open("rb") as file:
        rows = _records(file, checked.delimiter)
        next(rows, None)  # the header
        for line, cells in rows:
            _check_row(checked, line, cells)
            yield line, cells


def records(checked: CsvFile) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row of a checked file with its line: its cells by column.

    Raises:
        ValidationError: the file changed since it was checked, and a row is not read as
            written.
    """
    columns = checked.columns
    try:
        for line, cells in _rows(checked):
            yield line, dict(zip(columns, cells, strict=True))
    except _Refused as exc:
        raise _problem(checked.path, exc) from None


def _has_brace(text: str) -> bool:
    return "{" in text or "}" in text


def _template(checked: CsvFile, cells: Mapping[str, str]) -> Template | str | None:
    """The template of a row's text, ``None`` for a text with no brace (most rows), or why
    the text cannot be written."""
    template = checked.text
    if template is None:
        text = cells.get("text", "")
        if not _has_brace(text):
            return None
        try:
            template = parse(text)
        except TemplateError as exc:
            return f"its text {exc}"
        if "{{" in text:
            doubled = doubled_field(text, [c for c in checked.columns if c != "text"])
            if doubled is not None:
                return f"its text {doubled}"
    if template.fields:
        if "text" in template.fields:
            return "its text names {text}, which is the text itself"
        unknown = [f for f in template.fields if f not in cells]
        if unknown:
            return f"its text {_unknown(unknown[0], checked.path, checked.columns)}"
        empty = [f for f in template.fields if not cells[f] or cells[f].isspace()]
        if empty:
            named = ", ".join(f"{{{f}}}" for f in empty)
            return f"its text needs {named}, but {'they are' if len(empty) > 1 else 'it is'} empty"
    return template


_OWN_CELLS = tuple(c for c in MESSAGE_COLUMNS if c != "text")


def message_fields(
    checked: CsvFile, cells: Mapping[str, str], defaults: Mapping[str, str] | None = None
) -> dict[str, str] | str:
    """The fields of a row's message (``to``, ``text``, ``sender``, ``reference``, and the
    ``defaults`` it has no cell for), without empty cells; or why its text cannot be written.
    """
    template = _template(checked, cells)
    if isinstance(template, str):
        return template
    text = cells.get("text", "") if template is None else template.render(cells)
    fields = {}
    for key in _OWN_CELLS:
        value = cells.get(key)
        if value and not value.isspace():
            fields[key] = value
    if text and not text.isspace():
        fields["text"] = text
    if defaults:
        for key, value in defaults.items():
            fields.setdefault(key, value)
    return fields


def check_csv(
    path: Path,
    *,
    delimiter: str | None = None,
    text: str | None = None,
    templates: bool = True,
) -> CsvFile:
    """Read the whole file once, and refuse it if any row is not exactly as written.

    Args:
        path: the file.
        delimiter: what separates the columns (`DELIMITERS`); by default, the one with which
            the header names the columns needed.
        text: the text of every row (``--text``), a template of the file's columns.
        templates: check that each row's text can be written (a dry run lists the rows
            whose text cannot, instead).

    Raises:
        ValidationError: the file cannot be read, its header lacks a column needed, or a
            line or row is wrong (its number is in the message).
    """
    try:
        template = None if text is None else parse(text)
    except TemplateError as exc:
        raise ValidationError("--text", str(exc)) from None
    try:
        delimiter, columns = _header(
            path, delimiter, ("to",) if text is not None else ("to", "text")
        )
        _check_columns(path, columns, text, template)
        checked = CsvFile(path, columns, 0, delimiter, template)
        rows, refused = 0, 0
        shown: list[tuple[int, str]] = []
        # Most rows have a text with no brace, and nothing to check (the text template,
        # if any, names no field): those are not made into mappings.
        text_at = columns.index("text") if template is None and "text" in columns else None
        every_row = templates and template is not None and bool(template.fields)
        for line, cells in _rows(checked):
            rows += 1
            if not templates or not (
                every_row or (text_at is not None and _has_brace(cells[text_at]))
            ):
                continue
            why = _template(checked, dict(zip(columns, cells, strict=True)))
            if isinstance(why, str):
                refused += 1
                if len(shown) < SHOWN:
                    shown.append((line, why))
    except _Refused as exc:
        raise _problem(path, exc) from None
    except OSError as exc:
        raise ValidationError("FILE", f"cannot read {_name(path)}: {exc.strerror}") from None
    if not rows:
        raise ValidationError("FILE", f"{_name(path)} has a header but no rows: nothing to send")
    if refused:
        line, why = shown[0]
        more = ""
        if refused > 1:
            lines = ", ".join(str(n) for n, _ in shown[1:])
            others = f"lines {lines}" + (", ..." if refused > SHOWN else "")
            more = f"; and {refused - 1:,} more rows whose text cannot be written ({others})"
        raise ValidationError(
            "FILE",
            f"{_name(path)} line {line}: {why}{more}; nothing was sent (--dry-run lists every row)",
        )
    return attrs.evolve(checked, rows=rows)


def read_rows(
    checked: CsvFile,
    index: RowIndex | array.array[int],
    defaults: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """The messages of a checked file's rows, as mappings of their fields (`message_fields`);
    each row is added to ``index`` as it is read (to an array, only its line).

    Raises:
        FileError: the file changed since it was checked (a row is not read as it was), or
            cannot be read any more: the rows from there on are not read.
    """
    columns = checked.columns
    try:
        for line, row in _rows(checked):
            cells = dict(zip(columns, row, strict=True))
            fields = message_fields(checked, cells, defaults)
            if isinstance(fields, str):
                raise _Refused(line, fields)
            if isinstance(index, RowIndex):
                index.add(line, cells.get("to", ""))
            else:
                index.append(line)
            yield fields
    except _Refused as exc:
        raise _changed(checked.path, exc) from None
    except OSError as exc:
        raise FileError(
            f"FILE: cannot read {_name(checked.path)} any more ({exc.strerror}) as it was "
            "sent: the rows from there on were not sent"
        ) from None
