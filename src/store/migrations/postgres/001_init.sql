-- rotator schema, version 1, for PostgreSQL: the same tables and rules as the SQLite schema.
-- Times are whole seconds since the epoch (UTC) in bigint. Ids are lowercase UUID strings,
-- kept as text so that every lookup compares exactly as on SQLite.

CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('user', 'admin')),
    -- Bumped by every rotation of this user; tokens of an older version are refused.
    token_version bigint NOT NULL DEFAULT 1 CHECK (token_version >= 1),
    created_at    bigint NOT NULL,
    -- Two (global generation, counted sessions) slots: see src/store/counts.h.
    slot0_gen     bigint NOT NULL DEFAULT 0,
    slot0_count   bigint NOT NULL DEFAULT 0,
    slot1_gen     bigint NOT NULL DEFAULT 0,
    slot1_count   bigint NOT NULL DEFAULT 0
);
-- SQLite's COLLATE NOCASE folds ASCII letters only; lower() under the "C" collation does
-- exactly that, whatever the database's locale.
CREATE UNIQUE INDEX users_email_nocase ON users (lower(email COLLATE "C"));

-- Exactly one row, created here: the global generation and its grace window.
CREATE TABLE security_config (
    id                   integer PRIMARY KEY CHECK (id = 1),
    global_version       bigint NOT NULL CHECK (global_version >= 1),
    -- The previous global version, still accepted until grace_ends_at; NULL when no window.
    grace_version        bigint,
    grace_ends_at        bigint,
    last_updated_at      bigint NOT NULL,
    last_updated_by      text,
    last_rotation_reason text,
    -- Live counts of active sessions and users, so that a global rotation reports them in
    -- O(1): see src/store/counts.h. Every transaction that changes them locks this row first.
    cur_sessions         bigint NOT NULL DEFAULT 0,
    cur_users            bigint NOT NULL DEFAULT 0,
    grace_sessions       bigint NOT NULL DEFAULT 0,
    grace_users          bigint NOT NULL DEFAULT 0,
    both_users           bigint NOT NULL DEFAULT 0
);
INSERT INTO security_config (id, global_version, last_updated_at)
VALUES (1, 1, extract(epoch FROM now())::bigint);

CREATE FUNCTION security_config_keep_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'security_config must keep its row';
END;
$$;
CREATE TRIGGER security_config_keep_row BEFORE DELETE ON security_config
    FOR EACH ROW EXECUTE FUNCTION security_config_keep_row();
CREATE TRIGGER security_config_keep_row_truncate BEFORE TRUNCATE ON security_config
    FOR EACH STATEMENT EXECUTE FUNCTION security_config_keep_row();

-- A session is one login: the lineage of refresh tokens that descends from it.
CREATE TABLE sessions (
    id             text PRIMARY KEY,
    user_id        text NOT NULL REFERENCES users (id),
    -- The generations the session was born in; it lives only as long as they do.
    user_version   bigint NOT NULL,
    global_version bigint NOT NULL,
    created_at     bigint NOT NULL,
    last_used_at   bigint NOT NULL,
    expires_at     bigint NOT NULL,
    revoked_at     bigint,
    revoke_reason  text,
    user_agent     text,
    ip             text,
    -- True while the session is in the live counts; cleared when it is revoked, its user is
    -- rotated, or the sweeper finds it expired.
    counted        boolean NOT NULL DEFAULT false
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE INDEX sessions_active ON sessions (global_version, expires_at) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_counted_by_expiry ON sessions (expires_at) WHERE counted;

-- Refresh tokens are stored only as SHA-256 hashes; a refresh is one primary-key lookup.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id text NOT NULL REFERENCES sessions (id),
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL,
    retired_at bigint
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- The audit trail: append-only, enforced by the triggers below. Ids are a gapless sequence,
-- which a PostgreSQL sequence is not (a rolled-back insert or a crash skips values): each
-- rotation takes max(id) + 1 while it holds the security_config row, which serialises them.
CREATE TABLE rotation_events (
    id                   bigint PRIMARY KEY CHECK (id >= 1),
    rotation_type        text NOT NULL CHECK (rotation_type IN ('USER', 'GLOBAL')),
    user_id              text REFERENCES users (id),
    old_version          bigint NOT NULL,
    new_version          bigint NOT NULL,
    tokens_revoked       bigint NOT NULL,
    users_affected       bigint NOT NULL,
    reason               text NOT NULL,
    initiated_by         text NOT NULL,
    grace_period_minutes integer,
    rotated_at           bigint NOT NULL
);

CREATE FUNCTION rotation_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rotation_events is append-only';
END;
$$;
CREATE TRIGGER rotation_events_no_change BEFORE UPDATE OR DELETE ON rotation_events
    FOR EACH ROW EXECUTE FUNCTION rotation_events_append_only();
CREATE TRIGGER rotation_events_no_truncate BEFORE TRUNCATE ON rotation_events
    FOR EACH STATEMENT EXECUTE FUNCTION rotation_events_append_only();
