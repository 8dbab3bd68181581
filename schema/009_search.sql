-- 009_search.sql: search, filters and sorts of property records (issue 11).
--
-- Search text: " " then address, city, zip and source id, lower case, every
-- run of other characters one space (api/query.c matches each word of q at
-- the start of a word of it, give or take one letter, with a regular
-- expression or LIKE that pg_trgm answers from the GIN index). A stored
-- generated column: written with the row, never by the server.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE property_records
  ADD COLUMN search_text text GENERATED ALWAYS AS (
    ' ' || regexp_replace(lower(coalesce(address, '') || ' ' || coalesce(city, '') || ' ' ||
                                coalesce(zip, '') || ' ' || coalesce(source_id, '')),
                          '[^[:alnum:]]+', ' ', 'g')) STORED;

-- One GIN trigram index over every job: a GIN index cannot yield a job's
-- rows in order anyway, and the planner combines it with a sort index of
-- the job (BitmapAnd) or filters a walk of that index with it. fastupdate
-- with a large pending list puts the trigram work of an import's inserts
-- off to autovacuum, or to the import's end (gin_clean_pending_list).
CREATE INDEX property_records_search ON property_records
  USING gin (search_text gin_trgm_ops) WITH (fastupdate = on, gin_pending_list_limit = 65536);

-- Each sort's order for one import at its generation; NULLs sort last
-- (the page reads them apart, in row order). Expressions as in query.c.
CREATE INDEX property_records_price ON property_records (job_id, gen, price, row_no);
CREATE INDEX property_records_sqft ON property_records (job_id, gen, sqft, row_no);
CREATE INDEX property_records_year ON property_records (job_id, gen, year_built, row_no);
CREATE INDEX property_records_listed ON property_records (job_id, gen, listed_on, row_no);
CREATE INDEX property_records_ppsf ON property_records
  (job_id, gen, (price / NULLIF(sqft, 0)), row_no);
