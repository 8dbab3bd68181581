-- 010_analysis.sql: the market analysis of each import (issue 11), kept
-- per generation, running while the import runs and exact once it is done.
--
-- Layout: one property_market_state row per (import, gen) says how far the
-- analysis has got (next_row: the first row_no not folded in yet) and
-- whether it is final; property_market_analysis holds one row per group
-- (kind 'all', 'zip', 'city', 'property_type'; a group of rows without the
-- value has key '' and is shown as null); property_market_bins holds the
-- mergeable partial state of every group: counts per bin of each metric.
-- Both hang off the state row (ON DELETE CASCADE), which hangs off the
-- import: deleting an import, or dropping one generation's state (a
-- reprocess that switches or fails: src/jobs/job_row.c), drops them all.
--
-- Bins: year built, days on market and beds are binned by their exact value
-- (their quantiles from bins are exact); price, price per sqft and sqft by a
-- fixed log scale, gamma = 1.01 / 0.99, each bin shown by the value
-- 2 gamma^i / (gamma + 1): every value in bin i is within 1 % of it. While
-- an import runs, a step bins these from an even sample of at most 2,000 of
-- its rows, so a running percentile is the sample's (within 1 %); a small
-- group may have few sampled rows (a value 0 or below is
-- its own bin). status is binned by its text. Running percentiles are read
-- from the bins; the final pass writes the exact ones (percentile_cont).

DROP TABLE property_market_analysis; -- 001's placeholder: never written

CREATE TABLE property_market_state (
  job_id      bigint  NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  gen         integer NOT NULL,
  final       boolean NOT NULL DEFAULT false, -- the exact pass is written
  next_row    bigint  NOT NULL DEFAULT 1,     -- first row_no not in the running state
  as_of_rows  bigint  NOT NULL DEFAULT 0,     -- stored rows folded in
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, gen)
);

CREATE TABLE property_market_analysis (
  job_id       bigint  NOT NULL,
  gen          integer NOT NULL,
  kind         text    NOT NULL CHECK (kind IN ('all', 'zip', 'city', 'property_type')),
  key          text    NOT NULL,              -- '' for 'all' and for rows without the value
  count        bigint  NOT NULL DEFAULT 0,
  price_min    numeric,
  price_max    numeric,
  outliers     bigint  NOT NULL DEFAULT 0,
  -- exact, written by the final pass (NULL while running: read from bins)
  price_p25    double precision,
  price_median double precision,
  price_p75    double precision,
  ppsf_median  double precision,
  sqft_median  double precision,
  year_median  double precision,
  dom_median   double precision,
  PRIMARY KEY (job_id, gen, kind, key),
  FOREIGN KEY (job_id, gen) REFERENCES property_market_state ON DELETE CASCADE
);
-- groups by count descending (the route's order)
CREATE INDEX property_market_analysis_count
  ON property_market_analysis (job_id, gen, kind, count DESC, key);

CREATE TABLE property_market_bins (
  job_id  bigint  NOT NULL,
  gen     integer NOT NULL,
  kind    text    NOT NULL,
  key     text    NOT NULL,
  metric  text    NOT NULL, -- price ppsf sqft year dom beds status
  bin     text    NOT NULL, -- the bin's value (a number as text, or a status)
  n       bigint  NOT NULL,
  PRIMARY KEY (job_id, gen, kind, key, metric, bin),
  FOREIGN KEY (job_id, gen) REFERENCES property_market_state ON DELETE CASCADE
);

-- Why a record's values are impossible, known when it is written (batch.c
-- calls it in the INSERT); NULL when they are not. Placeholder prices are
-- integer limits and runs of nines that exports put where a price is
-- missing: 2147483647, 4294967295, 9999999, 99999999, 999999999, 9999999999.
CREATE FUNCTION pf_record_outlier(p_price numeric, p_sqft numeric, p_year integer) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN p_sqft <= 0 THEN 'sqft is ' || p_sqft
    WHEN p_year > extract(year FROM current_date) THEN 'year built ' || p_year || ' is in the future'
    WHEN p_price IN (2147483647, 4294967295, 9999999, 99999999, 999999999, 9999999999)
      THEN 'price ' || p_price || ' is a placeholder'
  END
$$;

