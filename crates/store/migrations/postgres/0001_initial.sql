-- sekimori schema, version 1 (PostgreSQL). Keep in step with ../sqlite/.
-- Portable column types only, so the same queries decode alike on SQLite and
-- PostgreSQL: BIGINT for integers, Unix-microsecond times and 0/1 booleans,
-- TEXT, and BYTEA for bytes. IDs are UUIDs as text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id           TEXT PRIMARY KEY NOT NULL,
    username     TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'auditor', 'vendor')),
    company      TEXT,
    department   TEXT,
    status       TEXT NOT NULL CHECK (status IN ('active', 'locked', 'disabled')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX users_role ON users (role);

CREATE TABLE credentials (
    user_id             TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_phc        TEXT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    totp_secret         BYTEA,
    totp_enrolled_at    BIGINT,
    totp_last_step      BIGINT
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    BYTEA NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    mfa_at        BIGINT NOT NULL,
    mfa_method    TEXT NOT NULL,
    source        TEXT,
    user_agent    TEXT,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_challenges (
    token_hash          BYTEA PRIMARY KEY NOT NULL,
    user_id             TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('mfa', 'enrol')),
    pending_totp_secret BYTEA,
    source              TEXT,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    attempts            BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_expires ON login_challenges (expires_at);

CREATE TABLE throttle (
    key              TEXT PRIMARY KEY NOT NULL,
    failures         BIGINT NOT NULL,
    first_failure_at BIGINT,
    last_failure_at  BIGINT,
    blocked_until    BIGINT,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE zones (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    description TEXT,
    critical    BIGINT NOT NULL CHECK (critical IN (0, 1)),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE assets (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    name_key            TEXT NOT NULL UNIQUE,
    zone_id             TEXT REFERENCES zones (id) ON DELETE RESTRICT,
    owner_department    TEXT,
    vendor_company      TEXT,
    criticality         TEXT NOT NULL CHECK (criticality IN ('low', 'medium', 'high', 'life_critical')),
    max_session_minutes BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX assets_zone ON assets (zone_id);

CREATE TABLE asset_addresses (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    address  TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (asset_id, address)
);
CREATE INDEX asset_addresses_address ON asset_addresses (address);

CREATE TABLE asset_ports (
    asset_id TEXT NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    port     BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    protocol TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (asset_id, port)
);

-- The audit hash chain. `body` is the exact JSON the hash commits to.
CREATE TABLE audit_records (
    seq       BIGINT PRIMARY KEY NOT NULL,
    ts        BIGINT NOT NULL,
    body      TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL
);

-- A signed checkpoint every CHECKPOINT_INTERVAL records.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY NOT NULL,
    hash      BYTEA NOT NULL,
    ts        BIGINT NOT NULL,
    signature BYTEA NOT NULL
);

-- The signed head: the last record, re-signed after every write batch. A
-- single row; seq 0 with an empty signature means "no records yet".
CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      BYTEA NOT NULL,
    ts        BIGINT NOT NULL,
    signature BYTEA NOT NULL
);
INSERT INTO audit_head (id, seq, hash, ts, signature) VALUES (1, 0, decode(repeat('00', 32), 'hex'), 0, ''::bytea);
