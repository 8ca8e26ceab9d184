-- Alter Identity: the initial schema. Every table is scoped by app_id (an app is a hard
-- isolation boundary); composite foreign keys (app_id, id) make cross-app references
-- impossible at the database level, not only in queries.

CREATE TABLE apps (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- R-CFG-01: at most one identity provider per app.
CREATE TABLE identity_providers (
    id                              uuid PRIMARY KEY,
    app_id                          uuid NOT NULL REFERENCES apps (id),
    kind                            text NOT NULL CHECK (kind IN ('auth0', 'clerk', 'okta', 'custom_oidc')),
    issuer                          text NOT NULL,
    jwks_uri                        text NOT NULL,
    audience                        text NOT NULL,
    -- R-CFG-07 claim mappings
    user_id_claim                   text NOT NULL DEFAULT 'sub',
    group_claim                     text,
    role_claim                      text,
    email_claim                     text,
    display_name_claim              text,
    group_claim_stable_ids          boolean NOT NULL DEFAULT false,
    -- R-CFG-08: set at the first successful authentication; mappings are frozen after it.
    claim_mappings_locked_at        timestamptz,
    -- R-CFG-10 optional OIDC sign-in settings (the client secret is a sealed secret)
    sign_in_client_id               text,
    sign_in_wallet_logout_url       text,
    created_at                      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT identity_providers_one_per_app UNIQUE (app_id),
    CONSTRAINT identity_providers_app_id_id UNIQUE (app_id, id)
);

-- R-CFG-11: secrets sealed by alter-secrets; only ciphertext, nonce and key ID land here.
CREATE TABLE sealed_secrets (
    app_id      uuid NOT NULL,
    idp_id      uuid NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('webhook_secret', 'directory_credential', 'client_secret')),
    ciphertext  bytea NOT NULL,
    nonce       bytea NOT NULL,
    key_id      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idp_id, purpose),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    app_id          uuid NOT NULL REFERENCES apps (id),
    idp_id          uuid NOT NULL,
    external_id     text NOT NULL,
    email           text,
    display_name    text,
    status          text NOT NULL CHECK (status IN ('active', 'suspended', 'deprovisioned')),
    -- Ordering key of the last status change: an older change never overrides a newer one.
    state_version   bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_app_external_id UNIQUE (app_id, external_id),
    CONSTRAINT users_app_id_id UNIQUE (app_id, id),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id)
);

CREATE TABLE groups (
    id           uuid PRIMARY KEY,
    app_id       uuid NOT NULL REFERENCES apps (id),
    external_id  text NOT NULL,
    name         text,
    deleted_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT groups_app_external_id UNIQUE (app_id, external_id),
    CONSTRAINT groups_app_id_id UNIQUE (app_id, id)
);

CREATE TABLE memberships (
    app_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    group_id    uuid NOT NULL,
    source      text NOT NULL CHECK (source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, user_id, group_id),
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE,
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
);
CREATE INDEX memberships_by_group ON memberships (app_id, group_id);

-- R-REV-01: a grant binds a credential reference to a user, a group or the app (system).
CREATE TABLE grants (
    id                  uuid PRIMARY KEY,
    app_id              uuid NOT NULL REFERENCES apps (id),
    credential_ref      text NOT NULL CHECK (length(credential_ref) BETWEEN 1 AND 1024),
    principal_kind      text NOT NULL CHECK (principal_kind IN ('user', 'group', 'system')),
    principal_user_id   uuid,
    principal_group_id  uuid,
    expires_at          timestamptz,
    revoked_at          timestamptz,
    -- R-REV-06: what caused the revocation (source and the event, run or admin behind it).
    revoked_source      text CHECK (revoked_source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    revoked_by          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
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
-- The verify hot path: a user's, their groups' and the app's grants that are not revoked.
CREATE INDEX grants_by_app ON grants (app_id, id);
CREATE INDEX grants_active_by_user ON grants (app_id, principal_user_id) WHERE revoked_at IS NULL AND principal_kind = 'user';
CREATE INDEX grants_active_by_group ON grants (app_id, principal_group_id) WHERE revoked_at IS NULL AND principal_kind = 'group';
CREATE INDEX grants_active_system ON grants (app_id) WHERE revoked_at IS NULL AND principal_kind = 'system';

-- R-DIR-05: the outcome of each directory-sync run.
CREATE TABLE directory_runs (
    id                   uuid PRIMARY KEY,
    app_id               uuid NOT NULL,
    idp_id               uuid NOT NULL,
    state                text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    started_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    users_imported       bigint NOT NULL DEFAULT 0,
    users_updated        bigint NOT NULL DEFAULT 0,
    users_suspended      bigint NOT NULL DEFAULT 0,
    users_deprovisioned  bigint NOT NULL DEFAULT 0,
    groups_imported      bigint NOT NULL DEFAULT 0,
    memberships_imported bigint NOT NULL DEFAULT 0,
    last_error           text,
    CONSTRAINT directory_runs_finished CHECK ((state = 'running') = (finished_at IS NULL)),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
-- One running run per IDP across all replicas.
CREATE UNIQUE INDEX directory_runs_one_running ON directory_runs (app_id, idp_id) WHERE state = 'running';
CREATE INDEX directory_runs_latest ON directory_runs (app_id, started_at DESC);

-- R-AUD: the provisioning audit trail. Append-only, idempotent by event ID, and each row is
-- chained to the previous row of the same app: hash = sha256(prev_hash || audit_payload(row)).
CREATE TABLE audit_events (
    app_id       uuid NOT NULL REFERENCES apps (id),
    seq          bigint NOT NULL CHECK (seq > 0),
    event_id     uuid NOT NULL,
    kind         text NOT NULL,
    source       text NOT NULL CHECK (source IN ('jwt', 'webhook', 'directory_sync', 'admin')),
    user_id      uuid,
    occurred_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    PRIMARY KEY (app_id, seq),
    CONSTRAINT audit_events_idempotent UNIQUE (app_id, event_id)
);
CREATE INDEX audit_events_by_user ON audit_events (app_id, user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_by_kind ON audit_events (app_id, kind, seq);
CREATE INDEX audit_events_by_time ON audit_events (app_id, occurred_at);

-- The canonical bytes a row's hash covers. The chain verifier recomputes exactly this.
CREATE FUNCTION audit_payload(
    p_app_id uuid, p_seq bigint, p_event_id uuid, p_kind text, p_source text,
    p_user_id uuid, p_occurred_at timestamptz, p_detail jsonb
) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(jsonb_build_array(
        p_app_id::text, p_seq, p_event_id::text, p_kind, p_source, p_user_id::text,
        (extract(epoch FROM p_occurred_at) * 1000000)::bigint, p_detail
    )::text, 'UTF8')
$$;

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed (R-AUD-03)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Idempotent consumers: an event ID seen once by a consumer is never applied again.
CREATE TABLE processed_events (
    app_id        uuid NOT NULL,
    consumer      text NOT NULL,
    event_id      uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, app_id, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);
