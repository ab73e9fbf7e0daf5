"""The statements of `smsgate.campaign`, with ``{schema}`` where its schema goes."""

from smsgate.journal import EntryState

__all__ = [
    "ANSWERED",
    "FAIL",
    "FINISH",
    "OPEN_CHUNKS",
    "OUTCOMES",
    "QUEUED",
    "RETRY",
    "STALLED",
    "TABLES",
]

# The journal's states of a row that has its outcome.
OUTCOMES = [int(state) for state in EntryState if state.value >= EntryState.ACCEPTED]

TABLES = """
CREATE TABLE IF NOT EXISTS {schema}.campaigns (
    name text PRIMARY KEY,
    chunk integer NOT NULL,
    total integer NOT NULL,
    created timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {schema}.campaign_rows (
    campaign text NOT NULL REFERENCES {schema}.campaigns (name),
    position integer NOT NULL,
    fields jsonb NOT NULL,
    PRIMARY KEY (campaign, position)
);
CREATE TABLE IF NOT EXISTS {schema}.campaign_settings (
    name text PRIMARY KEY,
    value double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.campaign_finished (
    campaign text NOT NULL REFERENCES {schema}.campaigns (name),
    chunk integer NOT NULL,
    PRIMARY KEY (campaign, chunk)
);
"""

# The rows of one chunk that have an outcome, by its journal.
ANSWERED = (
    "(SELECT count(*) FROM {schema}.runs AS r JOIN {schema}.inputs AS i ON i.run = r.id"
    " WHERE r.name = %(run)s AND i.state = ANY(%(outcomes)s))"
)

# A chunk is marked finished once every row has an outcome: recover() looks no further.
FINISH = (
    "INSERT INTO {schema}.campaign_finished (campaign, chunk)"
    " SELECT %(campaign)s, %(chunk)s WHERE %(rows)s <= " + ANSWERED + " ON CONFLICT DO NOTHING"
)

# The running jobs of workers that stopped beating, locked (in the caller's transaction)
# until each is queued again or ended: two workers recovering at once never both touch one,
# and a job that a live worker has taken since is left alone (its row is checked again once
# locked). ``twin``: another job of the same chunk is waiting, which this one, running,
# would hold up for ever (procrastinate's ``lock``).
STALLED = """
SELECT job.id, job.attempts,
       EXISTS (SELECT 1 FROM {schema}.procrastinate_jobs AS s
                WHERE s.lock = job.lock AND s.status = 'todo') AS twin
  FROM {schema}.procrastinate_jobs AS job
 WHERE job.status = 'doing' AND job.task_name = %(task)s
   AND (job.worker_id IS NULL OR job.worker_id IN (
        SELECT id FROM {schema}.procrastinate_workers
         WHERE last_heartbeat < now() - make_interval(secs => %(seconds)s)))
   FOR UPDATE OF job SKIP LOCKED
"""

# Queued again after a wait that doubles with each try (procrastinate's own function, as
# its retry_job uses).
RETRY = (
    "SELECT procrastinate_retry_job_v2(%(job)s,"
    " now() + make_interval(secs => power(2, %(attempts)s)), NULL, NULL, NULL)"
)

# Ended, as a job that raised after its last try is: the chunk is queued again by recover()
# (a new job), until its jobs have failed too often.
FAIL = "UPDATE {schema}.procrastinate_jobs SET status = 'failed' WHERE id = %(job)s"

# A job of the chunk waiting or running.
QUEUED = (
    "SELECT 1 FROM {schema}.procrastinate_jobs"
    " WHERE lock = %s AND status IN ('todo', 'doing') LIMIT 1"
)

# Chunks not marked finished that have no job waiting or running: whether their journal
# says they are done after all, and how many of their jobs failed.
OPEN_CHUNKS = """
WITH open AS MATERIALIZED (
    SELECT c.name, n, least(c.chunk, c.total - n * c.chunk) AS size
      FROM {schema}.campaigns AS c, generate_series(0, (c.total - 1) / c.chunk) AS n
     WHERE NOT EXISTS (SELECT 1 FROM {schema}.campaign_finished AS f
                        WHERE f.campaign = c.name AND f.chunk = n)
       AND NOT EXISTS (SELECT 1 FROM {schema}.procrastinate_jobs AS j
                        WHERE j.lock = c.name || ':' || n AND j.status IN ('todo', 'doing'))
)
SELECT o.name, o.n, o.size <= (SELECT count(*) FROM {schema}.runs AS r
                                  JOIN {schema}.inputs AS i ON i.run = r.id
                                 WHERE r.name = o.name || ':' || o.n
                                   AND i.state = ANY(%(outcomes)s)),
       (SELECT count(*) FROM {schema}.procrastinate_jobs AS j
         WHERE j.lock = o.name || ':' || o.n AND j.status = 'failed')
  FROM open AS o
"""
