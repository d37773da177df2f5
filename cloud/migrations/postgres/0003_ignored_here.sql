-- Members report 'ignored_here' for announced paths their own Syncthing does
-- not sync (their .stignore, Syncthing's internal and temporary files): no
-- hash, no percent.
ALTER TABLE member_progress DROP CONSTRAINT member_progress_state_check;
ALTER TABLE member_progress ADD CONSTRAINT member_progress_state_check
    CHECK (state IN ('synced', 'syncing', 'pending', 'conflict', 'error', 'deleted', 'ignored_here'));
