-- The whole cloud schema for PostgreSQL. Ids are UUIDs as text, times are integer
-- milliseconds since the Unix epoch (the SQLite schema uses the same shapes). Keys and
-- paths use the "C" collation: byte order, as on SQLite, and cheap comparisons.

CREATE TABLE users (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL UNIQUE,
    created_at  BIGINT  NOT NULL
);

-- Only the SHA-256 digest of a token is kept; the clear token is shown once.
CREATE TABLE tokens (
    token_hash  BYTEA   PRIMARY KEY NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

-- last_seq is the per-project counter that sequencing bumps inside the writing transaction.
CREATE TABLE projects (
    id          TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name        TEXT    NOT NULL,
    folder_id   TEXT    NOT NULL,
    owner_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    last_seq    BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id);

CREATE TABLE members (
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status      TEXT    NOT NULL CHECK (status IN ('invited', 'accepted', 'revoked')),
    joined_at   BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user ON members (user_id, status);

-- Single use (used_at) and expiring; invitee NULL means anyone with the code may join.
CREATE TABLE invites (
    code_hash   BYTEA   PRIMARY KEY NOT NULL,
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    invitee     TEXT COLLATE "C" REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT,
    used_by     TEXT COLLATE "C" REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invites_project ON invites (project_id);

-- Current state of each path; a delete is soft (deleted_at) and a re-create clears it.
-- This table and project_events carry no foreign keys on purpose: only append_batch
-- writes them, after locking their project row in the same transaction, and a check
-- per row would cost about as much as the insert itself at 1000 rows a batch.
CREATE TABLE remote_files (
    project_id  TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    size        BIGINT  NOT NULL,
    hash        TEXT    NOT NULL,
    mtime       BIGINT  NOT NULL,
    version     BIGINT  NOT NULL DEFAULT 1,
    seq         BIGINT  NOT NULL,
    deleted_at  BIGINT,
    deleted_by  TEXT COLLATE "C",
    PRIMARY KEY (project_id, path)
) WITH (fillfactor = 85); -- room on each page for in-place (HOT) updates of a file's row

-- The ordered log: seqs are dense and unique per project.
CREATE TABLE project_events (
    project_id  TEXT COLLATE "C" NOT NULL,
    seq         BIGINT  NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    op          TEXT    NOT NULL CHECK (op IN ('create', 'update', 'delete')),
    hash        TEXT,
    size        BIGINT,
    mtime       BIGINT,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (project_id, seq)
);

-- One row per accepted batch id, so a retried batch gets its first answer back.
CREATE TABLE batches (
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    batch_id    TEXT COLLATE "C" NOT NULL,
    digest      BYTEA   NOT NULL,
    first_seq   BIGINT  NOT NULL,
    last_seq    BIGINT  NOT NULL,
    synced      BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (project_id, batch_id)
);

-- Latest reported state of each file on each member's machine.
CREATE TABLE member_progress (
    project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path        TEXT COLLATE "C" NOT NULL,
    state       TEXT    NOT NULL
                CHECK (state IN ('synced', 'syncing', 'pending', 'conflict', 'error', 'deleted')),
    percent     DOUBLE PRECISION NOT NULL,
    local_hash  TEXT,
    error       TEXT,
    reported_at BIGINT  NOT NULL,
    PRIMARY KEY (project_id, user_id, path)
) WITH (fillfactor = 70); -- rewritten at every report: keep room for in-place updates
