-- The trace context of the transaction that wrote each outbox message (W3C traceparent, with
-- ";tracestate" when there is one): the relay publishes the message in it, so one trace runs
-- from the change through NATS to its consumers.
ALTER TABLE outbox ADD COLUMN trace_context text;
