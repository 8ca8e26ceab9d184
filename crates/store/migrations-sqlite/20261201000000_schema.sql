-- Alter Identity on SQLite: the embedded store of `alter dev` (ADR 0011). The same tables,
-- keys and constraints as the PostgreSQL schema (crates/store/migrations), in SQLite's types:
--   uuid         BLOB (16 bytes, sqlx's encoding of uuid::Uuid)
--   timestamptz  TEXT (RFC 3339 in UTC as sqlx encodes chrono::DateTime<Utc>; always bound
--                from Rust at microsecond precision, so text order is time order)
--   bytea        BLOB;  jsonb  TEXT (JSON);  boolean  INTEGER 0/1
--   bigserial    INTEGER PRIMARY KEY AUTOINCREMENT (never reused, so positions only grow)
-- No column defaults to a time: SQLite's clock functions write another text form.
-- Foreign keys are enforced (sqlx turns `PRAGMA foreign_keys` on for every connection).

CREATE TABLE apps (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TEXT NOT NULL
);

-- R-CFG-01: at most one identity provider per app.
CREATE TABLE identity_providers (
    id                              BLOB PRIMARY KEY,
    app_id                          BLOB NOT NULL REFERENCES apps (id),
    kind                            TEXT NOT NULL CHECK (kind IN ('auth0', 'clerk', 'okta', 'custom_oidc')),
    issuer                          TEXT NOT NULL,
    jwks_uri                        TEXT NOT NULL,
    audience                        TEXT NOT NULL,
    user_id_claim                   TEXT NOT NULL DEFAULT 'sub',
    group_claim                     TEXT,
    role_claim                      TEXT,
    email_claim                     TEXT,
    display_name_claim              TEXT,
    group_claim_stable_ids          INTEGER NOT NULL DEFAULT 0,
    claim_mappings_locked_at        TEXT,
    sign_in_client_id               TEXT,
    sign_in_wallet_logout_url       TEXT,
    created_at                      TEXT NOT NULL,
    CONSTRAINT identity_providers_one_per_app UNIQUE (app_id),
    CONSTRAINT identity_providers_app_id_id UNIQUE (app_id, id)
);

-- R-CFG-11: secrets sealed by alter-secrets; only ciphertext, nonce and key ID land here.
CREATE TABLE sealed_secrets (
    app_id      BLOB NOT NULL,
    idp_id      BLOB NOT NULL,
    purpose     TEXT NOT NULL CHECK (purpose IN ('webhook_secret', 'directory_credential', 'client_secret')),
    ciphertext  BLOB NOT NULL,
    nonce       BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (idp_id, purpose),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);

CREATE TABLE users (
    id              BLOB PRIMARY KEY,
    app_id          BLOB NOT NULL REFERENCES apps (id),
    idp_id          BLOB NOT NULL,
    external_id     TEXT NOT NULL,
    email           TEXT,
    display_name    TEXT,
    status          TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deprovisioned')),
    state_version   INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CONSTRAINT users_app_external_id UNIQUE (app_id, external_id),
    CONSTRAINT users_app_id_id UNIQUE (app_id, id),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id)
);

CREATE TABLE groups (
    id           BLOB PRIMARY KEY,
    app_id       BLOB NOT NULL REFERENCES apps (id),
    external_id  TEXT NOT NULL,
    name         TEXT,
    deleted_at   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    CONSTRAINT groups_app_external_id UNIQUE (app_id, external_id),
    CONSTRAINT groups_app_id_id UNIQUE (app_id, id)
);

CREATE TABLE memberships (
    app_id      BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    group_id    BLOB NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id, group_id),
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE,
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_group ON memberships (app_id, group_id);

-- R-REV-04: when the provider last said a user left a group.
CREATE TABLE membership_removals (
    app_id      BLOB NOT NULL,
    user_id     BLOB NOT NULL,
    group_id    BLOB NOT NULL,
    removed_at  TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id, group_id),
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE,
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
);

