-- bench/schema_copy.sql: the baseline tables for the psql \copy comparison (bench/run.sh).
--
-- What a plain loader would build for the same data: the typed columns in a table shaped and indexed
-- like property_records (schema/), and the original row as jsonb in a second table keyed
-- like property_raw. Keep the columns, constraints and indexes in step with schema/: the comparison is
-- only fair while both sides maintain the same indexes and foreign keys.
--
-- Idempotent: drops and recreates everything, so run.sh loads it before every timed run.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

DROP TABLE IF EXISTS bench_raw;
DROP TABLE IF EXISTS bench_records;
DROP TABLE IF EXISTS bench_jobs;

-- Stands in for import_jobs: property_records.job_id references it, so the baseline pays the same
-- foreign-key check per row.
CREATE TABLE bench_jobs (
  id    bigserial PRIMARY KEY,
  name  text NOT NULL
);
INSERT INTO bench_jobs (id, name) VALUES (1, 'baseline');

CREATE TABLE bench_records (
  id            bigserial PRIMARY KEY,
  job_id        bigint NOT NULL REFERENCES bench_jobs (id) ON DELETE CASCADE,
  row_no        integer NOT NULL,
  line_no       integer NOT NULL,
  source_id     text,
  address       text,
  city          text,
  state         text,
  zip           text,
  price         numeric,
  beds          numeric,
  baths         numeric,
  sqft          numeric,
  lot_sqft      numeric,
  year_built    integer,
  property_type text,
  status        text,
  listed_on     date,
  sold_on       date,
  latitude      double precision,
  longitude     double precision,
  UNIQUE (job_id, row_no)
);
-- property_records has no other index since schema/004_paging.sql: pages follow (job_id, gen,
-- row_no), and the id primary key serves single records.

-- The original row, as a plain loader keeps it: jsonb, uncompressed by us (PostgreSQL does not
-- compress values this small either).
CREATE TABLE bench_raw (
  job_id  bigint NOT NULL REFERENCES bench_jobs (id) ON DELETE CASCADE,
  row_no  integer NOT NULL,
  data    jsonb NOT NULL,
  PRIMARY KEY (job_id, row_no)
);
