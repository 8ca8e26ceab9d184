-- R-CFG-10 / R-OIDC-01: OIDC sign-in settings, and the short-lived state of sign-ins.
-- The Wallet logout URL is ours (derived from the public URL), not a setting.
ALTER TABLE identity_providers DROP COLUMN sign_in_wallet_logout_url;
ALTER TABLE identity_providers
    ADD COLUMN sign_in_return_urls text NOT NULL DEFAULT '[]',
    ADD COLUMN sign_in_scopes      text NOT NULL DEFAULT '[]';

-- A sign-in between the redirect to the identity provider and its callback. Keyed by the
-- SHA-256 of `state`; bound to the browser by the SHA-256 of its cookie. `nonce` and the PKCE
-- verifier are sealed (`sealed_*`), never stored in the clear.
CREATE TABLE sign_in_flows (
    state_digest      bytea PRIMARY KEY,
    browser_digest    bytea NOT NULL,
    app_id            uuid NOT NULL,
    idp_id            uuid NOT NULL,
    purpose           text NOT NULL CHECK (purpose IN ('app', 'wallet')),
    return_url        text NOT NULL,
    app_state         text,
    sealed_ciphertext bytea NOT NULL,
    sealed_nonce      bytea NOT NULL,
    sealed_key_id     text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_flows_expires_at ON sign_in_flows (expires_at);

-- A finished sign-in: a one-time result code for the app's backend (`result`), or a Wallet
-- session (`wallet`). Keyed by the SHA-256 of the code or session cookie; the identity
-- provider's tokens are sealed.
CREATE TABLE sign_in_sessions (
    digest            bytea PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('result', 'wallet')),
    app_id            uuid NOT NULL,
    idp_id            uuid NOT NULL,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    return_url        text NOT NULL,
    sealed_ciphertext bytea NOT NULL,
    sealed_nonce      bytea NOT NULL,
    sealed_key_id     text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);
CREATE INDEX sign_in_sessions_expires_at ON sign_in_sessions (expires_at);
