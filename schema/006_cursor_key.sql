-- 006_cursor_key.sql: the key that seals paging cursors (src/api/cursor.c).
--
-- Every instance behind this database must open the cursors any other one
-- made, so the key lives here. The first instance that needs it inserts 32
-- random bytes of its own (RAND_bytes) with ON CONFLICT DO NOTHING, and every
-- instance then reads back the one row that won, once, and keeps it. Replacing
-- the row (with every instance stopped) makes every cursor handed out so far
-- invalid (400): clients start again from the first page.
CREATE TABLE server_keys (
  name   text PRIMARY KEY,
  secret bytea NOT NULL CHECK (length(secret) = 32)
);
