-- 008_record_flags.sql: two flags on each record, for the insight API
-- (issue 11). Neither changes a stored value; both are filters.
--  - warned: the row was stored with at least one warning in import_errors
--    (a value it could not read and left empty), set when the row is written.
--  - outlier: why the row looks wrong (an impossible value, or a price per
--    sqft far outside its zip's), NULL when it does not. Impossible values
--    are known when the row is written; the zip test is settled by the market
--    analysis (schema/010_analysis.sql).
-- Both are added with constant defaults: no rewrite of existing rows.
ALTER TABLE property_records
  ADD COLUMN warned  boolean NOT NULL DEFAULT false,
  ADD COLUMN outlier text;

-- Bumped each time an import's market analysis changes (running steps, the
-- final analysis, a reprocess): part of the state a cached read is checked
-- against, with gen and rows_inserted.
ALTER TABLE import_jobs ADD COLUMN analysis_version bigint NOT NULL DEFAULT 0;
