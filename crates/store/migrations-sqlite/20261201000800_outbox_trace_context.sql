-- The same as PostgreSQL's 20261201000800_outbox_trace_context.sql.
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
