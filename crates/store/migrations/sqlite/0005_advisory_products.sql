-- sekimori schema, version 5: where each advisory record is filed, so an
-- assessment reads only the records its assets can match instead of all of
-- them (300,000 records: seconds and gigabytes on every run otherwise).
--
-- advisory_products: one row per product identity a vulnerability record
-- is filed under (vendor and product as the alias table normalises them),
-- with the product as the record writes it (`name`, the words name-word
-- matching ties on). The identities depend on the alias table:
-- advisory_records.keyed_with is the fingerprint of the table they were
-- made with; NULL (records imported before this version) or another
-- fingerprint means "not filed": an assessment then reads those records
-- whole, and the next import files them again.
ALTER TABLE advisory_records ADD COLUMN source TEXT;
ALTER TABLE advisory_records ADD COLUMN keyed_with TEXT;
UPDATE advisory_records SET source = substr(key, 1, instr(key, ':') - 1);
CREATE INDEX advisory_records_source ON advisory_records (kind, source);
CREATE INDEX advisory_records_keyed ON advisory_records (kind, keyed_with);
CREATE TABLE advisory_products (
    record_key  TEXT NOT NULL,
    vendor      TEXT NOT NULL,
    product     TEXT NOT NULL,
    name        TEXT NOT NULL
);
-- Covering: finding the records of identities reads this index only.
CREATE INDEX advisory_products_identity ON advisory_products (vendor, product, record_key);
CREATE INDEX advisory_products_record ON advisory_products (record_key);