-- The log-scale bin of a positive value, as text (see the top): float8
-- throughout, with ln(gamma) = 0.020000666706669435 and 2 / (gamma + 1) =
-- 0.99 written out, so that a bin costs a few float operations per value.
CREATE FUNCTION pf_bin_log(v double precision) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN v IS NULL THEN NULL
    WHEN v <= 0 THEN v::text
    ELSE round((0.99::float8 * exp(ceil(ln(v) / 0.020000666706669435::float8)
                                   * 0.020000666706669435::float8))::numeric, 2)::text
  END
$$;

-- The reason of a price per sqft outside [q1 - 3 IQR, q3 + 3 IQR] of its
-- zip, or NULL. Reasons of this kind start 'price per sqft ' (the final
-- pass clears and sets them again; impossible values keep theirs).
CREATE FUNCTION pf_ppsf_outlier(p_ppsf numeric, q1 double precision, q3 double precision)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_ppsf < q1 - 3 * (q3 - q1) OR p_ppsf > q3 + 3 * (q3 - q1)
    THEN 'price per sqft ' || round(p_ppsf, 2) || ' is beyond 3 x IQR of its zip ('
         || round((q1 - 3 * (q3 - q1))::numeric, 2) || ' to '
         || round((q3 + 3 * (q3 - q1))::numeric, 2) || ')'
  END
$$;

-- percentile_cont(q) of one group's metric from its bins: exact for bins of
-- exact values, within the bins' error for log-scale ones.
CREATE FUNCTION pf_bins_quantile(p_job bigint, p_gen integer, p_kind text, p_key text,
                                 p_metric text, p_q double precision)
RETURNS double precision LANGUAGE plpgsql STABLE AS $$
DECLARE
  total bigint;
  h double precision;
  lo bigint;
  frac double precision;
  cum bigint := 0;
  v_lo double precision;
  have_lo boolean := false;
  r record;
BEGIN
  SELECT sum(n) INTO total FROM property_market_bins
   WHERE job_id = p_job AND gen = p_gen AND kind = p_kind AND key = p_key AND metric = p_metric;
  IF total IS NULL OR total = 0 THEN
    RETURN NULL;
  END IF;
  h := p_q * (total - 1);
  lo := floor(h);
  frac := h - lo;
  FOR r IN SELECT bin::float8 AS v, n FROM property_market_bins
            WHERE job_id = p_job AND gen = p_gen AND kind = p_kind AND key = p_key
              AND metric = p_metric ORDER BY bin::float8 LOOP
    IF have_lo THEN
      RETURN v_lo + (r.v - v_lo) * frac;
    END IF;
    IF lo < cum + r.n THEN
      v_lo := r.v;
      have_lo := true;
      IF frac = 0 OR lo + 1 < cum + r.n THEN
        RETURN v_lo;
      END IF;
    END IF;
    cum := cum + r.n;
  END LOOP;
  RETURN v_lo;
END $$;

