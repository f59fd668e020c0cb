-- sekimori schema, version 7: advisory reads an assessment makes, index-only.
--
-- advisory_products gets a primary key led by the record
-- (record_key, vendor, product, name), which replaces the index on
-- record_key (dropping a record's filings reads one range of it), and its
-- identity index includes the name, (vendor, product, name, record_key),
-- so both reads of an assessment — the records filed under identities and
-- the names filed under a vendor (name-word matching) — can be answered
-- from the index alone. A record's filings were written once per identity
-- and name, so the copy below drops nothing but exact duplicates.
CREATE TABLE advisory_products_v7 (
    record_key  TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    product     TEXT NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (record_key, vendor, product, name)
);
INSERT INTO advisory_products_v7 (record_key, vendor, product, name)
    SELECT DISTINCT record_key, vendor, product, name FROM advisory_products;
DROP TABLE advisory_products;
ALTER TABLE advisory_products_v7 RENAME TO advisory_products;
ALTER INDEX advisory_products_v7_pkey RENAME TO advisory_products_pkey;
CREATE INDEX advisory_products_identity ON advisory_products (vendor, product, name, record_key);
-- The other records of a finding's CVE (other sources: scores, titles)
-- are found by CVE; with the key and kind in the index that lookup reads
-- no record (a record row fills a page: one page read per CVE before).
DROP INDEX advisory_records_cve;
CREATE INDEX advisory_records_cve ON advisory_records (cve, kind, key);
