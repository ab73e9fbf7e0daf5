"""When a journalled ``smsgate bulk`` run sends its rows: the time it schedules them for
(``--at``) and its quiet hours (``--window``), which the journal's record of each row does not
hold. A run resumed with another of either would send its rows at two times; `check_sending`
refuses it before anything is sent, naming what the run was begun with, as a changed file is
refused with the row that differs.

They are kept in a table of the journal's own file, ``bulk_sending`` (one row a run), which
the journal itself leaves alone: written under the journal's lock, in one transaction, before
the run's first session claims a row. A run begun by an smsgate that kept no such row gets
the one its next session is resumed with. A run whose ``--at`` has passed (which ``--at``
refuses now) is resumed without one, and sends the rest at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from smsgate.errors import ValidationError
from smsgate.journal._sqlite_store import writing
from smsgate.journal.sqlite import SqliteJournal
from smsgate.quiet import Window

__all__ = ["check_sending"]

_TABLE = (
    "CREATE TABLE IF NOT EXISTS bulk_sending (run TEXT PRIMARY KEY, at TEXT, window TEXT)"
    " WITHOUT ROWID"
)


async def check_sending(
    journal: SqliteJournal, run: str, at: datetime | None, window: Window | None
) -> None:
    """Record when ``run`` sends, if it is new; if it is resumed, refuse another ``at`` or
    ``window`` than it was begun with.

    Raises:
        ValidationError: (``--at`` or ``--window``) the run was begun with another.
        JournalError: the journal cannot be used.
    """
    begun = run in await journal.runs()
    connection = journal.connection()
    with writing(journal.path, connection):
        connection.execute(_TABLE)
        found = connection.execute(
            "SELECT at, window FROM bulk_sending WHERE run = ?", (run,)
        ).fetchone()
        if begun and found is not None:
            began_at, began_window = found
            where = f"run {run!r} of journal {str(journal.path)!r}"
            if _at(began_at) != at:
                if not _passed(began_at) or at is not None:
                    raise _differs("--at", where, began_at)
                # Its time has passed (so that --at is refused now): given no --at, the rest
                # go now, which is what the refusal said to do.
                connection.execute("UPDATE bulk_sending SET at = NULL WHERE run = ?", (run,))
            if _window(began_window) != window:
                raise _differs("--window", where, began_window)
            return
        connection.execute(
            "INSERT OR REPLACE INTO bulk_sending (run, at, window) VALUES (?, ?, ?)",
            (run, None if at is None else at.isoformat(), None if window is None else str(window)),
        )


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _passed(text: str | None) -> bool:
    began = _at(text)
    return began is not None and began <= datetime.now(UTC)


def _window(text: str | None) -> Window | None:
    return None if text is None else Window.parse(text)


def _differs(flag: str, where: str, began: str | None) -> ValidationError:
    if began is None:
        begun, resume = f"without {flag}", f"give no {flag} to resume it"
    elif flag == "--at" and _passed(began):
        begun, resume = f"with --at {began}, which has passed", "give no --at to send the rest now"
    else:
        shown = began if flag == "--at" else repr(began)
        begun, resume = f"with {flag} {shown}", f"give that {flag} to resume it"
    return ValidationError(
        flag,
        f"{where} was begun {begun}: {resume}, or --run with a new name to send the file as a "
        "new run; nothing was sent",
    )
