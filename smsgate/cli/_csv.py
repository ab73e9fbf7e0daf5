"""Reading a bulk CSV file exactly as written, or not at all.

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
  the rows in between into one text).
"""

from __future__ import annotations

import array
import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

from smsgate.errors import ValidationError

__all__ = ["CSV_COLUMNS", "LINE_LIMIT", "RECORD_LINES", "CsvFile", "check_csv", "read_rows"]

CSV_COLUMNS = ("to", "text", "sender", "reference")
LINE_LIMIT = 64 * 1024
"""Bytes in one line at most."""
RECORD_LINES = 10
"""Lines one row may run over (a text with line breaks, quoted) at most."""


@attrs.frozen
class CsvFile:
    """A bulk file whose every row has been checked.

    Attributes:
        path: the file.
        columns: the header's columns.
        rows: how many rows it has (blank lines aside).
    """

    path: Path
    columns: tuple[str, ...]
    rows: int


def _problem(path: Path, line: int, problem: str) -> ValidationError:
    return ValidationError("FILE", f"{str(path)!r} line {line}: {problem}; nothing was sent")


def _lines(file: BinaryIO, path: Path, counter: list[int]) -> Iterator[str]:
    """The file's lines, decoded and checked; ``counter[0]`` is the number of the last."""
    while True:
        raw = file.readline(LINE_LIMIT + 1)
        if not raw:
            return
        counter[0] += 1
        line = counter[0]
        if len(raw) > LINE_LIMIT and not raw.endswith(b"\n"):
            raise _problem(path, line, f"is longer than {LINE_LIMIT:,} bytes")
        if b"\0" in raw:
            raise _problem(path, line, "holds a NUL byte: is it a CSV file?")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _problem(
                path, line, f"is not UTF-8 (byte {exc.start + 1}); save the file as UTF-8"
            ) from None
        if line == 1:
            text = text.removeprefix("\ufeff")  # Excel's byte order mark
        yield text


def _records(file: BinaryIO, path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank row with the line it starts on, the header first."""
    counter = [0]
    reader = csv.reader(_lines(file, path, counter), strict=True)
    while True:
        start = counter[0] + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _problem(
                path,
                start,
                f"is not valid CSV ({exc}); quote a text that holds a comma or "
                'a quote, and double the quotes inside it: "Say ""hi"", 2"',
            ) from None
        if counter[0] - start + 1 > RECORD_LINES:
            raise _problem(
                path,
                start,
                f"starts a row that runs over {counter[0] - start + 1} lines: a quote left open?",
            )
        if cells:
            yield start, cells


def _header(path: Path, cells: list[str] | None) -> tuple[str, ...]:
    columns = tuple(c.strip() for c in cells or ())
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ValidationError(
            "FILE", f"{str(path)!r} names the column {', '.join(twice)} more than once"
        )
    missing = [c for c in ("to", "text") if c not in columns]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if missing or unknown:
        problem = (
            f"needs columns to and text (missing: {', '.join(missing)})"
            if missing
            else f"has unknown columns {', '.join(unknown)}"
        )
        raise ValidationError(
            "FILE", f"{str(path)!r} {problem}; columns are {', '.join(CSV_COLUMNS)}"
        )
    return columns


_QUOTE_AFTER_SPACE = re.compile(r'\s+"')


def _check_row(path: Path, line: int, cells: list[str], columns: tuple[str, ...]) -> None:
    if len(cells) != len(columns):
        raise _problem(
            path,
            line,
            f"has {len(cells)} cells where the header has {len(columns)}: quote a text that "
            'holds a comma ("Your code is 1,234")',
        )
    for cell in cells:
        # `, "Hello, Bob"` is read as two cells, ` "Hello` and ` Bob"`: the quote only quotes
        # when it comes first. Where optional columns make the count come out right, this
        # is how the cut shows.
        if _QUOTE_AFTER_SPACE.match(cell):
            raise _problem(
                path,
                line,
                "has a quote after a space at the start of a cell: write the quote straight "
                'after the comma (,"Hello, Bob")',
            )


def check_csv(path: Path) -> CsvFile:
    """Read the whole file once, and refuse it if any row is not exactly as written.

    Raises:
        ValidationError: the file cannot be read, or a line or row is wrong (its number is
            in the message).
    """
    try:
        with path.open("rb") as file:
            records = _records(file, path)
            first = next(records, None)
            columns = _header(path, first[1] if first else None)
            rows = 0
            for line, cells in records:
                _check_row(path, line, cells, columns)
                rows += 1
    except OSError as exc:
        raise ValidationError("FILE", f"cannot read {str(path)!r}: {exc.strerror}") from None
    return CsvFile(path, columns, rows)


def read_rows(checked: CsvFile, lines: array.array[int]) -> Iterator[dict[str, str]]:
    """The rows of a checked file, as mappings of their non-empty cells; each row's line
    number is appended to ``lines`` as it is read.

    Raises:
        ValidationError: the file changed since it was checked.
    """
    with checked.path.open("rb") as file:
        records = _records(file, checked.path)
        next(records, None)  # the header
        columns = checked.columns
        for line, cells in records:
            _check_row(checked.path, line, cells, columns)
            lines.append(line)
            yield {key: value for key, value in zip(columns, cells, strict=True) if value.strip()}
