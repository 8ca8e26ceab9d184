-- R-CFG-10 / R-OIDC-01: the same as PostgreSQL's 20261201000700_sign_in.sql.
ALTER TABLE identity_providers DROP COLUMN sign_in_wallet_logout_url;
ALTER TABLE identity_providers ADD COLUMN sign_in_return_urls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE identity_providers ADD COLUMN sign_in_scopes TEXT NOT NULL DEFAULT '[]';

CREATE TABLE sign_in_flows (
    state_digest      BLOB PRIMARY KEY,
    browser_digest    BLOB NOT NULL,
    app_id            BLOB NOT NULL,
    idp_id            BLOB NOT NULL,
    purpose           TEXT NOT NULL CHECK (purpose IN ('app', 'wallet')),
    return_url        TEXT NOT NULL,
    app_state         TEXT,
    sealed_ciphertext BLOB NOT NULL,
    sealed_nonce      BLOB NOT NULL,
    sealed_key_id     TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_flows_expires_at ON sign_in_flows (expires_at);

CREATE TABLE sign_in_sessions (
    digest            BLOB PRIMARY KEY,
    kind              TEXT NOT NULL CHECK (kind IN ('result', 'wallet')),
    app_id            BLOB NOT NULL,
    idp_id            BLOB NOT NULL,
    user_id           BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    return_url        TEXT NOT NULL,
    sealed_ciphertext BLOB NOT NULL,
    sealed_nonce      BLOB NOT NULL,
    sealed_key_id     TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_sessions_expires_at ON sign_in_sessions (expires_at);
