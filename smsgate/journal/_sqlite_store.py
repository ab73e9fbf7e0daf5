"""An open `smsgate.journal.sqlite.SqliteJournal` file: opening it (checking its format, or
making its tables), the lock that keeps other processes out, the thread that checkpoints its
write-ahead log off the event loop, and the transactions that turn SQLite's errors into
`smsgate.journal.JournalError`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smsgate.journal import JournalError, JournalInUse
from smsgate.journal._sqlite_schema import APPLICATION_ID, SCHEMA, SCHEMA_VERSION

__all__ = ["Store", "reading", "writing"]

_CHECKPOINT_BYTES = 2 << 20  # written to the write-ahead log before it is checkpointed


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """SQLite's errors while reading, as `JournalError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise _journal_error(path, exc) from None


class writing:
    """A write transaction, with SQLite's errors turned into `JournalError`."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self.connection = connection

    def __enter__(self) -> None:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _journal_error(self.path, exc) from None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            try:
                self.connection.execute("COMMIT")
                return
            except sqlite3.Error as error:
                exc = error
        if self.connection.in_transaction:
            self.connection.rollback()
        if isinstance(exc, sqlite3.Error):
            raise _journal_error(self.path, exc) from None


def _journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return JournalInUse(f"journal {str(path)!r} is in use by another process")
    return JournalError(f"journal {str(path)!r}: cannot use it: {exc}")


class Store:
    """An open journal file: its connection, this process's lock on it, and a thread that
    checkpoints its write-ahead log, so that the fsyncs a checkpoint makes never hold up the
    event loop."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self._lock = _lock(path)
        try:
            # Where there is no file lock to take (no fcntl), SQLite's own exclusive mode
            # keeps other processes out, and checkpoints run on the event loop.
            exclusive = self._lock is None
            self.connection = _connect(path, synchronous, exclusive=exclusive)
        except BaseException:
            self._unlock()
            raise
        self._written = 0
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        if not exclusive:
            self._thread = threading.Thread(
                target=self._checkpoint, name="smsgate-journal-checkpoint", daemon=True
            )
            self._thread.start()

    def wrote(self, size: int) -> None:
        """Count what a commit wrote; past `_CHECKPOINT_BYTES`, wake the checkpointer."""
        self._written += size
        if self._written >= _CHECKPOINT_BYTES and self._thread is not None:
            self._written = 0
            self._wake.set()

    def _checkpoint(self) -> None:
        connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                with contextlib.suppress(sqlite3.Error):  # the next one will catch up
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the checkpointer, close the connection (which checkpoints what is left) and
        let go of the file."""
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join()
        try:
            self.connection.close()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the lock
            self._lock = None


def _lock(path: Path) -> int | None:
    """Lock ``path`` for this process (a ``-lock`` file beside it); ``None`` where the
    platform has no ``fcntl``.

    Raises:
        JournalError: another process holds it, or it cannot be made.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    try:
        descriptor = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise JournalError(f"journal {str(path)!r}: cannot open it: {exc.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise JournalInUse(
            f"journal {str(path)!r} is in use by another process; let it finish first"
        ) from None
    return descriptor


def _connect(path: Path, synchronous: str, *, exclusive: bool) -> sqlite3.Connection:
    """Open ``path`` and check (or make) its tables."""
    try:
        connection = sqlite3.connect(
            path, timeout=0.1, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise JournalError(f"journal {str(path)!r}: cannot open it: {exc}") from None
    try:
        if exclusive:  # the lock taken by the first write is kept until closing
            connection.execute("PRAGMA locking_mode = EXCLUSIVE")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {synchronous}")
        if not exclusive:
            connection.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer's job
            connection.execute(f"PRAGMA journal_size_limit = {_CHECKPOINT_BYTES * 4}")
        connection.execute("BEGIN IMMEDIATE")
        [(application,)] = connection.execute("PRAGMA application_id").fetchall()
        [(version,)] = connection.execute("PRAGMA user_version").fetchall()
        [(tables,)] = connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        if application == 0 and tables == 0:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif application != APPLICATION_ID:
            raise JournalError(f"journal {str(path)!r} is not an smsgate journal")
        elif version != SCHEMA_VERSION:
            raise JournalError(
                f"journal {str(path)!r} has format {version}; this smsgate reads format "
                f"{SCHEMA_VERSION}"
            )
        connection.execute("COMMIT")
    except (sqlite3.Error, JournalError) as exc:
        connection.close()
        if isinstance(exc, JournalError):
            raise
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalInUse(
                f"journal {str(path)!r} is in use by another process; let it finish first"
            ) from None
        raise JournalError(
            f"journal {str(path)!r} is not an smsgate journal, or is damaged: {exc}"
        ) from None
    return connection
