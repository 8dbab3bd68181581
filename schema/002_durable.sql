-- 002_durable.sql: nothing lost, whatever fails.
--  - The uploaded file itself is kept, LZ4-compressed in chunks, so that any
--    propflow process can resume or reprocess a job.
--  - Each batch of rows commits the parse position with it, and applies only
--    when the job stands exactly where the batch starts (compare and set):
--    a retried or stale batch can never be stored twice.
--  - Rows carry a generation: a reprocess writes the next one while readers
--    keep seeing the current one, and the switch is one UPDATE.

ALTER TABLE import_jobs
  ADD COLUMN bytes_durable    bigint  NOT NULL DEFAULT 0,     -- contiguous bytes in import_chunks
  ADD COLUMN input_complete   boolean NOT NULL DEFAULT false, -- the last byte is among them
  ADD COLUMN resumable        boolean NOT NULL DEFAULT false, -- a tus upload: may continue later
  ADD COLUMN next_record      bigint  NOT NULL DEFAULT 1,     -- next data record to store
  ADD COLUMN next_offset      bigint  NOT NULL DEFAULT 0,     -- byte just after the last stored record
  ADD COLUMN next_line        bigint  NOT NULL DEFAULT 1,     -- physical line at next_offset
  ADD COLUMN next_cr          boolean NOT NULL DEFAULT false, -- the byte before next_offset is a CR
  ADD COLUMN shape            jsonb,                          -- header and date orders of work_gen
  ADD COLUMN mapping_override jsonb,                          -- {"header": "field" | null}
  ADD COLUMN work_raw_dict    bytea,                          -- dictionary of work_gen's raw rows
  ADD COLUMN gen              integer NOT NULL DEFAULT 0,     -- generation readers see
  ADD COLUMN work_gen         integer NOT NULL DEFAULT 0;     -- generation being written
UPDATE import_jobs SET work_raw_dict = raw_dict;

CREATE TABLE import_chunks (
  job_id      bigint  NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
  byte_offset bigint  NOT NULL,
  raw_len     integer NOT NULL,
  data        bytea   NOT NULL, -- one LZ4 block of raw_len bytes
  PRIMARY KEY (job_id, byte_offset)
);
-- already compressed: PostgreSQL need not try again
ALTER TABLE import_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

ALTER TABLE property_records ADD COLUMN gen integer NOT NULL DEFAULT 0;
ALTER TABLE property_records DROP CONSTRAINT property_records_job_id_row_no_key;
ALTER TABLE property_records ADD CONSTRAINT property_records_row UNIQUE (job_id, gen, row_no);
DROP INDEX property_records_keyset;
DROP INDEX property_records_zip;
DROP INDEX property_records_price;
CREATE INDEX property_records_keyset ON property_records (job_id, gen, id);
CREATE INDEX property_records_zip ON property_records (job_id, gen, zip);
CREATE INDEX property_records_price ON property_records (job_id, gen, price);

ALTER TABLE property_raw ADD COLUMN gen integer NOT NULL DEFAULT 0;
ALTER TABLE property_raw DROP CONSTRAINT property_raw_pkey;
ALTER TABLE property_raw ADD PRIMARY KEY (job_id, gen, row_no);

ALTER TABLE import_errors ADD COLUMN gen integer NOT NULL DEFAULT 0;
DROP INDEX import_errors_keyset;
CREATE INDEX import_errors_keyset ON import_errors (job_id, gen, id);

-- Appends one chunk of the upload; only at the end of the durable bytes.
CREATE FUNCTION pf_chunk_put(p_job bigint, p_off bigint, p_len integer, p_data bytea,
                             p_final boolean) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  d bigint;
BEGIN
  UPDATE import_jobs
     SET bytes_durable = p_off + p_len,
         bytes_received = GREATEST(bytes_received, p_off + p_len),
         input_complete = p_final,
         state = CASE WHEN p_final THEN 'processing' ELSE state END,
         updated_at = now()
   WHERE id = p_job AND bytes_durable = p_off AND NOT input_complete
     AND state IN ('receiving', 'processing')
  RETURNING bytes_durable INTO d;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PF001', MESSAGE = 'chunk out of place';
  END IF;
  IF p_len > 0 THEN
    INSERT INTO import_chunks (job_id, byte_offset, raw_len, data)
    VALUES (p_job, p_off, p_len, p_data);
  END IF;
  RETURN d;
END $$;

-- First statement of every batch: moves the position and the counters, or
-- raises (and so aborts the batch's transaction) unless the job stands
-- exactly at p_from, in the generation being written, with the bytes the
-- batch was read from already durable.
CREATE FUNCTION pf_batch_begin(p_job bigint, p_gen integer, p_from bigint, p_to bigint,
                               p_off bigint, p_line bigint, p_cr boolean, p_parsed bigint,
                               p_inserted bigint, p_rejected bigint, p_warned bigint,
                               p_raw bigint, p_stored bigint) RETURNS void
LANGUAGE plpgsql AS $$
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
     AND bytes_durable >= p_off AND state IN ('receiving', 'processing');
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PF001', MESSAGE = 'batch out of place';
  END IF;
END $$;

-- The shape of work_gen (header, date orders, dictionary), once, before
-- its first batch; the position moves past the header.
CREATE FUNCTION pf_shape_put(p_job bigint, p_gen integer, p_columns jsonb, p_encoding text,
                             p_delimiter text, p_dict bytea, p_shape jsonb, p_off bigint,
                             p_line bigint, p_cr boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE import_jobs
     SET columns = p_columns, encoding = p_encoding, delimiter = p_delimiter,
         work_raw_dict = p_dict,
         raw_dict = CASE WHEN gen = work_gen THEN p_dict ELSE raw_dict END,
         shape = p_shape, next_offset = p_off, next_line = p_line, next_cr = p_cr,
         updated_at = now()
   WHERE id = p_job AND work_gen = p_gen AND next_record = 1 AND shape IS NULL
     AND state IN ('receiving', 'processing');
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PF001', MESSAGE = 'shape out of place';
  END IF;
END $$;
