-- The embedded (in-process) bus: the two streams, their messages, and each durable
-- consumer's position and outstanding deliveries. Every table is prefixed `bus_` (and the
-- migrations table is `_alter_bus_migrations`) so the file may be shared with the embedded
-- store. Times are Unix milliseconds.

-- One row per stream ('lifecycle', 'audit'). A sequence is never reused, even after the
-- message it numbered has been purged.
CREATE TABLE bus_streams (
    stream        TEXT    PRIMARY KEY,
    last_sequence INTEGER NOT NULL
) STRICT;

INSERT INTO bus_streams (stream, last_sequence) VALUES ('lifecycle', 0), ('audit', 0);

-- Stored messages. `message_id` is the envelope's Nats-Msg-Id (the event ID), the key of the
-- duplicate window; `headers` is the envelope as a JSON object of strings.
CREATE TABLE bus_messages (
    stream       TEXT    NOT NULL REFERENCES bus_streams (stream),
    sequence     INTEGER NOT NULL,
    subject      TEXT    NOT NULL,
    message_id   TEXT,
    headers      TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (stream, sequence)
) STRICT;

CREATE INDEX bus_messages_by_message_id ON bus_messages (stream, message_id, published_at);
CREATE INDEX bus_messages_by_age ON bus_messages (stream, published_at);

-- Durable consumers. Every sequence below `next_sequence` has been handed out; of those, the
-- ones with a row in bus_pending are not settled yet, the rest are (acked, terminated, or
-- given up after max_deliver).
CREATE TABLE bus_consumers (
    stream        TEXT    NOT NULL REFERENCES bus_streams (stream),
    name          TEXT    NOT NULL,
    next_sequence INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (stream, name)
) STRICT;

-- Deliveries not settled yet. `in_flight` = 1: handed out, `due_at` is the ack deadline;
-- 0: waiting for redelivery at `due_at` (after a nak, or released when the bus was opened).
CREATE TABLE bus_pending (
    stream         TEXT    NOT NULL,
    consumer       TEXT    NOT NULL,
    sequence       INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL,
    due_at         INTEGER NOT NULL,
    in_flight      INTEGER NOT NULL,
    PRIMARY KEY (stream, consumer, sequence),
    FOREIGN KEY (stream, consumer) REFERENCES bus_consumers (stream, name)
) STRICT;

CREATE INDEX bus_pending_by_due ON bus_pending (stream, consumer, due_at);
