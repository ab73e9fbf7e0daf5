"""Suppression lists: the numbers that must not be texted, because they replied STOP (the
law in the UK, the US and the EU for marketing messages) or were taken off by hand.

A `SuppressionList` keeps numbers in E.164 form, each with why, where from and when
(`Entry`); `SuppressionList.suppressed` answers for a whole chunk of a bulk send in one
query. Three stores keep the protocol:

- `MemorySuppressionList`: in this process's memory, for tests;
- `SqliteSuppressionList`: one SQLite file, shared by the processes of a machine;
- `PostgresSuppressionList`: PostgreSQL, shared by every machine
  (``pip install "smsgate[postgres]"``; imported from here only when first asked for).

Sending consults a list when given one: `SuppressingGateway(gateway, suppression)` refuses a
message to a listed number before any request (`smsgate.errors.RecipientSuppressed`), and
``send_many(..., suppression=...)`` (or given that gateway) gives each a ``SUPPRESSED``
outcome, looking a whole request's recipients up at once.

Replies are read by `opt_out_change` (which keywords, exactly, is in its docstring and in
``docs/suppression.md``), and applied to a list by `apply_inbound`.

Errors: bad numbers, regions and keywords raise `smsgate.ValidationError` before the list is
touched; a store that cannot be used raises `SuppressionError` (an `smsgate.SmsGateError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smsgate.suppression._base import (
    Entry,
    MemorySuppressionList,
    SuppressionError,
    SuppressionList,
)
from smsgate.suppression._gateway import SuppressingGateway
from smsgate.suppression._keywords import (
    START_KEYWORDS,
    STOP_KEYWORDS,
    OptOutChange,
    apply_inbound,
    opt_out_change,
)
from smsgate.suppression.sqlite import SqliteSuppressionList

if TYPE_CHECKING:
    from smsgate.suppression.postgres import PostgresSuppressionList

__all__ = [
    "START_KEYWORDS",
    "STOP_KEYWORDS",
    "Entry",
    "MemorySuppressionList",
    "OptOutChange",
    "PostgresSuppressionList",
    "SqliteSuppressionList",
    "SuppressingGateway",
    "SuppressionError",
    "SuppressionList",
    "apply_inbound",
    "opt_out_change",
]


def __getattr__(name: str) -> Any:
    # psycopg is an optional extra: it is imported only by those who use PostgreSQL.
    if name == "PostgresSuppressionList":
        from smsgate.suppression.postgres import PostgresSuppressionList

        return PostgresSuppressionList
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
