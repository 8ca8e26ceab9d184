-- Webhook settings per identity provider (R-HOOK-01) and the delivery log (R-HOOK-08).

-- The secret a provider's deliveries are checked against: a SHA-256 hash when we generated
-- it (Auth0, custom OIDC: only compared), or sealed with the keyring when the check needs
-- the value itself (Clerk's Svix HMAC key, Okta's Authorization value). During a rotation
-- the previous secret stays valid until previous_valid_until.
CREATE TABLE webhook_settings (
    app_id                  uuid NOT NULL,
    idp_id                  uuid NOT NULL,
    enabled                 boolean NOT NULL,
    secret_form             text NOT NULL CHECK (secret_form IN ('hash', 'sealed')),
    current_secret          bytea NOT NULL,
    current_nonce           bytea,
    current_key_id          text,
    previous_secret         bytea,
    previous_nonce          bytea,
    previous_key_id         text,
    previous_valid_until    timestamptz,
    enabled_at              timestamptz NOT NULL DEFAULT now(),
    rotated_at              timestamptz,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (idp_id),
    FOREIGN KEY (app_id, idp_id) REFERENCES identity_providers (app_id, id) ON DELETE CASCADE
);

-- Every delivery and what became of each event in it, for on-call (`alter webhooks
-- deliveries`). What an accepted event changed is in the audit trail under its event ID.
CREATE TABLE webhook_deliveries (
    seq                 bigserial PRIMARY KEY,
    app_id              uuid NOT NULL,
    idp_id              uuid NOT NULL,
    received_at         timestamptz NOT NULL,
    provider_event_id   text,
    event_type          text,
    event_id            uuid,
    outcome             text NOT NULL CHECK (outcome IN ('accepted', 'ignored', 'duplicate', 'rejected', 'unauthorized', 'malformed')),
    reason              text
);
CREATE INDEX webhook_deliveries_by_app ON webhook_deliveries (app_id, seq DESC);
