"""The format of a `smsgate.journal.sqlite.SqliteJournal` file: its tables, the marks that
say a file is one (its application id and format version), the kinds of row its append-only
log holds, and the SQL that folds each kind into the table of one row per input.
"""

from __future__ import annotations

__all__ = [
    "APPLICATION_ID",
    "CLAIM",
    "COLUMNS",
    "DISPATCH_KEYED",
    "DISPATCH_UNKEYED",
    "FOLD",
    "RECORD",
    "SCHEMA",
    "SCHEMA_VERSION",
]

APPLICATION_ID = 0x534D5347  # "SMSG": marks the file as an smsgate journal
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    provider TEXT NOT NULL,
    created REAL NOT NULL,
    sessions INTEGER NOT NULL
);
CREATE TABLE log (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    session INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX log_by_run ON log (run, id);
CREATE TABLE inputs (
    run INTEGER NOT NULL,
    position INTEGER NOT NULL,
    digest INTEGER NOT NULL,
    session INTEGER NOT NULL,
    state INTEGER NOT NULL,
    recipient TEXT,
    reference TEXT,
    key TEXT,
    message_id TEXT,
    batch_id TEXT,
    status TEXT,
    error TEXT,
    reason TEXT,
    delivery TEXT,
    PRIMARY KEY (run, position)
) WITHOUT ROWID;
"""

# What a log row's body holds, by kind, and the SQL that folds it into ``inputs``
# (:run the run, :session the session that wrote it, :body the body).
CLAIM, DISPATCH_KEYED, DISPATCH_UNKEYED, RECORD = 0, 1, 2, 3


def _at(i: int) -> str:
    return f"json_extract(value, '$[{i}]')"


FOLD = {
    # [[position, digest, to, reference, key], ...]
    CLAIM: (
        "INSERT INTO inputs (run, position, digest, session, state, recipient, reference, key)"
        f" SELECT :run, {_at(0)}, {_at(1)}, :session, 0, {_at(2)}, {_at(3)}, {_at(4)}"
        " FROM json_each(:body) WHERE true"
        " ON CONFLICT (run, position) DO UPDATE SET digest = excluded.digest,"
        " session = excluded.session, recipient = excluded.recipient,"
        " reference = excluded.reference, key = excluded.key"
    ),
    # [position, ...]
    DISPATCH_KEYED: (
        "UPDATE inputs SET state = 1 WHERE run = :run"
        " AND position IN (SELECT value FROM json_each(:body))"
    ),
    DISPATCH_UNKEYED: (
        "UPDATE inputs SET state = 1, key = NULL WHERE run = :run"
        " AND position IN (SELECT value FROM json_each(:body))"
    ),
    # [[state, batch_id, status, error, reason, [position or [position, message_id], ...]],
    # ...]: outcomes grouped by all they share but their positions and message ids
    RECORD: (
        "WITH outcome AS MATERIALIZED (SELECT"
        f" {_at(0)} AS state, {_at(1)} AS batch_id, {_at(2)} AS status, {_at(3)} AS error,"
        f" {_at(4)} AS reason, {_at(5)} AS positions FROM json_each(:body))"
        " INSERT INTO inputs (run, position, digest, session, state, message_id, batch_id,"
        " status, error, reason)"
        " SELECT :run, CASE p.type WHEN 'array' THEN json_extract(p.value, '$[0]') ELSE p.value"
        " END, 0, :session, state, CASE p.type WHEN 'array' THEN json_extract(p.value, '$[1]') END,"
        " batch_id, status, error, reason"
        " FROM outcome, json_each(outcome.positions) AS p WHERE true"
        " ON CONFLICT (run, position) DO UPDATE SET state = excluded.state,"
        " message_id = excluded.message_id, batch_id = excluded.batch_id,"
        " status = excluded.status, error = excluded.error, reason = excluded.reason"
    ),
}
COLUMNS = (
    "position, state, digest, session, recipient, reference, key, message_id, batch_id,"
    " status, error, reason, delivery"
)
