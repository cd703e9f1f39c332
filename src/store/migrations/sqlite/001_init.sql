-- rotator schema, version 1.
-- Times are whole seconds since the epoch (UTC). Ids are lowercase UUID strings.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    -- Bumped by every rotation of this user; tokens of an older version are refused.
    token_version INTEGER NOT NULL DEFAULT 1 CHECK (token_version >= 1),
    created_at    INTEGER NOT NULL,
    -- Two (global generation, counted sessions) slots: see src/store/counts.h.
    slot0_gen     INTEGER NOT NULL DEFAULT 0,
    slot0_count   INTEGER NOT NULL DEFAULT 0,
    slot1_gen     INTEGER NOT NULL DEFAULT 0,
    slot1_count   INTEGER NOT NULL DEFAULT 0
);

-- Exactly one row, created here: the global generation and its grace window.
CREATE TABLE security_config (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    global_version       INTEGER NOT NULL CHECK (global_version >= 1),
    -- The previous global version, still accepted until grace_ends_at; NULL when no window.
    grace_version        INTEGER,
    grace_ends_at        INTEGER,
    last_updated_at      INTEGER NOT NULL,
    last_updated_by      TEXT,
    last_rotation_reason TEXT,
    -- Live counts of active sessions and users, so that a global rotation reports them in
    -- O(1): see src/store/counts.h.
    cur_sessions         INTEGER NOT NULL DEFAULT 0,
    cur_users            INTEGER NOT NULL DEFAULT 0,
    grace_sessions       INTEGER NOT NULL DEFAULT 0,
    grace_users          INTEGER NOT NULL DEFAULT 0,
    both_users           INTEGER NOT NULL DEFAULT 0
);
INSERT INTO security_config (id, global_version, last_updated_at)
VALUES (1, 1, CAST(strftime('%s', 'now') AS INTEGER));

CREATE TRIGGER security_config_keep_row BEFORE DELETE ON security_config
BEGIN
    SELECT RAISE(ABORT, 'security_config must keep its row');
END;

-- A session is one login: the lineage of refresh tokens that descends from it.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    -- The generations the session was born in; it lives only as long as they do.
    user_version   INTEGER NOT NULL,
    global_version INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoke_reason  TEXT,
    user_agent     TEXT,
    ip             TEXT,
    -- 1 while the session is in the live counts; cleared when it is revoked, its user is
    -- rotated, or the sweeper finds it expired.
    counted        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_active ON sessions (global_version, expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_counted_by_expiry ON sessions (expires_at) WHERE counted = 1;

-- Refresh tokens are stored only as SHA-256 hashes; a refresh is one primary-key lookup.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    retired_at INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- The audit trail: append-only, enforced by the triggers below.
CREATE TABLE rotation_events (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    rotation_type        TEXT NOT NULL CHECK (rotation_type IN ('USER', 'GLOBAL')),
    user_id              TEXT REFERENCES users (id),
    old_version          INTEGER NOT NULL,
    new_version          INTEGER NOT NULL,
    tokens_revoked       INTEGER NOT NULL,
    users_affected       INTEGER NOT NULL,
    reason               TEXT NOT NULL,
    initiated_by         TEXT NOT NULL,
    grace_period_minutes INTEGER,
    rotated_at           INTEGER NOT NULL
);

CREATE TRIGGER rotation_events_no_update BEFORE UPDATE ON rotation_events
BEGIN
    SELECT RAISE(ABORT, 'rotation_events is append-only');
END;

CREATE TRIGGER rotation_events_no_delete BEFORE DELETE ON rotation_events
BEGIN
    SELECT RAISE(ABORT, 'rotation_events is append-only');
END;
