-- 001_init.sql: the import pipeline's tables.
-- Applied once, in a transaction, recorded in schema_migrations.

CREATE TABLE import_jobs (
  id               bigserial PRIMARY KEY,
  name             text NOT NULL,
  state            text NOT NULL DEFAULT 'receiving'
                   CHECK (state IN ('receiving', 'processing', 'done', 'failed', 'interrupted', 'cancelled')),
  bytes_received   bigint NOT NULL DEFAULT 0,
  bytes_total      bigint,                 -- NULL when unknown (chunked upload)
  rows_parsed      bigint NOT NULL DEFAULT 0,
  rows_inserted    bigint NOT NULL DEFAULT 0,
  rows_rejected    bigint NOT NULL DEFAULT 0,
  rows_warned      bigint NOT NULL DEFAULT 0,
  columns          jsonb NOT NULL DEFAULT '[]',
  encoding         text,
  delimiter        text,
  raw_dict         bytea,                  -- LZ4 dictionary for property_raw.data
  raw_bytes        bigint NOT NULL DEFAULT 0, -- raw JSON bytes before compression
  raw_stored_bytes bigint NOT NULL DEFAULT 0, -- after
  owner_pid        int,                    -- pid of the propflow process running the job
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  error            text
);
CREATE INDEX import_jobs_created ON import_jobs (created_at DESC, id DESC);

-- The lightweight, typed, indexed record: what lists, search and analysis read.
CREATE TABLE property_records (
  id            bigserial PRIMARY KEY,
  job_id        bigint NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  row_no        integer NOT NULL,          -- record number in the file, from 1
  line_no       integer NOT NULL,          -- physical line the record starts on
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
CREATE INDEX property_records_keyset ON property_records (job_id, id);
-- what browsing and the coming search filter on most
CREATE INDEX property_records_zip ON property_records (job_id, zip);
CREATE INDEX property_records_price ON property_records (job_id, price);

-- The original row, LZ4-compressed by the server against the job's
-- dictionary, kept apart so property_records stays narrow.
CREATE TABLE property_raw (
  job_id  bigint NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  row_no  integer NOT NULL,
  data    bytea NOT NULL,
  PRIMARY KEY (job_id, row_no)
);

-- Rejected rows and per-value warnings: every row is accounted for.
CREATE TABLE import_errors (
  id          bigserial PRIMARY KEY,
  job_id      bigint NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('rejected', 'warning')),
  row_no      integer NOT NULL,
  line_no     integer NOT NULL,
  column_name text,
  value       text,
  reason      text NOT NULL,
  raw_text    text
);
CREATE INDEX import_errors_keyset ON import_errors (job_id, id);

-- Per-job market analysis, filled by a later issue.
CREATE TABLE property_market_analysis (
  id           bigserial PRIMARY KEY,
  job_id       bigint NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  zip          text,
  property_type text,
  metric       text NOT NULL,
  value        numeric,
  computed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX property_market_analysis_job ON property_market_analysis (job_id, zip);
