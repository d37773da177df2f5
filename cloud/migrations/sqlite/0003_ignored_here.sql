-- Members report 'ignored_here' for announced paths their own Syncthing does
-- not sync (their .stignore, Syncthing's internal and temporary files): no
-- hash, no percent. SQLite cannot alter a CHECK, so the table is rebuilt.
CREATE TABLE member_progress_new (
    project_id  TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path        TEXT    NOT NULL,
    state       TEXT    NOT NULL
                CHECK (state IN ('synced', 'syncing', 'pending', 'conflict', 'error', 'deleted', 'ignored_here')),
    percent     REAL    NOT NULL,
    local_hash  TEXT,
    error       TEXT,
    reported_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, user_id, path)
);
INSERT INTO member_progress_new SELECT project_id, user_id, path, state, percent, local_hash, error, reported_at
    FROM member_progress;
DROP TABLE member_progress;
ALTER TABLE member_progress_new RENAME TO member_progress;
