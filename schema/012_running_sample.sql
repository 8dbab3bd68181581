-- 012_running_sample.sql: a running import's analysis step samples the
-- groups' mixes too (issue 11's ingest budget).
--
-- As in 010_analysis.sql, but the beds and status counts per zip, city and
-- property type come from the step's sample (each sampled row counting for
-- the stride it stands for), like the quantile bins; only the whole
-- import's mixes count every row. A step over 50,000 rows of a 300K-row
-- import took 2.5 s, most of it upserting two mixes per zip for every row
-- (15,000 zips: 24,000 bins a step); a running analysis is an estimate
-- until the final pass, which recounts every row exactly. (Planned per run,
-- for its import's segments: see 011_segments.sql.)
CREATE OR REPLACE FUNCTION pf_analysis_step(p_job bigint, p_max bigint,
                                 OUT folded bigint, OUT as_of bigint, OUT version bigint,
                                 OUT more boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
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

  -- bins per group of each kind. The mixes (beds, status) of the whole
  -- import count every row; everything else, the groups' mixes included,
  -- comes from an even sample of at most 2,000 rows a step, each standing
  -- for v_stride rows (a step's cost is its rows' counts and the sample:
  -- binning two mixes of every row per zip cost a 300K-row import 2.5 s a
  -- step, measured); the final pass is exact whatever the sample
  v_stride := greatest(1, ceil((v_to - v_from) / 2000.0))::bigint;
  INSERT INTO property_market_bins AS t (job_id, gen, kind, key, metric, bin, n)
  SELECT p_job, v_gen, 'all', '', m.metric, m.bin, count(*)
    FROM property_records r
   CROSS JOIN LATERAL (VALUES ('beds', trim_scale(r.beds)::text), ('status', r.status))
         AS m (metric, bin)
   WHERE r.job_id = p_job AND r.gen = v_gen AND r.row_no >= v_from AND r.row_no < v_to
     AND m.bin IS NOT NULL
   GROUP BY m.metric, m.bin
  ON CONFLICT (job_id, gen, kind, key, metric, bin) DO UPDATE SET n = t.n + excluded.n;
  INSERT INTO property_market_bins AS t (job_id, gen, kind, key, metric, bin, n)
  SELECT * FROM (
    SELECT p_job, v_gen,
           CASE WHEN GROUPING(r.zip) = 0 THEN 'zip' WHEN GROUPING(r.city) = 0 THEN 'city'
                WHEN GROUPING(r.property_type) = 0 THEN 'property_type' ELSE 'all' END AS kind,
           coalesce(CASE WHEN GROUPING(r.zip) = 0 THEN r.zip WHEN GROUPING(r.city) = 0 THEN r.city
                         WHEN GROUPING(r.property_type) = 0 THEN r.property_type END, ''),
           m.metric, m.bin, count(*) * v_stride
      FROM property_records r
     CROSS JOIN LATERAL (VALUES ('beds', trim_scale(r.beds)::text),
                                ('status', r.status),
                                ('price', pf_bin_log(r.price::float8)),
                                ('ppsf', pf_bin_log(r.price::float8 / nullif(r.sqft::float8, 0))),
                                ('sqft', pf_bin_log(r.sqft::float8)),
                                ('year', r.year_built::text),
                                ('dom', (r.sold_on - r.listed_on)::text))
           AS m (metric, bin)
     WHERE r.job_id = p_job AND r.gen = v_gen AND r.row_no >= v_from AND r.row_no < v_to
       AND (r.row_no - v_from) % v_stride = 0 AND m.bin IS NOT NULL
     GROUP BY GROUPING SETS ((m.metric, m.bin), (r.zip, m.metric, m.bin),
                             (r.city, m.metric, m.bin), (r.property_type, m.metric, m.bin))) s
   WHERE NOT (s.kind = 'all' AND s.metric IN ('beds', 'status'))
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
