"""The machine's PostgreSQL, for the tests that need it: a schema of its own for each test,
dropped afterwards.

The server is found at ``SMSGATE_TEST_POSTGRES`` (a psycopg conninfo; by default
``host=127.0.0.1 port=5432 user=postgres dbname=test``). Without it a test skips, saying so in
one line, except when ``CI`` is set: there a missing server fails the run, so that CI can
never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

CONNINFO = os.environ.get(
    "SMSGATE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


def reachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return 'psycopg is not installed (pip install -e ".[dev]")'
    try:
        with psycopg.connect(CONNINFO, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {CONNINFO!r}: {str(exc).strip()}"
    return None


def need_postgres() -> None:
    """Skip the test (fail it, when ``CI`` is set) if PostgreSQL cannot be used."""
    problem = reachable()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs PostgreSQL: {problem}")
    pytest.skip(problem)


def new_schema() -> Iterator[str]:
    """A new schema's name, dropped with everything in it afterwards (and so is every schema
    whose name begins with it, for a test that needs several): the ``postgres_schema``
    fixture."""
    need_postgres()
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield schema
    with psycopg.connect(CONNINFO, autocommit=True) as connection:
        found = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (schema,)
        ).fetchall()
        for (name,) in found:
            connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
