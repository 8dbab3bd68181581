-- 005_quota.sql: an import's quota follows its owner's other imports while it
-- runs.
--
-- pf_job_admit gives a new import what was left of its owner's row and byte
-- quotas at that moment. Two imports of one user running at once could each
-- use all of it, so the quota could be overshot by the whole remainder. Now
-- every batch and every stored chunk also answers with what the owner's other
-- imports hold (committed), and the import narrows its allowance to the rest;
-- a batch near the row quota is checked, and refused, in its own transaction
-- (pf_batch_begin below). For bytes, what can still slip past is what the
-- owner's other uploads have received but not yet stored (at most 8 MiB
-- each, PF_SPOOL_UNACKED_MAX), not the remainder.
-- A running upload that declared its length (Content-Length, Upload-Length)
-- now holds that many bytes of the storage quota from its admission on, so
-- two declared uploads can no longer both be admitted into the same space.

-- Bytes of the storage quota that user p_user's imports other than p_except
-- hold: what they stored, or what a running one declared, if more.
CREATE FUNCTION pf_user_bytes(p_user bigint, p_except bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(CASE WHEN state IN ('receiving', 'processing') AND bytes_total IS NOT NULL
                           THEN GREATEST(bytes_total, bytes_durable) ELSE bytes_durable END), 0)::bigint
    FROM import_jobs WHERE user_id = p_user AND id <> p_except
$$;

-- Rows that user p_user's imports other than p_except have stored.
CREATE FUNCTION pf_user_rows(p_user bigint, p_except bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(rows_inserted), 0)::bigint
    FROM import_jobs WHERE user_id = p_user AND id <> p_except
$$;

-- As in 003_accounts.sql, with bytes counted by pf_user_bytes.
CREATE OR REPLACE FUNCTION pf_job_admit(p_user bigint, p_bytes bigint, p_max_imports bigint,
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
  SELECT count(*) FILTER (WHERE state IN ('receiving', 'processing'))
    INTO running
    FROM import_jobs WHERE user_id = p_user;
  used_rows := pf_user_rows(p_user, 0);
  used_bytes := pf_user_bytes(p_user, 0);
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

DROP FUNCTION pf_batch_begin(bigint, integer, bigint, bigint, bigint, bigint, boolean, bigint,
                             bigint, bigint, bigint, bigint, bigint);

-- As in 002_durable.sql, and the row quota: returns the rows stored by the
-- owner's other imports (-1 when the import has no owner: no quota), and
-- raises PF003 instead when this batch would take the owner's stored rows
-- over p_max_rows (0: no check).
--
-- Far from the quota nothing is locked. Within p_margin rows of it (the
-- caller passes what its writer connections can hold uncommitted at once:
-- writers x batch rows), the owner's batches take the owner's advisory lock
-- (the key space of pf_job_admit), so they commit one at a time, each seeing
-- the rows of those before it: two batches committing at once on two
-- connections cannot both take the last rows. One instance is exact; other
-- instances' batches in flight far from the quota are what may slip past.
CREATE FUNCTION pf_batch_begin(p_job bigint, p_gen integer, p_from bigint, p_to bigint,
                               p_off bigint, p_line bigint, p_cr boolean, p_parsed bigint,
                               p_inserted bigint, p_rejected bigint, p_warned bigint,
                               p_raw bigint, p_stored bigint, p_max_rows bigint,
                               p_margin bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  owner  bigint;
  own    bigint;
  others bigint;
BEGIN
  UPDATE import_jobs
     SET next_record = p_to, next_offset = p_off, next_line = p_line, next_cr = p_cr,
         rows_parsed = rows_parsed + p_parsed,
         rows_inserted = rows_inserted + p_inserted,
         rows_rejected = rows_rejected + p_rejected,
         rows_warned = rows_warned + p_warned,
         raw_bytes = raw_bytes + p_raw,
         raw_stored_bytes = raw_stored_bytes + p_stored,
         updated_at = now()
   WHERE id = p_job AND work_gen = p_gen AND next_record = p_from AND shape IS NOT NULL
     AND bytes_durable >= p_off AND state IN ('receiving', 'processing')
  RETURNING user_id, rows_inserted INTO owner, own;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PF001', MESSAGE = 'batch out of place';
  END IF;
  IF owner IS NULL THEN
    RETURN -1;
  END IF;
  others := pf_user_rows(owner, p_job);
  IF p_max_rows > 0 AND p_inserted > 0 AND others + own + p_margin > p_max_rows THEN
    PERFORM pg_advisory_xact_lock(2, (owner % 2147483647)::integer);
    others := pf_user_rows(owner, p_job); -- a new snapshot: the batches before are in
    IF others + own > p_max_rows THEN
      RAISE EXCEPTION USING ERRCODE = 'PF003', MESSAGE = 'row quota exceeded';
    END IF;
  END IF;
  RETURN others;
END $$;

DROP FUNCTION pf_chunk_put(bigint, bigint, integer, bytea, boolean);

-- As in 002_durable.sql, and then: the upload bytes stored by the owner's
-- other imports (-1 without an owner).
CREATE FUNCTION pf_chunk_put(p_job bigint, p_off bigint, p_len integer, p_data bytea,
                             p_final boolean, OUT durable bigint, OUT others_bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
  owner bigint;
BEGIN
  UPDATE import_jobs
     SET bytes_durable = p_off + p_len,
         bytes_received = GREATEST(bytes_received, p_off + p_len),
         input_complete = p_final,
         state = CASE WHEN p_final THEN 'processing' ELSE state END,
         updated_at = now()
   WHERE id = p_job AND bytes_durable = p_off AND NOT input_complete
     AND state IN ('receiving', 'processing')
  RETURNING bytes_durable, user_id INTO durable, owner;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PF001', MESSAGE = 'chunk out of place';
  END IF;
  IF p_len > 0 THEN
    INSERT INTO import_chunks (job_id, byte_offset, raw_len, data)
    VALUES (p_job, p_off, p_len, p_data);
  END IF;
  IF owner IS NULL THEN
    others_bytes := -1;
  ELSE
    others_bytes := pf_user_bytes(owner, p_job);
  END IF;
END $$;
