"""The statements of `smsgate.campaign`, with ``{schema}`` where its schema goes."""

from smsgate.journal import EntryState

__all__ = ["ANSWERED", "FINISH", "OPEN_CHUNKS", "OUTCOMES", "RETRY_STALLED", "TABLES"]

# The journal's states of a row that has its outcome.
OUTCOMES = [int(EntryState.ACCEPTED), int(EntryState.FAILED), int(EntryState.UNCERTAIN)]

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

# The running jobs of workers that stopped beating, queued again in one statement: a job is
# locked, checked and reset together, so two workers recovering at once never both reset it,
# and a job that a live worker has taken since is left alone.
RETRY_STALLED = """
SELECT procrastinate_retry_job_v2(job.id, now(), NULL, NULL, NULL)
  FROM (SELECT id FROM {schema}.procrastinate_jobs
         WHERE status = 'doing' AND task_name = %(task)s
           AND (worker_id IS NULL OR worker_id IN (
                SELECT id FROM {schema}.procrastinate_workers
                 WHERE last_heartbeat < now() - make_interval(secs => %(seconds)s)))
           FOR UPDATE SKIP LOCKED) AS job
"""

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
