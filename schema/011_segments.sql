-- 011_segments.sql: property records in segments, indexed in bulk (issue 11).
--
-- The five sort indexes of 009_search.sql took an import's time from 0.92
-- to 1.72 x `\copy` at 300K rows (an insert into five btrees per row), and a
-- trigram index for q= cost more again (bench/README.md). Built in bulk
-- over rows that no longer change, the same indexes cost a fraction of
-- that. So property_records is partitioned:
--   property_records            LIST (job_id)
--     property_records_j<job>   RANGE (row_no), made with the import
--       property_records_j<job>_<seg>   one segment of the import's rows
-- A segment holds rows [pf_segment_start(seg), pf_segment_start(seg + 1)):
-- 8,192 rows, then 16,384, 32,768, then 65,536 each, so that the open
-- segment is small while an import is small and never over 65,536, and a
-- page of a 100K-row import plans over 4 segments (planning costs about
-- 0.1 ms per segment read, measured).
--
-- Every segment has what a batch needs: the row index (job_id, gen,
-- row_no), which is also browsing's order, and the id index. A segment
-- whose rows are all stored (the import's next_record is past it) gets the
-- five sort indexes, built at once; when the import is done every segment
-- gets the trigram index of the search text and the indexes of the
-- selective filters, and is analysed (pf_records_seal). A page reads
-- complete segments through those indexes (a MergeAppend) and sorts only
-- what has none yet: the open segment of a running import, and the one
-- just filled until its indexes commit (api/query.c).
--
-- DDL and locks: a segment is made by CREATE TABLE then ATTACH PARTITION,
-- which takes SHARE UPDATE EXCLUSIVE on the parent (CREATE TABLE ...
-- PARTITION OF would take ACCESS EXCLUSIVE, and wait for and block every
-- reader of every import). The import's partition is made with the import
-- (a trigger on import_jobs); its segments by the batch that first needs
-- one, in pf_batch_begin, after the UPDATE of the job's row that orders the
-- import's batches: the next batch waits for that row, so it finds the
-- segment committed.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- the segment of row p_row, and the first row of segment p_seg
CREATE FUNCTION pf_segment_of(p_row bigint) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_row < 8193 THEN 0 WHEN p_row < 24577 THEN 1 WHEN p_row < 57345 THEN 2
              ELSE (3 + (p_row - 57345) / 65536)::integer END
$$;
CREATE FUNCTION pf_segment_start(p_seg integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_seg <= 0 THEN 1 WHEN p_seg = 1 THEN 8193 WHEN p_seg = 2 THEN 24577
              ELSE 57345 + (p_seg - 3)::bigint * 65536 END
$$;

-- The table, partitioned. Columns, their order and defaults are kept (the
-- id sequence moves to the new table before the old one goes).
ALTER TABLE property_records RENAME TO property_records_010;
ALTER SEQUENCE property_records_id_seq OWNED BY NONE;
CREATE TABLE property_records (LIKE property_records_010 INCLUDING DEFAULTS)
  PARTITION BY LIST (job_id);
ALTER SEQUENCE property_records_id_seq OWNED BY property_records.id;
-- No foreign key to import_jobs: attaching a segment to a table with one
-- takes SHARE ROW EXCLUSIVE on import_jobs (the constraint is cloned), which
-- waits for every other import's batch and deadlocked with the market
-- analysis (measured). A batch checks its import's row in pf_batch_begin,
-- and the rows of a deleted import go with it (pf_records_job_gone).
-- (job_id, gen, row_no): a batch's uniqueness and browsing's order
ALTER TABLE property_records_010 RENAME CONSTRAINT property_records_row TO property_records_010_row;
ALTER TABLE property_records ADD CONSTRAINT property_records_row UNIQUE (job_id, gen, row_no);
-- ids come from the sequence, unique by construction: a record read by id
CREATE INDEX property_records_id ON property_records (id);

-- PL/pgSQL caches a generic plan of a statement after five runs: one over
-- every segment of every import, since the import is a parameter. Each run
-- then locks them all, and an UPDATE plans a target per segment: the
-- final analysis of a 2,000-row import took 8.5 s in a test database with
-- a few hundred segments. The functions that read or write
-- property_records plan each statement for its import.
ALTER FUNCTION pf_analysis_step(bigint, bigint) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION pf_analysis_final(bigint) SET plan_cache_mode = force_custom_plan;

-- Makes segment p_seg of import p_job (and the import's partition) unless
-- it is there.
CREATE FUNCTION pf_records_segment(p_job bigint, p_seg integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_part text := format('property_records_j%s', p_job);
  v_leaf text := format('property_records_j%s_%s', p_job, p_seg);
  v_hi bigint := pf_segment_start(p_seg + 1);
BEGIN
  IF to_regclass(v_leaf) IS NOT NULL THEN
    RETURN;
  END IF;
  IF to_regclass(v_part) IS NULL THEN
    -- self-conflicting, so two sessions do not both make it; taking the
    -- lock reads the catalog again, so the second sees the first's
    -- (ONLY: LOCK TABLE would take every segment of every import too)
    LOCK TABLE ONLY property_records IN SHARE UPDATE EXCLUSIVE MODE;
    IF to_regclass(v_part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I (LIKE property_records) PARTITION BY RANGE (row_no)', v_part);
      EXECUTE format('ALTER TABLE property_records ATTACH PARTITION %I FOR VALUES IN (%s)',
                     v_part, p_job);
    END IF;
  END IF;
  EXECUTE format('LOCK TABLE ONLY %I IN SHARE UPDATE EXCLUSIVE MODE', v_part);
  IF to_regclass(v_leaf) IS NULL THEN
    EXECUTE format('CREATE TABLE %I (LIKE property_records)', v_leaf);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', v_part,
                   v_leaf, CASE WHEN p_seg = 0 THEN 'MINVALUE' ELSE pf_segment_start(p_seg)::text END,
                   CASE WHEN v_hi > 2147483647 THEN 'MAXVALUE' ELSE v_hi::text END);
  END IF;
END $$;

-- The segments that rows [p_from, p_to) fall in.
CREATE FUNCTION pf_records_segments(p_job bigint, p_from bigint, p_to bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  FOR s IN pf_segment_of(p_from) .. pf_segment_of(GREATEST(p_from, p_to - 1)) LOOP
    PERFORM pf_records_segment(p_job, s);
  END LOOP;
END $$;

-- An import's partition and first segment, with the import.
CREATE FUNCTION pf_records_job_made() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pf_records_segment(NEW.id, 0);
  RETURN NULL;
END $$;
CREATE TRIGGER import_jobs_records AFTER INSERT ON import_jobs
  FOR EACH ROW EXECUTE FUNCTION pf_records_job_made();

-- A deleted import's rows, as the foreign key's cascade did. (Its empty
-- partition stays: dropping one takes ACCESS EXCLUSIVE on property_records,
-- which would wait for, and then hold up, every reader of every import.)
CREATE FUNCTION pf_records_job_gone() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  DELETE FROM property_records WHERE job_id = OLD.id;
  RETURN NULL;
END $$;
CREATE TRIGGER import_jobs_records_gone AFTER DELETE ON import_jobs
  FOR EACH ROW EXECUTE FUNCTION pf_records_job_gone();

-- Seals import p_job's complete segments. A segment is complete when the
-- import's position is past it or the import has ended. Two stages:
--  - sorted (p_final false, a running import's steps): the five sort
--    indexes, the expressions of api/query.c's sorts, so that no page sorts
--    more than the open segment;
--  - sealed (p_final true, with the final analysis of a done import): also
--    the trigram index of the search text (query.c's SEARCH_TEXT, the same
--    expression, or the planner cannot use it), the indexes of the filters
--    that can be selective (zip, city, outlier, warned), and statistics.
-- The trigram index alone costs more than the five sort indexes together
-- (bench/README.md): while an import runs its q pages walk a sort's index
-- and match as they go; it is built once the rows have stopped coming.
-- Each stage's last index marks it done. Returns the segments it worked
-- on; 0 when another session is at it.
CREATE FUNCTION pf_records_seal(p_job bigint, p_final boolean) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_next bigint;
  v_open boolean;
  v_seg integer;
  v_n integer := 0;
  l record;
BEGIN
  IF NOT pg_try_advisory_xact_lock(4, (p_job % 2147483647)::integer) THEN
    RETURN 0;
  END IF;
  SELECT next_record, state IN ('receiving', 'processing') INTO v_next, v_open
    FROM import_jobs WHERE id = p_job;
  IF NOT FOUND OR to_regclass(format('property_records_j%s', p_job)) IS NULL
     OR (p_final AND v_open) THEN
    RETURN 0;
  END IF;
  FOR l IN
    SELECT c.relname::text AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = format('property_records_j%s', p_job)::regclass
       AND to_regclass(c.relname || CASE WHEN p_final THEN '_search' ELSE '_ppsf' END) IS NULL
     ORDER BY c.relname
  LOOP
    v_seg := substring(l.name FROM '_([0-9]+)$')::integer;
    CONTINUE WHEN v_open AND v_next < pf_segment_start(v_seg + 1);
    IF to_regclass(l.name || '_ppsf') IS NULL THEN
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, price, row_no)', l.name || '_price', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, sqft, row_no)', l.name || '_sqft', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, year_built, row_no)', l.name || '_year', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, listed_on, row_no)', l.name || '_listed', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, (price / NULLIF(sqft, 0)), row_no)',
                     l.name || '_ppsf', l.name);
    END IF;
    IF p_final THEN
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, zip)', l.name || '_zip', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, lower(city))', l.name || '_city', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, row_no) WHERE outlier IS NOT NULL',
                     l.name || '_outlier', l.name);
      EXECUTE format('CREATE INDEX %I ON %I (job_id, gen, row_no) WHERE warned',
                     l.name || '_warned', l.name);
      EXECUTE format('CREATE INDEX %I ON %I USING gin ((('' '' || regexp_replace(lower('
                     'coalesce(address, '''') || '' '' || coalesce(city, '''') || '' '' || '
                     'coalesce(zip, '''') || '' '' || coalesce(source_id, '''')), '
                     '''[^[:alnum:]]+'', '' '', ''g''))) gin_trgm_ops)', l.name || '_search', l.name);
      -- its statistics, for the planner's choice between an index's order
      -- and a sort of what a filter's index finds (autovacuum comes later,
      -- or never to a table under its insert threshold)
      EXECUTE format('ANALYZE %I', l.name);
    END IF;
    v_n := v_n + 1;
  END LOOP;
  RETURN v_n;
END $$;

-- The rows already stored: each import's segments, then the rows, then
-- the seal of every import that is not running.
DO $$
DECLARE
  j record;
BEGIN
  FOR j IN SELECT job_id, max(row_no) AS last FROM property_records_010 GROUP BY job_id LOOP
    PERFORM pf_records_segments(j.job_id, 1, j.last + 1);
  END LOOP;
  FOR j IN SELECT id FROM import_jobs LOOP
    PERFORM pf_records_segment(j.id, 0);
  END LOOP;
END $$;
INSERT INTO property_records SELECT * FROM property_records_010;
DROP TABLE property_records_010;
DO $$
DECLARE
  j record;
BEGIN
  FOR j IN SELECT id FROM import_jobs WHERE state NOT IN ('receiving', 'processing') LOOP
    PERFORM pf_records_seal(j.id, true);
  END LOOP;
END $$;

-- As in 005_quota.sql, and the segments of the batch's rows are made
-- after the job's row is taken (see the top).
CREATE OR REPLACE FUNCTION pf_batch_begin(p_job bigint, p_gen integer, p_from bigint, p_to bigint,
                                          p_off bigint, p_line bigint, p_cr boolean,
                                          p_parsed bigint, p_inserted bigint, p_rejected bigint,
                                          p_warned bigint, p_raw bigint, p_stored bigint,
                                          p_max_rows bigint, p_margin bigint) RETURNS bigint
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
  IF p_to > p_from THEN
    PERFORM pf_records_segments(p_job, p_from, p_to);
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
