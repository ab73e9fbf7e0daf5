"""Imported at start-up by a process with this folder on PYTHONPATH: with
``STALL_IN_COMMIT=K``, its K-th PostgreSQL transaction prints ``in-commit`` and stalls before
committing, so that a test can kill it in the middle of a journal write."""

import os

if os.environ.get("STALL_IN_COMMIT"):
    from tests.support.journal_child import stall_in_postgres_commit

    stall_in_postgres_commit(int(os.environ["STALL_IN_COMMIT"]))
