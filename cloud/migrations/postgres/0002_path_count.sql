-- How many paths (live and deleted) each project holds, kept by append_batch in
-- the same transaction, so the per-project quota costs no count of remote_files.
ALTER TABLE projects ADD COLUMN path_count BIGINT NOT NULL DEFAULT 0;
UPDATE projects SET path_count = (SELECT COUNT(*) FROM remote_files r WHERE r.project_id = projects.id);
