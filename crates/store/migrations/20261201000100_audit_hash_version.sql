-- R-AUD-04: the audit chain's hash formula is versioned (docs/adr/0007-audit-chain-hash-in-rust.md).
--   1  sha256(prev_hash || audit_payload(row)): computed in SQL over jsonb's text form. Every
--      row written before this migration is version 1 and is still verified with that formula.
--   2  sha256(prev_hash || canonical(row)): the canonical form is defined and computed in Rust
--      (alter_store::audit_chain), so any storage adapter can reproduce it byte for byte.
-- The default stays 1 so that a writer still running the previous release during a rolling
-- upgrade keeps appending valid version-1 rows; the current writer always states version 2.
-- A column with a constant default is added without rewriting the table, and fires no
-- row triggers (the append-only trigger stays in force).
ALTER TABLE audit_events
    ADD COLUMN hash_version smallint NOT NULL DEFAULT 1
        CONSTRAINT audit_events_hash_version_known CHECK (hash_version IN (1, 2));
