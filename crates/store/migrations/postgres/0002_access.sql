-- sekimori schema, version 2 (PostgreSQL): the access broker. Keep in step with ../sqlite/.
-- Same portable types as version 1. Request and tunnel history outlives the
-- assets it names: there is no foreign key to `assets`, and the asset's name
-- is copied into each row.

ALTER TABLE assets ADD COLUMN record_sessions BIGINT NOT NULL DEFAULT 1
    CHECK (record_sessions IN (0, 1));
ALTER TABLE assets ADD COLUMN approvals_required BIGINT NOT NULL DEFAULT 1
    CHECK (approvals_required IN (1, 2));
ALTER TABLE assets ADD COLUMN approver_department TEXT;

-- One row per request; once approved it is the grant. `ports` is a comma
-- list in the order asked for. Only `state` is stored: scheduled, active and
-- past-window are read off the clock.
CREATE TABLE access_requests (
    id                 TEXT PRIMARY KEY NOT NULL,
    requester_id       TEXT NOT NULL REFERENCES users (id),
    company            TEXT,
    asset_id           TEXT NOT NULL,
    asset_name         TEXT NOT NULL,
    ports              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    requested_start    BIGINT,
    duration_minutes   BIGINT NOT NULL CHECK (duration_minutes > 0),
    state              TEXT NOT NULL
        CHECK (state IN ('pending', 'approved', 'denied', 'cancelled', 'revoked', 'expired')),
    approvals_required BIGINT NOT NULL CHECK (approvals_required IN (1, 2)),
    window_start       BIGINT,
    window_end         BIGINT,
    decided_by         TEXT REFERENCES users (id),
    decision_note      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX access_requests_requester ON access_requests (requester_id, created_at);
CREATE INDEX access_requests_state ON access_requests (state, created_at);
CREATE INDEX access_requests_asset ON access_requests (asset_id, created_at);

-- Distinct approvals of a request (two-person rule): one per approver.
CREATE TABLE access_approvals (
    request_id  TEXT NOT NULL REFERENCES access_requests (id) ON DELETE CASCADE,
    approver_id TEXT NOT NULL REFERENCES users (id),
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver_id)
);

-- Client public keys bound to a login session; they go when it is purged.
CREATE TABLE tunnel_credentials (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tunnel_credentials_session ON tunnel_credentials (session_id);
CREATE INDEX tunnel_credentials_user ON tunnel_credentials (user_id);

-- One row per tunnelled connection: the record of who reached what, kept
-- after its credential and asset are gone (hence no foreign keys to them).
-- `recording_*` are all set or all NULL (set on close when recorded).
CREATE TABLE tunnel_sessions (
    id                       TEXT PRIMARY KEY NOT NULL,
    request_id               TEXT NOT NULL REFERENCES access_requests (id),
    user_id                  TEXT NOT NULL REFERENCES users (id),
    username                 TEXT NOT NULL,
    company                  TEXT,
    credential_id            TEXT NOT NULL,
    asset_id                 TEXT NOT NULL,
    asset_name               TEXT NOT NULL,
    port                     BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    client_addr              TEXT NOT NULL,
    target_addr              TEXT NOT NULL,
    started_at               BIGINT NOT NULL,
    ended_at                 BIGINT,
    bytes_up                 BIGINT NOT NULL DEFAULT 0,
    bytes_down               BIGINT NOT NULL DEFAULT 0,
    close_reason             TEXT CHECK (close_reason IN ('client', 'target', 'revoked',
        'expired', 'user_locked', 'killed', 'shutdown', 'recording_failed', 'error',
        'interrupted')),
    recorded                 BIGINT NOT NULL CHECK (recorded IN (0, 1)),
    recording_file           TEXT,
    recording_file_bytes     BIGINT,
    recording_sha256         TEXT,
    recording_recorded_bytes BIGINT,
    recording_truncated      BIGINT CHECK (recording_truncated IN (0, 1))
);
-- Live sessions (the gateway's kill list, crash recovery at start).
CREATE INDEX tunnel_sessions_live ON tunnel_sessions (started_at) WHERE ended_at IS NULL;
CREATE INDEX tunnel_sessions_request ON tunnel_sessions (request_id, started_at);
CREATE INDEX tunnel_sessions_user ON tunnel_sessions (user_id, started_at);
CREATE INDEX tunnel_sessions_started ON tunnel_sessions (started_at);
