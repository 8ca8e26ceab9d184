-- When the identity provider last said a user left a group (a webhook or a sync run), so a
-- token issued before that moment, which still lists the group in its claims, cannot bring
-- the membership back at its next verification (R-REV-04). One row per user and group, the
-- latest removal wins.
CREATE TABLE membership_removals (
    app_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    group_id    uuid NOT NULL,
    removed_at  timestamptz NOT NULL,
    PRIMARY KEY (app_id, user_id, group_id),
    FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id) ON DELETE CASCADE,
    FOREIGN KEY (app_id, group_id) REFERENCES groups (app_id, id) ON DELETE CASCADE
);
