-- 006_instances_readmit.sql: a reprocess is admitted like an upload, and a
-- server leaves its address where the command line can find it.

-- The owner's running imports, counted under the owner's admission lock
-- (pf_job_admit's advisory key space (2, user)), held to the end of the
-- transaction. A reprocess calls it first and then, in the same
-- transaction, restarts the job only while fewer than --user-max-imports
-- run: so a reprocess and an upload (or two reprocesses) at once cannot
-- both take the last place. plpgsql so that the count is read after the
-- lock is granted (a plain SQL statement's snapshot predates the lock).
CREATE FUNCTION pf_job_running(p_user bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  running bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(2, (p_user % 2147483647)::integer);
  SELECT count(*) INTO running
    FROM import_jobs WHERE user_id = p_user AND state IN ('receiving', 'processing');
  RETURN running;
END $$;

-- Where each server that ran on this database was reached: the URL it
-- listens on (as printed at start, a wildcard address shown as loopback)
-- and its --public-url, written when it starts listening. `propflow user
-- link` prints a link to the most recently started one instead of guessing
-- from its own --listen. Rows of servers not started for 30 days go.
CREATE TABLE server_instances (
  url        text        PRIMARY KEY,         -- http://HOST:PORT it listens on
  public_url text,                            -- the first --public-url, or NULL
  hostname   text        NOT NULL,
  pid        integer     NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now()
);
