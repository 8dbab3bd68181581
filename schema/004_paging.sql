-- 004_paging.sql: pages of records follow the file's row order, through the
-- one index that both finds a job's rows and orders them.
--
-- Until now a page was `job_id = $1 AND gen = g AND id > $2 ORDER BY id`
-- over (job_id, gen, id), with (job_id, gen, zip) and (job_id, gen, price)
-- beside it. While property_records has no statistics for the job being
-- read (a table never analysed, or a job newer than the last ANALYZE, as
-- every running import is), the planner expects one row for the job, and a
-- sort of one row is free: it may then take the smaller zip index and sort
-- the whole job for every page (measured: 50-70 ms per page of a 30K-row
-- job instead of 0.1 ms, growing with the job). Paging by row_no over the
-- unique (job_id, gen, row_no) index leaves it no cheaper path, with or
-- without statistics, and gives the rows in file order, which ids from
-- several writer connections need not follow.
--
-- zip and price were never queried; each cost an index insert per row.
-- Search and market analysis will add the indexes their queries need.
DROP INDEX property_records_keyset;
DROP INDEX property_records_zip;
DROP INDEX property_records_price;

-- Errors page by id within (job_id, gen). With statistics for the job, the
-- planner may instead walk the id primary key from the cursor and filter on
-- the job, reading every other job's errors in between. The errors of a job
-- are only ever read per job, so (job_id, gen, id) becomes the primary key
-- and the id-only index goes: no path but the right one, one index less.
ALTER TABLE import_errors DROP CONSTRAINT import_errors_pkey;
DROP INDEX import_errors_keyset;
ALTER TABLE import_errors ADD PRIMARY KEY (job_id, gen, id);
