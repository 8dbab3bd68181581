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