-- One step of a running analysis of import p_job: folds the rows stored
-- since the last step (at most p_max of them, by row_no over the
-- (job_id, gen, row_no) index) into the bins and groups of work_gen (the
-- quantile metrics from a sample of them), and moves next_row. Rows below next_record are committed (a batch moves
-- next_record with its rows), so a step never sees half a batch; the state
-- row is locked first, so that two steps (or a step and the final pass) of
-- one import run one after the other. Returns the rows folded in and the
-- analysis_version (NULL when nothing was new).
CREATE FUNCTION pf_analysis_step(p_job bigint, p_max bigint,
                                 OUT folded bigint, OUT as_of bigint, OUT version bigint,
                                 OUT more boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_gen integer;
  v_vis integer;
  v_next bigint;
  v_from bigint;
  v_to bigint;
  v_final boolean;
  v_stride bigint;
BEGIN
  more := false;
  -- KEY SHARE on the job first: a delete (which locks the job, then
  -- cascades to the state and bins this step writes) waits for the step
  -- instead of deadlocking with its last UPDATE of the job; the import's
  -- batches (non-key updates of the job) are not held up
  SELECT work_gen, gen, next_record INTO v_gen, v_vis, v_next
    FROM import_jobs WHERE id = p_job AND state IN ('receiving', 'processing', 'done')
     FOR KEY SHARE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  INSERT INTO property_market_state (job_id, gen) VALUES (p_job, v_gen) ON CONFLICT DO NOTHING;
  SELECT next_row, final INTO v_from, v_final FROM property_market_state
   WHERE job_id = p_job AND gen = v_gen FOR UPDATE;
  IF v_final OR v_from >= v_next THEN
    RETURN;
  END IF;
  v_to := LEAST(v_next, v_from + p_max);
  more := v_to < v_next;

  -- bins per group of each kind: the mixes (beds, status) of every row,
  -- the quantile metrics of a sample of at most 2,000 rows a step, evenly
  -- spread over its rows (each metric x grouping is an upsert per row:
  -- binning every row cost the import several times its own time at 300K
  -- rows); the final pass is exact whatever the sample
  v_stride := greatest(1, ceil((v_to - v_from) / 2000.0))::bigint;
  INSERT INTO property_market_bins AS t (job_id, gen, kind, key, metric, bin, n)
  SELECT p_job, v_gen,
         CASE WHEN GROUPING(r.zip) = 0 THEN 'zip' WHEN GROUPING(r.city) = 0 THEN 'city'
              WHEN GROUPING(r.property_type) = 0 THEN 'property_type' ELSE 'all' END,
         coalesce(CASE WHEN GROUPING(r.zip) = 0 THEN r.zip WHEN GROUPING(r.city) = 0 THEN r.city
                       WHEN GROUPING(r.property_type) = 0 THEN r.property_type END, ''),
         m.metric, m.bin, count(*)
    FROM property_records r
   CROSS JOIN LATERAL (VALUES ('beds', trim_scale(r.beds)::text, true),
                              ('status', r.status, true),
                              ('price', pf_bin_log(r.price::float8), false),
                              ('ppsf', pf_bin_log(r.price::float8 / nullif(r.sqft::float8, 0)), false),
                              ('sqft', pf_bin_log(r.sqft::float8), false),
                              ('year', r.year_built::text, false),
                              ('dom', (r.sold_on - r.listed_on)::text, false))
         AS m (metric, bin, every)
   WHERE r.job_id = p_job AND r.gen = v_gen AND r.row_no >= v_from AND r.row_no < v_to
     AND m.bin IS NOT NULL AND (m.every OR (r.row_no - v_from) % v_stride = 0)
   GROUP BY GROUPING SETS ((m.metric, m.bin), (r.zip, m.metric, m.bin),
                           (r.city, m.metric, m.bin), (r.property_type, m.metric, m.bin))
  ON CONFLICT (job_id, gen, kind, key, metric, bin) DO UPDATE SET n = t.n + excluded.n;

  -- price-per-sqft outliers are settled by the final pass only: an UPDATE
  -- of rows while the import writes its batches moves each row (and its
  -- entries in every index); impossible values are flagged as rows arrive

  -- the groups' counts, price range and outliers
  INSERT INTO property_market_analysis AS t (job_id, gen, kind, key, count, price_min,
                                             price_max, outliers)
  SELECT p_job, v_gen,
         CASE WHEN GROUPING(zip) = 0 THEN 'zip' WHEN GROUPING(city) = 0 THEN 'city'
              WHEN GROUPING(property_type) = 0 THEN 'property_type' ELSE 'all' END,
         coalesce(CASE WHEN GROUPING(zip) = 0 THEN zip WHEN GROUPING(city) = 0 THEN city
                       WHEN GROUPING(property_type) = 0 THEN property_type END, ''),
         count(*), min(price), max(price), count(outlier)
    FROM property_records
   WHERE job_id = p_job AND gen = v_gen AND row_no >= v_from AND row_no < v_to
   GROUP BY GROUPING SETS ((), (zip), (city), (property_type))
  ON CONFLICT (job_id, gen, kind, key) DO UPDATE
     SET count = t.count + excluded.count,
         price_min = LEAST(t.price_min, excluded.price_min),
         price_max = GREATEST(t.price_max, excluded.price_max),
         outliers = t.outliers + excluded.outliers;

  SELECT count INTO folded FROM property_market_analysis
   WHERE job_id = p_job AND gen = v_gen AND kind = 'all' AND key = '';
  -- rows folded in by this step: the 'all' count before and after
  UPDATE property_market_state SET next_row = v_to, as_of_rows = coalesce(folded, 0),
         updated_at = now()
   WHERE job_id = p_job AND gen = v_gen
  RETURNING as_of_rows INTO as_of;
  -- last, so that the job's row is locked only until the commit: a batch
  -- of the import waits for it at most that long
  UPDATE import_jobs SET analysis_version = analysis_version + 1
   WHERE id = p_job AND v_gen = v_vis
  RETURNING analysis_version INTO version;
  folded := v_to - v_from;
END $$;

-- The exact analysis of a done import's visible generation: the outlier
-- flags of price per sqft settled against each zip's exact quartiles (groups
-- of at least 10 rows with a price per sqft), then, in one pass per kind of
-- grouping (GROUPING SETS), count, price min/max and percentile_cont
-- quartiles, the medians, and the beds and status mixes; the running state
-- is replaced. Returns the new analysis_version, or NULL when there was
-- nothing to do (not done, already final, or another session is at it).
CREATE FUNCTION pf_analysis_final(p_job bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_gen integer;
  v_final boolean;
  v_rows bigint;
  v_version bigint;
  c record;
BEGIN
  IF NOT pg_try_advisory_xact_lock(3, (p_job % 2147483647)::integer) THEN
    RETURN NULL;
  END IF;
  -- the job's row first (a done import has no batches to hold up): a
  -- delete or a reprocess waits for the pass instead of deadlocking with its
  -- row updates and its last UPDATE of the job
  SELECT gen INTO v_gen FROM import_jobs WHERE id = p_job AND state = 'done'
     FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO property_market_state (job_id, gen) VALUES (p_job, v_gen) ON CONFLICT DO NOTHING;
  SELECT final INTO v_final FROM property_market_state
   WHERE job_id = p_job AND gen = v_gen FOR UPDATE;
  IF v_final THEN
    RETURN NULL;
  END IF;

  -- the rows whose flag changes, then one update by the row index each: a
  -- join of the whole import to itself, planned without statistics (every
  -- new import), could be a nested loop of rows x rows
  FOR c IN
    WITH q AS MATERIALIZED (
      SELECT zip, percentile_cont(0.25) WITHIN GROUP (ORDER BY price / sqft) AS q1,
             percentile_cont(0.75) WITHIN GROUP (ORDER BY price / sqft) AS q3
        FROM property_records
       WHERE job_id = p_job AND gen = v_gen AND zip IS NOT NULL AND sqft > 0
         AND price IS NOT NULL
       GROUP BY zip HAVING count(*) >= 10)
    SELECT f.row_no, f.why FROM (
      SELECT r.row_no, r.outlier,
             CASE WHEN r.sqft > 0 THEN pf_ppsf_outlier(r.price / r.sqft, q.q1, q.q3) END AS why
        FROM property_records r LEFT JOIN q ON q.zip = r.zip
       WHERE r.job_id = p_job AND r.gen = v_gen
         AND (r.outlier IS NULL OR r.outlier LIKE 'price per sqft %')) f
     WHERE f.outlier IS DISTINCT FROM f.why
  LOOP
    UPDATE property_records SET outlier = c.why
     WHERE job_id = p_job AND gen = v_gen AND row_no = c.row_no;
  END LOOP;

  DELETE FROM property_market_analysis WHERE job_id = p_job AND gen = v_gen;
  DELETE FROM property_market_bins WHERE job_id = p_job AND gen = v_gen;

  INSERT INTO property_market_analysis (job_id, gen, kind, key, count, price_min, price_max,
                                        outliers, price_p25, price_median, price_p75,
                                        ppsf_median, sqft_median, year_median, dom_median)
  SELECT p_job, v_gen,
         CASE WHEN GROUPING(zip) = 0 THEN 'zip' WHEN GROUPING(city) = 0 THEN 'city'
              WHEN GROUPING(property_type) = 0 THEN 'property_type' ELSE 'all' END,
         coalesce(CASE WHEN GROUPING(zip) = 0 THEN zip WHEN GROUPING(city) = 0 THEN city
                       WHEN GROUPING(property_type) = 0 THEN property_type END, ''),
         count(*), min(price), max(price), count(outlier),
         percentile_cont(0.25) WITHIN GROUP (ORDER BY price),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY price),
         percentile_cont(0.75) WITHIN GROUP (ORDER BY price),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY price / nullif(sqft, 0)),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY sqft),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY year_built),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY sold_on - listed_on)
    FROM property_records
   WHERE job_id = p_job AND gen = v_gen
   GROUP BY GROUPING SETS ((), (zip), (city), (property_type));

  -- the mixes, as exact bins
  INSERT INTO property_market_bins (job_id, gen, kind, key, metric, bin, n)
  SELECT p_job, v_gen,
         CASE WHEN GROUPING(r.zip) = 0 THEN 'zip' WHEN GROUPING(r.city) = 0 THEN 'city'
              WHEN GROUPING(r.property_type) = 0 THEN 'property_type' ELSE 'all' END,
         coalesce(CASE WHEN GROUPING(r.zip) = 0 THEN r.zip WHEN GROUPING(r.city) = 0 THEN r.city
                       WHEN GROUPING(r.property_type) = 0 THEN r.property_type END, ''),
         m.metric, m.bin, count(*)
    FROM property_records r
   CROSS JOIN LATERAL (VALUES ('beds', trim_scale(r.beds)::text), ('status', r.status))
         AS m (metric, bin)
   WHERE r.job_id = p_job AND r.gen = v_gen AND m.bin IS NOT NULL
   GROUP BY GROUPING SETS ((m.metric, m.bin), (r.zip, m.metric, m.bin),
                           (r.city, m.metric, m.bin), (r.property_type, m.metric, m.bin));

  SELECT count INTO v_rows FROM property_market_analysis
   WHERE job_id = p_job AND gen = v_gen AND kind = 'all' AND key = '';
  UPDATE property_market_state SET final = true, as_of_rows = coalesce(v_rows, 0),
         updated_at = now()
   WHERE job_id = p_job AND gen = v_gen;
  UPDATE import_jobs SET analysis_version = analysis_version + 1 WHERE id = p_job
  RETURNING analysis_version INTO v_version;
  RETURN v_version;
