-- sekimori schema, version 7: advisory reads an assessment makes, index-only.
--
-- advisory_products becomes a WITHOUT ROWID table keyed by the record
-- first (record_key, vendor, product, name): dropping a record's filings
-- reads one range of it, with no separate index on record_key and no
-- rowid table beside it (one B-tree fewer to write per filing on import).
-- Its one index, (vendor, product, name) — each entry also holding the
-- record key — answers both reads of an assessment from the index alone:
-- the records filed under identities, and the names filed under a vendor
-- (name-word matching; before, every filing row of the vendor was visited
-- for its name: half a second per vendor on 300,000 records).
-- A record's filings were written once per identity and name, so the
-- copy below drops nothing but exact duplicates.
CREATE TABLE advisory_products_v7 (
    record_key  TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    product     TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (record_key, vendor, product, name)
) WITHOUT ROWID;
INSERT INTO advisory_products_v7 (record_key, vendor, product, name)
    SELECT DISTINCT record_key, vendor, product, name FROM advisory_products;
DROP TABLE advisory_products;
ALTER TABLE advisory_products_v7 RENAME TO advisory_products;
CREATE INDEX advisory_products_identity ON advisory_products (vendor, product, name);
-- The other records of a finding's CVE (other sources: scores, titles)
-- are found by CVE; with the key and kind in the index that lookup reads
-- no record (a record row fills a page: one page read per CVE before).
DROP INDEX advisory_records_cve;
CREATE INDEX advisory_records_cve ON advisory_records (cve, kind, key);
