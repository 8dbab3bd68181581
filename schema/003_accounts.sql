-- 003_accounts.sql: users, how they prove who they are, and whose each
-- import is. Secrets (session ids, API tokens, one-time login links) are
-- stored only as SHA-256 digests; passwords only as scrypt hashes. Kept in
-- PostgreSQL, not in memory, so every propflow instance behind the same
-- database knows every session and every login throttle.

CREATE TABLE users (
  id         bigserial PRIMARY KEY,
  name       text        NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
  pw_hash    text,                            -- '$scrypt$ln=..,r=..,p=..$salt$hash'; NULL: no password login
  is_admin   boolean     NOT NULL DEFAULT false,
  disabled   boolean     NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
  id_hash    bytea       PRIMARY KEY,         -- sha256 of the cookie value
  user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
  id         bigserial   PRIMARY KEY,
  token_hash bytea       NOT NULL UNIQUE,     -- sha256 of the token text
  user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  label      text        NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE login_links (
  link_hash  bytea       PRIMARY KEY,         -- sha256 of the one-time secret
  user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);

-- Failed logins per key ('ip:ADDR' or 'name:NAME') in a sliding window.
CREATE TABLE login_throttle (
  key          text        PRIMARY KEY,
  failures     integer     NOT NULL DEFAULT 0,
  window_start timestamptz NOT NULL DEFAULT now()
);

-- Every import has an owner; imports made before accounts existed go to
-- the first administrator when it is created.
ALTER TABLE import_jobs ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX import_jobs_owner ON import_jobs (user_id, id DESC);

-- Admission of a new import, in the transaction that inserts it: the
-- owner's running imports and quotas are counted under a lock per user
-- (advisory key space (2, user)), so two uploads at once cannot both take
-- the last place. Refusals raise PF002 (too many running), PF003 (rows),
-- PF004 (bytes); otherwise what is left of each quota is returned.
CREATE FUNCTION pf_job_admit(p_user bigint, p_bytes bigint, p_max_imports bigint,
                             p_max_rows bigint, p_max_bytes bigint,
                             OUT rows_left bigint, OUT bytes_left bigint)
LANGUAGE plpgsql AS $$
DECLARE
  running    bigint;
  used_rows  bigint;
  used_bytes bigint;
BEGIN
  IF p_user = 0 THEN -- no owner (not reachable from HTTP): no limits
    rows_left := -1;
    bytes_left := -1;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(2, (p_user % 2147483647)::integer);
  SELECT count(*) FILTER (WHERE state IN ('receiving', 'processing')),
         coalesce(sum(rows_inserted), 0), coalesce(sum(bytes_durable), 0)
    INTO running, used_rows, used_bytes
    FROM import_jobs WHERE user_id = p_user;
  IF running >= p_max_imports THEN
    RAISE EXCEPTION 'too many imports running' USING ERRCODE = 'PF002';
  END IF;
  IF used_rows >= p_max_rows THEN
    RAISE EXCEPTION 'row quota exceeded' USING ERRCODE = 'PF003';
  END IF;
  IF used_bytes + p_bytes > p_max_bytes THEN
    RAISE EXCEPTION 'storage quota exceeded' USING ERRCODE = 'PF004';
  END IF;
  rows_left := p_max_rows - used_rows;
  bytes_left := p_max_bytes - used_bytes;
END $$;