END $$;

-- The groups of one kind of an import's visible generation, by count
-- descending, at most p_limit; the caller checked that the import is the
-- user's. Final: the exact columns; running: percentiles from the bins.
CREATE FUNCTION pf_analysis_groups(p_job bigint, p_gen integer, p_kind text, p_limit integer)
RETURNS TABLE (key text, count bigint, price_min numeric, price_p25 double precision,
               price_median double precision, price_p75 double precision,
               price_max numeric, ppsf_median double precision, sqft_median double precision,
               year_median double precision, dom_median double precision, beds jsonb,
               status jsonb, outliers bigint)
LANGUAGE sql STABLE AS $$
  SELECT g.key, g.count, g.price_min,
         CASE WHEN s.final THEN g.price_p25
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'price', 0.25) END,
         CASE WHEN s.final THEN g.price_median
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'price', 0.5) END,
         CASE WHEN s.final THEN g.price_p75
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'price', 0.75) END,
         g.price_max,
         CASE WHEN s.final THEN g.ppsf_median
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'ppsf', 0.5) END,
         CASE WHEN s.final THEN g.sqft_median
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'sqft', 0.5) END,
         CASE WHEN s.final THEN g.year_median
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'year', 0.5) END,
         CASE WHEN s.final THEN g.dom_median
              ELSE pf_bins_quantile(p_job, p_gen, p_kind, g.key, 'dom', 0.5) END,
         (SELECT coalesce(jsonb_object_agg(b.bin, b.n), '{}') FROM property_market_bins b
           WHERE b.job_id = p_job AND b.gen = p_gen AND b.kind = p_kind AND b.key = g.key
             AND b.metric = 'beds'),
         (SELECT coalesce(jsonb_object_agg(b.bin, b.n), '{}') FROM property_market_bins b
           WHERE b.job_id = p_job AND b.gen = p_gen AND b.kind = p_kind AND b.key = g.key
             AND b.metric = 'status'),
         g.outliers
    FROM property_market_state s
    JOIN LATERAL (SELECT * FROM property_market_analysis a
                   WHERE a.job_id = p_job AND a.gen = p_gen AND a.kind = p_kind
                   ORDER BY a.count DESC, a.key LIMIT p_limit) g ON true
   WHERE s.job_id = p_job AND s.gen = p_gen
   ORDER BY g.count DESC, g.key
$$;