-- R-REV-01: a grant binds a credential reference to a user, a group or the app (system).
CREATE TABLE grants (
    id                  BLOB PRIMARY KEY,
    app_id              BLOB NOT NULL REFERENCES apps (id),
    credential_ref      TEXT NOT NULL CHECK (length(credential_ref) BETWEEN 1 AND 1024),
    principal_kind      TEXT NOT NULL CHECK (principal_kind IN ('user', 'group', 'system')),
    principal_user_id   BLOB,
    principal_group_id  BLOB,
    expires_at          TEXT,
    revoked_at          TEXT,
    revoked_source      TEXT CHECK (revoked_source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    revoked_by          TEXT,
    created_at          TEXT NOT NULL,
    CONSTRAINT grants_principal_columns CHECK (
        (principal_kind = 'user'   AND principal_user_id IS NOT NULL AND principal_group_id IS NULL) OR
        (principal_kind = 'group'  AND principal_group_id IS NOT NULL AND principal_user_id IS NULL) OR
        (principal_kind = 'system' AND principal_user_id IS NULL AND principal_group_id IS NULL)
    ),
    CONSTRAINT grants_revocation_has_cause CHECK (
        (revoked_at IS NULL AND revoked_by IS NULL AND revoked_source IS NULL) OR
        (revoked_at IS NOT NULL AND revoked_by IS NOT NULL AND revoked_source IS NOT NULL)
    ),
    FOREIGN KEY (app_id, principal_user_id) REFERENCES users (app_id, id),
    FOREIGN KEY (app_id, principal_group_id) REFERENCES groups (app_id, id)
);
CREATE INDEX grants_by_app ON grants (app_id, id);
CREATE INDEX grants_active_by_user ON grants (app_id, principal_user_id) WHERE revoked_at IS NULL AND principal_kind = 'user';
CREATE INDEX grants_active_by_group ON grants (app_id, principal_group_id) WHERE revoked_at IS NULL AND principal_kind = 'group';
CREATE INDEX grants_active_system ON grants (app_id) WHERE revoked_at IS NULL AND principal_kind = 'system';

-- R-DIR-03..09: directory runs, one active per IDP.
CREATE TABLE directory_runs (
    id                   BLOB PRIMARY KEY,
    app_id               BLOB NOT NULL,
    idp_id               BLOB NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('pending', 'running', 'awaiting_approval', 'succeeded', 'failed', 'rejected')),
    trigger              TEXT NOT NULL DEFAULT 'admin' CHECK (trigger IN ('admin', 'schedule')),
    dry_run              INTEGER NOT NULL DEFAULT 0,
    requested_at         TEXT NOT NULL,
    started_at           TEXT,
    heartbeat_at         TEXT,
    finished_at          TEXT,
    users_imported       INTEGER NOT NULL DEFAULT 0,
    users_updated        INTEGER NOT NULL DEFAULT 0,
    users_suspended      INTEGER NOT NULL DEFAULT 0,
    users_deprovisioned  INTEGER NOT NULL DEFAULT 0,
    groups_imported      INTEGER NOT NULL DEFAULT 0,
    memberships_imported INTEGER NOT NULL DEFAULT 0,
    memberships_removed  INTEGER NOT NULL DEFAULT 0,
    requests             INTEGER NOT NULL DEFAULT 0,
    held_reason          TEXT,
    decided_by           TEXT,
    last_error           TEXT,
    CONSTRAINT directory_runs_finished CHECK ((state IN ('pending', 'running', 'awaiting_approval')) = (finished_at IS NULL)),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX directory_runs_one_active ON directory_runs (app_id, idp_id)
    WHERE state IN ('pending', 'running', 'awaiting_approval');
CREATE INDEX directory_runs_pending ON directory_runs (requested_at) WHERE state = 'pending';
CREATE INDEX directory_runs_latest ON directory_runs (app_id, requested_at DESC);

CREATE TABLE directory_run_removals (
    run_id            BLOB NOT NULL REFERENCES directory_runs (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    external_user_id  TEXT NOT NULL,
    external_group_id TEXT,
    PRIMARY KEY (run_id, seq)
);

-- R-AUD: the provisioning audit trail, append-only and hash-chained per app. Only hash
-- version 2 (computed in Rust, alter_store::audit_chain) is ever written here.
CREATE TABLE audit_events (
    app_id       BLOB NOT NULL REFERENCES apps (id),
    seq          INTEGER NOT NULL CHECK (seq > 0),
    event_id     BLOB NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    user_id      BLOB,
    occurred_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}',
    prev_hash    BLOB NOT NULL,
    hash         BLOB NOT NULL,
    hash_version INTEGER NOT NULL DEFAULT 2 CHECK (hash_version = 2),
    PRIMARY KEY (app_id, seq),
    CONSTRAINT audit_events_idempotent UNIQUE (app_id, event_id)
);
CREATE INDEX audit_events_by_user ON audit_events (app_id, user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_by_kind ON audit_events (app_id, kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (app_id, occurred_at);

-- R-AUD-03: append-only, enforced by the database as on PostgreSQL.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE is not allowed (R-AUD-03)');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE is not allowed (R-AUD-03)');
END;

-- Idempotent consumers: an event ID seen once by a consumer is never applied again.
CREATE TABLE processed_events (
    app_id        BLOB NOT NULL,
    consumer      TEXT NOT NULL,
    event_id      BLOB NOT NULL,
    processed_at  TEXT NOT NULL,
    PRIMARY KEY (consumer, app_id, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- The transactional outbox (ADR 0008).
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            BLOB NOT NULL,
    app_id        BLOB NOT NULL,
    topic         TEXT NOT NULL CHECK (topic IN ('audit', 'invalidation', 'lifecycle')),
    payload       BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    leased_until  TEXT,
    sent_at       TEXT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE request_keys (
    app_id       BLOB NOT NULL,
    operation    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    resource_id  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (app_id, operation, request_id)
);

-- R-HOOK-01 webhook settings per IDP, R-HOOK-08 the delivery log.
CREATE TABLE webhook_settings (
    app_id                  BLOB NOT NULL,
    idp_id                  BLOB NOT NULL,
    enabled                 INTEGER NOT NULL,
    secret_form             TEXT NOT NULL CHECK (secret_form IN ('hash', 'sealed')),
    current_secret          BLOB NOT NULL,
    current_nonce           BLOB,
    current_key_id          TEXT,
    previous_secret         BLOB,
    previous_nonce          BLOB,
    previous_key_id         TEXT,
    previous_valid_until    TEXT,
    enabled_at              TEXT NOT NULL,
    rotated_at              TEXT,
    updated_at              TEXT NOT NULL,
    PRIMARY KEY (idp_id),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);

CREATE TABLE webhook_deliveries (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id              BLOB NOT NULL,
    idp_id              BLOB NOT NULL,
    received_at         TEXT NOT NULL,
    provider_event_id   TEXT,
    event_type          TEXT,
    event_id            BLOB,
    outcome             TEXT NOT NULL CHECK (outcome IN ('accepted', 'ignored', 'duplicate', 'rejected', 'unauthorized', 'malformed')),
    reason              TEXT
);
CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app_id, seq DESC);
