-- sekimori schema, version 3 (SQLite): the sensor's inventory and
-- communication map. Same portable types as version 1.
--
-- Nothing here can hold patient data: the sensor reports device identities
-- (addresses, names such as DHCP host names and DICOM AE titles, vendor,
-- product, version, protocols) and traffic counts, never payloads.

-- One row per device the sensor observed, keyed by the sensor's asset key:
-- `mac:00:1b:21:0a:bc:de` when the device has a MAC address, else
-- `ip:10.20.1.10`. Scalars keep the newest non-null value; first/last seen
-- only widen.
CREATE TABLE observed_assets (
    id          TEXT PRIMARY KEY NOT NULL,
    key         TEXT NOT NULL UNIQUE,
    mac         TEXT,
    vendor      TEXT,
    product     TEXT,
    version     TEXT,
    mac_vendor  TEXT,
    role        TEXT,
    role_basis  TEXT,
    local       BIGINT NOT NULL CHECK (local IN (0, 1)),
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX observed_assets_last_seen ON observed_assets (last_seen);
CREATE INDEX observed_assets_role ON observed_assets (role);

-- An IP address belongs to at most one observed asset at a time.
CREATE TABLE observed_addresses (
    address  TEXT PRIMARY KEY NOT NULL,
    asset_id TEXT NOT NULL REFERENCES observed_assets (id) ON DELETE CASCADE
);
CREATE INDEX observed_addresses_asset ON observed_addresses (asset_id);

-- Names a device is known by (unioned over time, capped per asset).
CREATE TABLE observed_names (
    asset_id TEXT NOT NULL REFERENCES observed_assets (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    PRIMARY KEY (asset_id, name)
);

-- Protocols a device used as client, served, or announced itself with on
-- the link (unioned over time).
CREATE TABLE observed_protocols (
    asset_id TEXT NOT NULL REFERENCES observed_assets (id) ON DELETE CASCADE,
    app      TEXT NOT NULL,
    side     TEXT NOT NULL CHECK (side IN ('client', 'server', 'link')),
    PRIMARY KEY (asset_id, app, side)
);
CREATE INDEX observed_protocols_app ON observed_protocols (app);

-- Traffic per asset pair, service and one-minute bucket; written by adding
-- to the bucket's row. Endpoints are asset keys (an address that is no
-- asset, such as a multicast group, stays `ip:…`).
CREATE TABLE conversations (
    bucket_start BIGINT NOT NULL,
    client_key   TEXT NOT NULL,
    server_key   TEXT NOT NULL,
    service      TEXT NOT NULL,
    packets_out  BIGINT NOT NULL,
    packets_in   BIGINT NOT NULL,
    bytes_out    BIGINT NOT NULL,
    bytes_in     BIGINT NOT NULL,
    flows        BIGINT NOT NULL,
    PRIMARY KEY (bucket_start, client_key, server_key, service)
);
CREATE INDEX conversations_client ON conversations (client_key, bucket_start);
CREATE INDEX conversations_server ON conversations (server_key, bucket_start);
