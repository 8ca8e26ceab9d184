-- The transactional outbox (ADR 0008): messages written in the same transaction as the state
-- change they belong to, published at least once by a relay in each process.
CREATE TABLE outbox (
    seq           bigserial PRIMARY KEY,
    id            uuid NOT NULL,
    app_id        uuid NOT NULL,
    topic         text NOT NULL CHECK (topic IN ('audit', 'invalidation', 'lifecycle')),
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    leased_until  timestamptz,
    sent_at       timestamptz
);

-- The relay's scan: pending messages in order.
CREATE INDEX outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
-- The purge: sent messages by age.
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Idempotent create calls: a client's request ID maps to what the first call created.
-- app_id is the nil UUID for calls outside an app (CreateApp).
CREATE TABLE request_keys (
    app_id       uuid NOT NULL,
    operation    text NOT NULL,
    request_id   text NOT NULL,
    fingerprint  text NOT NULL,
    resource_id  uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, operation, request_id)
);
