-- sekimori schema, version 4: imported advisory feeds (CISA KEV, CVE JSON 5,
-- NVD, CSAF, OSV, EPSS), normalised by sekimori-assess. One row per record,
-- keyed by source and ID (`cve5:CVE-2024-3400`, `kev:CVE-2024-3400`,
-- `csaf:ICSMA-22-167-01:CVE-2022-26388`), so a re-import replaces a record
-- instead of adding it; `digest` (SHA-256 of `body`) tells an unchanged
-- record from an updated one.
CREATE TABLE advisory_records (
    key          TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    cve          TEXT NOT NULL,
    digest       TEXT NOT NULL,
    body         TEXT NOT NULL,
    imported_at  BIGINT NOT NULL
);
CREATE INDEX advisory_records_cve ON advisory_records (cve);
CREATE INDEX advisory_records_kind ON advisory_records (kind);
