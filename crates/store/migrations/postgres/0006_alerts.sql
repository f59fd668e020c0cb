-- sekimori schema, version 6: alerts raised by the detections.
--
-- One row per alert. Recurrences of the same situation (same dedup_key)
-- while the alert is open or acknowledged aggregate into it: count grows,
-- last_at moves, the evidence is refreshed. A closed alert is never
-- reopened: the next occurrence raises a new one. evidence is JSON
-- (sekimori_types::Evidence): addresses, names, zones, flow summaries and
-- byte counts, never payloads.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL,
    severity    TEXT NOT NULL,
    state       TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    summary     TEXT NOT NULL,
    summary_ja  TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    handled_by  TEXT,
    comment     TEXT
);
CREATE INDEX alerts_key_state ON alerts (dedup_key, state);
CREATE INDEX alerts_state_updated ON alerts (state, updated_at);
CREATE INDEX alerts_updated ON alerts (updated_at);
