-- Directory sync (R-DIR-03..09): runs are requested (by an admin or the schedule), claimed by
-- one worker, kept alive by a heartbeat, and end succeeded, failed, rejected — or held
-- awaiting an admin's approval when they would deprovision too much (the safety valve).
ALTER TABLE directory_runs DROP CONSTRAINT directory_runs_state_check;
ALTER TABLE directory_runs DROP CONSTRAINT directory_runs_finished;
DROP INDEX directory_runs_one_running;
ALTER TABLE directory_runs
    ADD COLUMN trigger        text NOT NULL DEFAULT 'admin' CHECK (trigger IN ('admin', 'schedule')),
    ADD COLUMN dry_run        boolean NOT NULL DEFAULT false,
    ADD COLUMN requested_at   timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN heartbeat_at   timestamptz,
    ADD COLUMN memberships_removed bigint NOT NULL DEFAULT 0,
    ADD COLUMN requests       bigint NOT NULL DEFAULT 0,
    ADD COLUMN held_reason    text,
    ADD COLUMN decided_by     text;
ALTER TABLE directory_runs ALTER COLUMN started_at DROP NOT NULL;
ALTER TABLE directory_runs ALTER COLUMN started_at DROP DEFAULT;
ALTER TABLE directory_runs ADD CONSTRAINT directory_runs_state_check
    CHECK (state IN ('pending', 'running', 'awaiting_approval', 'succeeded', 'failed', 'rejected'));
ALTER TABLE directory_runs ADD CONSTRAINT directory_runs_finished
    CHECK ((state IN ('pending', 'running', 'awaiting_approval')) = (finished_at IS NULL));
-- One active run per IDP across every replica: a second trigger gets the active one.
CREATE UNIQUE INDEX directory_runs_one_active ON directory_runs (app_id, idp_id)
    WHERE state IN ('pending', 'running', 'awaiting_approval');
CREATE INDEX directory_runs_pending ON directory_runs (requested_at) WHERE state = 'pending';
DROP INDEX directory_runs_latest;
CREATE INDEX directory_runs_latest ON directory_runs (app_id, requested_at DESC);

-- What a held run would remove (R-DIR-08), applied as lifecycle events on approval.
CREATE TABLE directory_run_removals (
    run_id            uuid NOT NULL REFERENCES directory_runs (id) ON DELETE CASCADE,
    seq               integer NOT NULL,
    external_user_id  text NOT NULL,
    -- NULL: the user is deprovisioned; else the user's membership of this group is removed.
    external_group_id text,
    PRIMARY KEY (run_id, seq)
);
