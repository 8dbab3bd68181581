-- 009_search.sql: the sorts of property records (issue 11).
--
-- Each sort's order for one import at its generation; NULLs sort last (the
-- page reads them apart, in row order). Expressions as in api/query.c.
-- Search (q) has no column and no index: api/query.c matches each word
-- against the record's address, city, zip and source id as it walks one of
-- these indexes, so that it costs the import nothing. A GIN trigram index
-- over a stored search text was measured at +50-70 % of an import's time on
-- top of these (bench/README.md, issue 11).
CREATE INDEX property_records_price ON property_records (job_id, gen, price, row_no);
CREATE INDEX property_records_sqft ON property_records (job_id, gen, sqft, row_no);
CREATE INDEX property_records_year ON property_records (job_id, gen, year_built, row_no);
CREATE INDEX property_records_listed ON property_records (job_id, gen, listed_on, row_no);
CREATE INDEX property_records_ppsf ON property_records
  (job_id, gen, (price / NULLIF(sqft, 0)), row_no);
