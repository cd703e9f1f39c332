/* The SQLite backend: one file, WAL mode, foreign keys on.
 *
 * Each thread holds its own connection. Writers serialise on SQLite's database lock: every
 * transaction that writes starts with BEGIN IMMEDIATE, so it takes the lock before it reads
 * what it will change, and two rotations can never both read the same old version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/counts.h"
#include "store/migrations.h"
#include "store/store.h"
#include "util/log.h"

/* How long a writer waits for another writer before the request gets 503. */
enum { BUSY_TIMEOUT_MS = 5000 };

/* Expired sessions leave the live counts in batches of this many. */
enum { SWEEP_BATCH = 1000 };

/* A session is active when it is not revoked or expired and both of its generations still
 * hold. Needs `s` (sessions), `u` (its user), `c` (security_config) and the :now parameter. */
#define ACTIVE_SESSION                                                                             \
    "s.revoked_at IS NULL AND s.expires_at > :now AND s.user_version = u.token_version "           \
    "AND (s.global_version = c.global_version "                                                    \
    "     OR (s.global_version = c.grace_version AND c.grace_ends_at > :now))"

#define ACTIVE_FROM "FROM sessions s JOIN users u ON u.id = s.user_id, security_config c "

#define USER_COLUMNS "id, email, password_hash, role, token_version, created_at"

#define SESSION_COLUMNS                                                                            \
    "s.id, s.user_id, u.role, s.user_version, s.global_version, s.created_at, s.last_used_at, "    \
    "s.expires_at, s.user_agent, s.ip"

#define EVENT_COLUMNS                                                                              \
    "id, rotation_type, user_id, old_version, new_version, tokens_revoked, users_affected, "       \
    "reason, initiated_by, grace_period_minutes, rotated_at"

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_PING,
    S_USER_INSERT,
    S_USER_BY_EMAIL,
    S_USER_BY_ID,
    S_ADMIN_EXISTS,
    S_SESSION_INSERT,
    S_REFRESH_INSERT,
    S_REFRESH_LOOKUP,
    S_REFRESH_RETIRE,
    S_SESSION_TOUCH,
    S_SESSION_REVOKE,
    S_SESSIONS_LIST,
    S_COUNT_ACTIVE_USER,
    S_CONFIG,
    S_CONFIG_UPDATE,
    S_USER_BUMP,
    S_EVENT_INSERT,
    S_EVENTS_LIST,
    S_EVENTS_COUNT,
    S_LOAD_USERS,
    S_LOAD_REVOKED,
    S_SLOTS_GET,
    S_SLOTS_SET,
    S_COUNTS_GET,
    S_COUNTS_SET,
    S_SESSION_UNCOUNT,
    S_USER_UNCOUNT,
    S_EXPIRED_COUNTED,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_PING] = "SELECT global_version FROM security_config WHERE id = 1",
    [S_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") VALUES (?1, ?2, ?3, ?4, 1, ?5)",
    [S_USER_BY_EMAIL] = "SELECT " USER_COLUMNS " FROM users WHERE email = ?1",
    [S_USER_BY_ID] = "SELECT " USER_COLUMNS " FROM users WHERE id = ?1",
    [S_ADMIN_EXISTS] = "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')",
    [S_SESSION_INSERT] =
        "INSERT INTO sessions (id, user_id, user_version, global_version, created_at, "
        "last_used_at, expires_at, user_agent, ip, counted) "
        "SELECT ?1, u.id, u.token_version, c.global_version, ?2, ?2, ?3, ?4, ?5, 1 "
        "FROM users u, security_config c WHERE u.id = ?6 "
        "RETURNING user_version, global_version",
    [S_REFRESH_INSERT] = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, "
                         "expires_at) VALUES (?1, ?2, ?3, ?4)",
    [S_REFRESH_LOOKUP] =
        "SELECT " SESSION_COLUMNS ", rt.expires_at, rt.retired_at, s.revoked_at, "
        "u.token_version, c.global_version, c.grace_version, c.grace_ends_at "
        "FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id "
        "JOIN users u ON u.id = s.user_id, security_config c WHERE rt.token_hash = ?1",
    [S_REFRESH_RETIRE] = "UPDATE refresh_tokens SET retired_at = ?1 WHERE token_hash = ?2",
    [S_SESSION_TOUCH] = "UPDATE sessions SET last_used_at = ?1, expires_at = ?2 WHERE id = ?3",
    [S_SESSION_REVOKE] = "UPDATE sessions SET revoked_at = ?1, revoke_reason = ?2 "
                         "WHERE id = ?3 AND revoked_at IS NULL AND (?4 IS NULL OR user_id = ?4)",
    [S_SESSIONS_LIST] =
        "SELECT " SESSION_COLUMNS " " ACTIVE_FROM "WHERE s.user_id = :user AND " ACTIVE_SESSION
        " ORDER BY s.last_used_at DESC, s.id LIMIT :limit",
    [S_COUNT_ACTIVE_USER] = "SELECT count(*), count(DISTINCT s.user_id) " ACTIVE_FROM
                            "WHERE s.user_id = :user AND " ACTIVE_SESSION,
    [S_CONFIG] = "SELECT global_version, grace_version, grace_ends_at, last_updated_at, "
                 "last_updated_by, last_rotation_reason FROM security_config WHERE id = 1",
    [S_CONFIG_UPDATE] = "UPDATE security_config SET global_version = ?1, grace_version = ?2, "
                        "grace_ends_at = ?3, last_updated_at = ?4, last_updated_by = ?5, "
                        "last_rotation_reason = ?6 WHERE id = 1",
    [S_USER_BUMP] = "UPDATE users SET token_version = token_version + 1, "
                    "password_hash = coalesce(?2, password_hash) WHERE id = ?1 "
                    "RETURNING token_version",
    [S_EVENT_INSERT] = "INSERT INTO rotation_events (rotation_type, user_id, old_version, "
                       "new_version, tokens_revoked, users_affected, reason, initiated_by, "
                       "grace_period_minutes, rotated_at) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
    [S_EVENTS_LIST] = "SELECT " EVENT_COLUMNS " FROM rotation_events ORDER BY id DESC "
                      "LIMIT ?1 OFFSET ?2",
    [S_EVENTS_COUNT] = "SELECT count(*) FROM rotation_events",
    [S_LOAD_USERS] = "SELECT id, token_version FROM users WHERE token_version > 1",
    [S_LOAD_REVOKED] = "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ?1",
    [S_SLOTS_GET] =
        "SELECT slot0_gen, slot0_count, slot1_gen, slot1_count FROM users WHERE id = ?1",
    [S_SLOTS_SET] = "UPDATE users SET slot0_gen = ?2, slot0_count = ?3, slot1_gen = ?4, "
                    "slot1_count = ?5 WHERE id = ?1",
    [S_COUNTS_GET] = "SELECT global_version, grace_version, grace_ends_at, cur_sessions, "
                     "cur_users, grace_sessions, grace_users, both_users FROM security_config "
                     "WHERE id = 1",
    [S_COUNTS_SET] = "UPDATE security_config SET cur_sessions = ?1, cur_users = ?2, "
                     "grace_sessions = ?3, grace_users = ?4, both_users = ?5 WHERE id = 1",
    [S_SESSION_UNCOUNT] = "UPDATE sessions SET counted = 0 WHERE id = ?1 AND counted = 1 "
                          "RETURNING user_id, global_version",
    [S_USER_UNCOUNT] = "UPDATE sessions SET counted = 0 WHERE user_id = ?1 AND counted = 1",
    [S_EXPIRED_COUNTED] = "SELECT id FROM sessions WHERE counted = 1 AND expires_at <= ?1 "
                          "LIMIT ?2",
};

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    sqlite3_stmt *stmts[S_COUNT];
};

static const struct store_ops sqlite_ops;

static struct sqlite_store *
to_sqlite(struct store *st)
{
    return (struct sqlite_store *)st;
}

static enum store_result
map_error(struct sqlite_store *s, int rc, const char *what)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        log_warning("sqlite", "%s: database is locked by another writer", what);
        return STORE_UNAVAILABLE;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            return STORE_CONFLICT;
        break;
    case SQLITE_READONLY:
        log_error("sqlite",
                  "%s: the database is read-only; check the permissions of the file "
                  "and of its folder (SQLite writes its -wal and -shm files there)",
                  what);
        return STORE_UNAVAILABLE;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
        log_error("sqlite", "%s: %s", what, sqlite3_errmsg(s->db));
        return STORE_UNAVAILABLE;
    }
    log_error("sqlite", "%s: %s (code %d)", what, sqlite3_errmsg(s->db), rc);
    return STORE_ERROR;
}

/* Returns the statement, prepared on first use and reset for this one; NULL on failure. */
static sqlite3_stmt *
stmt(struct sqlite_store *s, enum stmt_id id)
{
    sqlite3_stmt *p = s->stmts[id];

    if (p == NULL) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &p, NULL);

        if (rc != SQLITE_OK) {
            log_error("sqlite", "cannot prepare statement %d: %s", id, sqlite3_errmsg(s->db));
            return NULL;
        }
        s->stmts[id] = p;
    }
    sqlite3_reset(p);
    sqlite3_clear_bindings(p);
    return p;
}

/* Steps a statement that returns no row, or whose row the caller does not need. */
static enum store_result
run(struct sqlite_store *s, sqlite3_stmt *p, const char *what)
{
    int rc = sqlite3_step(p);

    sqlite3_reset(p);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return STORE_OK;
    return map_error(s, sqlite3_extended_errcode(s->db), what);
}

static enum store_result
run_simple(struct sqlite_store *s, enum stmt_id id, const char *what)
{
    sqlite3_stmt *p = stmt(s, id);

    return p ? run(s, p, what) : STORE_ERROR;
}

static enum store_result
begin(struct sqlite_store *s)
{
    return run_simple(s, S_BEGIN, "begin");
}

static enum store_result
commit(struct sqlite_store *s)
{
    return run_simple(s, S_COMMIT, "commit");
}

/* Ends a transaction that failed; the result the caller reports is `r`, not the rollback's. */
static enum store_result
rollback(struct sqlite_store *s, enum store_result r)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)run_simple(s, S_ROLLBACK, "rollback");
    return r;
}

static void
copy_column(sqlite3_stmt *p, int col, char *out, size_t outlen)
{
    const unsigned char *text = sqlite3_column_text(p, col);

    snprintf(out, outlen, "%s", text ? (const char *)text : "");
}

static int
bind_now(sqlite3_stmt *p, int64_t now)
{
    return sqlite3_bind_int64(p, sqlite3_bind_parameter_index(p, ":now"), now);
}

static void
read_user(sqlite3_stmt *p, struct user *u)
{
    char role[16];

    copy_column(p, 0, u->id, sizeof(u->id));
    copy_column(p, 1, u->email, sizeof(u->email));
    copy_column(p, 2, u->password_hash, sizeof(u->password_hash));
    copy_column(p, 3, role, sizeof(role));
    u->admin = strcmp(role, "admin") == 0;
    u->token_version = sqlite3_column_int64(p, 4);
    u->created_at = sqlite3_column_int64(p, 5);
}

/* Reads SESSION_COLUMNS starting at column 0. */
static void
read_session(sqlite3_stmt *p, struct session *out)
{
    char role[16];

    copy_column(p, 0, out->id, sizeof(out->id));
    copy_column(p, 1, out->user_id, sizeof(out->user_id));
    copy_column(p, 2, role, sizeof(role));
    out->admin = strcmp(role, "admin") == 0;
    out->user_version = sqlite3_column_int64(p, 3);
    out->global_version = sqlite3_column_int64(p, 4);
    out->created_at = sqlite3_column_int64(p, 5);
    out->last_used_at = sqlite3_column_int64(p, 6);
    out->expires_at = sqlite3_column_int64(p, 7);
    copy_column(p, 8, out->user_agent, sizeof(out->user_agent));
    copy_column(p, 9, out->ip, sizeof(out->ip));
}

static void
read_event(sqlite3_stmt *p, struct rotation_event *e)
{
    const unsigned char *type = sqlite3_column_text(p, 1);

    memset(e, 0, sizeof(*e));
    e->id = sqlite3_column_int64(p, 0);
    e->type = type && strcmp((const char *)type, "GLOBAL") == 0 ? ROTATION_GLOBAL : ROTATION_USER;
    copy_column(p, 2, e->user_id, sizeof(e->user_id));
    e->old_version = sqlite3_column_int64(p, 3);
    e->new_version = sqlite3_column_int64(p, 4);
    e->tokens_revoked = sqlite3_column_int64(p, 5);
    e->users_affected = sqlite3_column_int64(p, 6);
    copy_column(p, 7, e->reason, sizeof(e->reason));
    copy_column(p, 8, e->initiated_by, sizeof(e->initiated_by));
    e->grace_minutes = sqlite3_column_type(p, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(p, 9);
    e->rotated_at = sqlite3_column_int64(p, 10);
}

/* ---- Live counts (see counts.h): read, change and write back in the caller's transaction */

struct counts_state {
    struct global_state g;
    struct live_counts c;
};

static enum store_result
read_counts(struct sqlite_store *s, struct counts_state *out)
{
    sqlite3_stmt *p = stmt(s, S_COUNTS_GET);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        out->g = (struct global_state){sqlite3_column_int64(p, 0), sqlite3_column_int64(p, 1),
                                       sqlite3_column_int64(p, 2)};
        out->c = (struct live_counts){sqlite3_column_int64(p, 3), sqlite3_column_int64(p, 4),
                                      sqlite3_column_int64(p, 5), sqlite3_column_int64(p, 6),
                                      sqlite3_column_int64(p, 7)};
    }
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? STORE_OK : map_error(s, rc, "read live counts");
}

static enum store_result
write_counts(struct sqlite_store *s, const struct live_counts *c)
{
    sqlite3_stmt *p = stmt(s, S_COUNTS_SET);

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_int64(p, 1, c->cur_sessions);
    sqlite3_bind_int64(p, 2, c->cur_users);
    sqlite3_bind_int64(p, 3, c->grace_sessions);
    sqlite3_bind_int64(p, 4, c->grace_users);
    sqlite3_bind_int64(p, 5, c->both_users);
    return run(s, p, "write live counts");
}

static enum store_result
read_slots(struct sqlite_store *s, const char *user_id, struct user_slots *u)
{
    sqlite3_stmt *p = stmt(s, S_SLOTS_GET);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, user_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        u->slot[0] = (struct gen_slot){sqlite3_column_int64(p, 0), sqlite3_column_int64(p, 1)};
        u->slot[1] = (struct gen_slot){sqlite3_column_int64(p, 2), sqlite3_column_int64(p, 3)};
    }
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    return rc == SQLITE_ROW ? STORE_OK : map_error(s, rc, "read session slots");
}

static enum store_result
write_slots(struct sqlite_store *s, const char *user_id, const struct user_slots *u)
{
    sqlite3_stmt *p = stmt(s, S_SLOTS_SET);

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, user_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(p, 2, u->slot[0].gen);
    sqlite3_bind_int64(p, 3, u->slot[0].count);
    sqlite3_bind_int64(p, 4, u->slot[1].gen);
    sqlite3_bind_int64(p, 5, u->slot[1].count);
    return run(s, p, "write session slots");
}

/* Applies one change of a user's sessions to the live counts. `gen` is the global generation
 * of the session removed (COUNT_REMOVED only). */
static enum store_result
change_counts(struct sqlite_store *s, const char *user_id, enum count_change change, int64_t gen,
              int64_t now)
{
    struct counts_state cs;
    struct user_slots u;
    enum store_result r;

    if ((r = read_counts(s, &cs)) != STORE_OK || (r = read_slots(s, user_id, &u)) != STORE_OK)
        return r;
    counts_apply(&cs.g, now, change, gen, &u, &cs.c);
    if ((r = write_slots(s, user_id, &u)) != STORE_OK)
        return r;
    return write_counts(s, &cs.c);
}

/* Takes one session out of the live counts, if it is in them. */
static enum store_result
uncount_session(struct sqlite_store *s, const char *session_id, int64_t now)
{
    sqlite3_stmt *p = stmt(s, S_SESSION_UNCOUNT);
    char user_id[TOKEN_UUID_LEN];
    int64_t gen = 0;
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, session_id, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        copy_column(p, 0, user_id, sizeof(user_id));
        gen = sqlite3_column_int64(p, 1);
    }
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return STORE_OK; /* not counted: nothing to do */
    if (rc != SQLITE_ROW)
        return map_error(s, rc, "uncount session");
    return change_counts(s, user_id, COUNT_REMOVED, gen, now);
}

/* Takes up to SWEEP_BATCH expired sessions out of the live counts; `swept` says how many. */
static enum store_result
sweep_batch(struct sqlite_store *s, int64_t now, int *swept)
{
    static _Thread_local char ids[SWEEP_BATCH][TOKEN_UUID_LEN];
    sqlite3_stmt *p = stmt(s, S_EXPIRED_COUNTED);
    enum store_result r = STORE_OK;
    int rc, n = 0;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_int64(p, 1, now);
    sqlite3_bind_int(p, 2, SWEEP_BATCH);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW)
        copy_column(p, 0, ids[n++], TOKEN_UUID_LEN);
    sqlite3_reset(p);
    if (rc != SQLITE_DONE)
        return map_error(s, rc, "find expired sessions");
    for (int i = 0; i < n && r == STORE_OK; i++)
        r = uncount_session(s, ids[i], now);
    *swept = n;
    return r;
}

/* Sweeps every expired session still counted, so that the counts are exact at `now`. The
 * housekeeping thread keeps this backlog to about a second's worth of expiries. */
static enum store_result
sweep_all(struct sqlite_store *s, int64_t now)
{
    enum store_result r;
    int swept;

    do {
        r = sweep_batch(s, now, &swept);
    } while (r == STORE_OK && swept == SWEEP_BATCH);
    return r;
}

static enum store_result
sqlite_sweep(struct store *st, int64_t now, int64_t *swept)
{
    struct sqlite_store *s = to_sqlite(st);
    enum store_result r;
    int n = 0;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = sweep_batch(s, now, &n)) != STORE_OK)
        return rollback(s, r);
    *swept = n;
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

/* ---- Opening and migrating ---- */

static enum store_result
exec(struct sqlite_store *s, const char *sql, const char *what)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return STORE_OK;
    log_error("sqlite", "%s: %s", what, msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    return STORE_ERROR;
}

static int
latest_known_version(void)
{
    int latest = 0;

    for (const struct migration *m = sqlite_migrations; m->sql != NULL; m++)
        latest = m->version;
    return latest;
}

static enum store_result
current_schema_version(struct sqlite_store *s, int *out)
{
    sqlite3_stmt *p = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1,
                            &p, NULL);
    if (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW)
        *out = sqlite3_column_int(p, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize(p);
    return rc == SQLITE_OK ? STORE_OK : map_error(s, rc, "schema version");
}

static enum store_result
apply_migration(struct sqlite_store *s, const struct migration *m)
{
    char record[160];
    enum store_result r;

    snprintf(record, sizeof(record),
             "INSERT INTO schema_migrations (version, name, applied_at) "
             "VALUES (%d, '%s', CAST(strftime('%%s', 'now') AS INTEGER))",
             m->version, m->name);
    if ((r = exec(s, "BEGIN IMMEDIATE", "begin migration")) != STORE_OK)
        return r;
    if ((r = exec(s, m->sql, m->name)) != STORE_OK || (r = exec(s, record, m->name)) != STORE_OK)
        return rollback(s, r);
    if ((r = exec(s, "COMMIT", "commit migration")) != STORE_OK)
        return rollback(s, r);
    log_info("sqlite", "applied schema migration %s", m->name);
    return STORE_OK;
}

static enum store_result
sqlite_migrate(struct store *st, int *from, int *to)
{
    struct sqlite_store *s = to_sqlite(st);
    int latest = latest_known_version();
    enum store_result r;

    r = exec(s,
             "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
             "name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
             "create schema_migrations");
    if (r != STORE_OK || (r = current_schema_version(s, from)) != STORE_OK)
        return r;
    *to = *from;
    if (*from > latest) {
        log_error("sqlite",
                  "the database schema is at version %d, newer than this rotator knows (%d); "
                  "run a newer rotator",
                  *from, latest);
        return STORE_ERROR;
    }
    for (const struct migration *m = sqlite_migrations; m->sql != NULL; m++) {
        if (m->version <= *from)
            continue;
        if ((r = apply_migration(s, m)) != STORE_OK)
            return r;
        *to = m->version;
    }
    /* A database that opens but cannot be written would answer every login with an error:
     * find out now, with a write that is rolled back. */
    r = exec(s,
             "BEGIN IMMEDIATE; UPDATE security_config SET last_updated_at = last_updated_at; "
             "ROLLBACK",
             "check that the database is writable");
    return rollback(s, r);
}

static enum store_result
sqlite_ping(struct store *st)
{
    return run_simple(to_sqlite(st), S_PING, "ping");
}

static void
sqlite_close(struct store *st)
{
    struct sqlite_store *s = to_sqlite(st);

    if (s == NULL)
        return;
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(s->stmts[i]);
    sqlite3_close(s->db);
    free(s);
}

struct store *
store_sqlite_open(const char *path, char *err, size_t errlen)
{
    struct sqlite_store *s = calloc(1, sizeof(*s));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &sqlite_ops;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open SQLite database %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(s->db, 1);
    /* WAL lets readers run beside the one writer; NORMAL sync is durable at each checkpoint
     * and safe against corruption, which is the usual choice with WAL. */
    if (exec(s, "PRAGMA journal_mode = WAL", "journal mode") != STORE_OK ||
        exec(s, "PRAGMA synchronous = NORMAL", "synchronous") != STORE_OK ||
        exec(s, "PRAGMA foreign_keys = ON", "foreign keys") != STORE_OK) {
        snprintf(err, errlen, "cannot configure SQLite database %s: %s", path,
                 sqlite3_errmsg(s->db));
        goto fail;
    }
    return &s->base;
fail:
    sqlite_close(&s->base);
    return NULL;
}

/* ---- Users ---- */

static enum store_result
sqlite_user_create(struct store *st, const struct user *u)
{
    struct sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *p = stmt(s, S_USER_INSERT);

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, u->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, u->password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 4, u->admin ? "admin" : "user", -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 5, u->created_at);
    return run(s, p, "create user");
}

static enum store_result
user_lookup(struct sqlite_store *s, enum stmt_id id, const char *key, struct user *out)
{
    sqlite3_stmt *p = stmt(s, id);
    enum store_result r = STORE_NOT_FOUND;
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        read_user(p, out);
        r = STORE_OK;
    } else if (rc != SQLITE_DONE) {
        r = map_error(s, rc, "look up user");
    }
    sqlite3_reset(p);
    return r;
}

static enum store_result
sqlite_user_by_email(struct store *st, const char *email, struct user *out)
{
    return user_lookup(to_sqlite(st), S_USER_BY_EMAIL, email, out);
}

static enum store_result
sqlite_user_by_id(struct store *st, const char *id, struct user *out)
{
    return user_lookup(to_sqlite(st), S_USER_BY_ID, id, out);
}

static enum store_result
sqlite_admin_exists(struct store *st, bool *out)
{
    struct sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *p = stmt(s, S_ADMIN_EXISTS);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    rc = sqlite3_step(p);
    *out = rc == SQLITE_ROW && sqlite3_column_int(p, 0) != 0;
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? STORE_OK : map_error(s, rc, "find an admin");
}

/* ---- Sessions and refresh tokens ---- */

static enum store_result
insert_refresh_token(struct sqlite_store *s, const uint8_t hash[TOKEN_HASH_LEN],
                     const char *session_id, int64_t now, int64_t ttl)
{
    sqlite3_stmt *p = stmt(s, S_REFRESH_INSERT);

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_blob(p, 1, hash, TOKEN_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, session_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 3, now);
    sqlite3_bind_int64(p, 4, now + ttl);
    return run(s, p, "store refresh token");
}

static enum store_result
insert_session(struct sqlite_store *s, struct session *sess)
{
    sqlite3_stmt *p = stmt(s, S_SESSION_INSERT);
    enum store_result r = STORE_NOT_FOUND;
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, sess->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 2, sess->created_at);
    sqlite3_bind_int64(p, 3, sess->expires_at);
    sqlite3_bind_text(p, 4, sess->user_agent, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 5, sess->ip, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 6, sess->user_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        sess->user_version = sqlite3_column_int64(p, 0);
        sess->global_version = sqlite3_column_int64(p, 1);
        r = STORE_OK;
    } else if (rc != SQLITE_DONE) {
        r = map_error(s, sqlite3_extended_errcode(s->db), "create session");
    }
    sqlite3_reset(p);
    return r;
}

static enum store_result
sqlite_session_create(struct store *st, struct session *sess,
                      const uint8_t refresh_hash[TOKEN_HASH_LEN], int64_t ttl)
{
    struct sqlite_store *s = to_sqlite(st);
    enum store_result r;

    sess->last_used_at = sess->created_at;
    sess->expires_at = sess->created_at + ttl;
    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = insert_session(s, sess)) != STORE_OK ||
        (r = insert_refresh_token(s, refresh_hash, sess->id, sess->created_at, ttl)) != STORE_OK ||
        (r = change_counts(s, sess->user_id, COUNT_ADDED, 0, sess->created_at)) != STORE_OK)
        return rollback(s, r);
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

static enum store_result
revoke_session(struct sqlite_store *s, const char *session_id, const char *user_id, int64_t now,
               const char *reason)
{
    sqlite3_stmt *p = stmt(s, S_SESSION_REVOKE);
    enum store_result r;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_int64(p, 1, now);
    sqlite3_bind_text(p, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, session_id, -1, SQLITE_STATIC);
    if (user_id != NULL)
        sqlite3_bind_text(p, 4, user_id, -1, SQLITE_STATIC);
    r = run(s, p, "revoke session");
    if (r == STORE_OK && sqlite3_changes(s->db) == 0)
        r = STORE_NOT_FOUND;
    if (r == STORE_OK)
        r = uncount_session(s, session_id, now);
    return r;
}

/* Decides a refresh from the row S_REFRESH_LOOKUP found, without changing anything. */
static enum refresh_outcome
judge_refresh(sqlite3_stmt *p, int64_t now)
{
    struct global_state g;
    int64_t user_version = sqlite3_column_int64(p, 3);
    int64_t global_version = sqlite3_column_int64(p, 4);

    if (sqlite3_column_type(p, 11) != SQLITE_NULL)
        return REFRESH_REUSED;
    if (sqlite3_column_type(p, 12) != SQLITE_NULL)
        return REFRESH_REVOKED;
    if (sqlite3_column_int64(p, 10) <= now)
        return REFRESH_EXPIRED;

    g.version = sqlite3_column_int64(p, 14);
    g.grace_version = sqlite3_column_int64(p, 15);
    g.grace_ends_at = sqlite3_column_int64(p, 16);
    if (user_version != sqlite3_column_int64(p, 13) ||
        !revstate_generation_accepted(&g, global_version, now))
        return REFRESH_ROTATED;
    return REFRESH_OK;
}

static enum store_result
lookup_refresh(struct sqlite_store *s, const uint8_t hash[TOKEN_HASH_LEN], int64_t now,
               enum refresh_outcome *outcome, struct session *out)
{
    sqlite3_stmt *p = stmt(s, S_REFRESH_LOOKUP);
    enum store_result r = STORE_OK;
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_blob(p, 1, hash, TOKEN_HASH_LEN, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        read_session(p, out);
        *outcome = judge_refresh(p, now);
    } else if (rc == SQLITE_DONE) {
        *outcome = REFRESH_UNKNOWN;
    } else {
        r = map_error(s, rc, "look up refresh token");
    }
    sqlite3_reset(p);
    return r;
}

static enum store_result
rotate_refresh_token(struct sqlite_store *s, const uint8_t old_hash[TOKEN_HASH_LEN],
                     const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now, int64_t ttl,
                     struct session *sess)
{
    sqlite3_stmt *p;
    enum store_result r;

    if ((p = stmt(s, S_REFRESH_RETIRE)) == NULL)
        return STORE_ERROR;
    sqlite3_bind_int64(p, 1, now);
    sqlite3_bind_blob(p, 2, old_hash, TOKEN_HASH_LEN, SQLITE_STATIC);
    if ((r = run(s, p, "retire refresh token")) != STORE_OK)
        return r;
    if ((r = insert_refresh_token(s, new_hash, sess->id, now, ttl)) != STORE_OK)
        return r;

    if ((p = stmt(s, S_SESSION_TOUCH)) == NULL)
        return STORE_ERROR;
    sess->last_used_at = now;
    sess->expires_at = now + ttl;
    sqlite3_bind_int64(p, 1, now);
    sqlite3_bind_int64(p, 2, now + ttl);
    sqlite3_bind_text(p, 3, sess->id, -1, SQLITE_STATIC);
    return run(s, p, "touch session");
}

static enum store_result
sqlite_session_refresh(struct store *st, const uint8_t old_hash[TOKEN_HASH_LEN],
                       const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now, int64_t ttl,
                       enum refresh_outcome *outcome, struct session *out)
{
    struct sqlite_store *s = to_sqlite(st);
    enum store_result r;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = lookup_refresh(s, old_hash, now, outcome, out)) != STORE_OK)
        return rollback(s, r);

    switch (*outcome) {
    case REFRESH_OK:
        r = rotate_refresh_token(s, old_hash, new_hash, now, ttl, out);
        break;
    case REFRESH_REUSED:
        /* Someone holds a copy of a retired token: the lineage is no longer trustworthy. */
        r = revoke_session(s, out->id, NULL, now, "refresh token reuse");
        if (r == STORE_NOT_FOUND)
            r = STORE_OK; /* already revoked */
        break;
    default:
        break;
    }
    if (r != STORE_OK)
        return rollback(s, r);
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

static enum store_result
sqlite_session_revoke(struct store *st, const char *session_id, const char *user_id, int64_t now,
                      const char *reason)
{
    struct sqlite_store *s = to_sqlite(st);
    enum store_result r;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = revoke_session(s, session_id, user_id, now, reason)) != STORE_OK)
        return rollback(s, r);
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

static enum store_result
sqlite_sessions_list(struct store *st, const char *user_id, int64_t now, store_session_fn each,
                     void *arg)
{
    struct sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *p = stmt(s, S_SESSIONS_LIST);
    struct session sess;
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, sqlite3_bind_parameter_index(p, ":user"), user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(p, sqlite3_bind_parameter_index(p, ":limit"), LIMIT_SESSIONS_LISTED);
    bind_now(p, now);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        read_session(p, &sess);
        each(&sess, arg);
    }
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? STORE_OK : map_error(s, rc, "list sessions");
}

/* Counts a user's active sessions (and 1 user, or 0), with one indexed query. */
static enum store_result
count_active(struct sqlite_store *s, const char *user_id, int64_t now, int64_t *sessions,
             int64_t *users)
{
    sqlite3_stmt *p = stmt(s, S_COUNT_ACTIVE_USER);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, sqlite3_bind_parameter_index(p, ":user"), user_id, -1, SQLITE_STATIC);
    bind_now(p, now);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        *sessions = sqlite3_column_int64(p, 0);
        *users = sqlite3_column_int64(p, 1);
    }
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? STORE_OK : map_error(s, rc, "count active sessions");
}

static enum store_result
sqlite_sessions_count_active(struct store *st, int64_t now, int64_t *out)
{
    struct sqlite_store *s = to_sqlite(st);
    struct counts_state cs;
    enum store_result r;
    int64_t users;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = sweep_all(s, now)) != STORE_OK || (r = read_counts(s, &cs)) != STORE_OK)
        return rollback(s, r);
    counts_active(&cs.g, now, &cs.c, out, &users);
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

/* ---- Rotations and the audit trail ---- */

static enum store_result
read_config(struct sqlite_store *s, struct security_config *out)
{
    sqlite3_stmt *p = stmt(s, S_CONFIG);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        out->global.version = sqlite3_column_int64(p, 0);
        out->global.grace_version = sqlite3_column_int64(p, 1);
        out->global.grace_ends_at = sqlite3_column_int64(p, 2);
        out->last_updated_at = sqlite3_column_int64(p, 3);
        copy_column(p, 4, out->last_updated_by, sizeof(out->last_updated_by));
        copy_column(p, 5, out->last_rotation_reason, sizeof(out->last_rotation_reason));
    }
    sqlite3_reset(p);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    if (rc == SQLITE_DONE) {
        log_error("sqlite", "security_config has no row; the schema guarantees one, so the "
                            "database was changed by hand");
        return STORE_ERROR;
    }
    return map_error(s, rc, "read security_config");
}

static enum store_result
insert_event(struct sqlite_store *s, struct rotation_event *e)
{
    sqlite3_stmt *p = stmt(s, S_EVENT_INSERT);
    int rc;

    if (p == NULL)
        return STORE_ERROR;
    sqlite3_bind_text(p, 1, e->type == ROTATION_GLOBAL ? "GLOBAL" : "USER", -1, SQLITE_STATIC);
    if (e->user_id[0] != '\0')
        sqlite3_bind_text(p, 2, e->user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 3, e->old_version);
    sqlite3_bind_int64(p, 4, e->new_version);
    sqlite3_bind_int64(p, 5, e->tokens_revoked);
    sqlite3_bind_int64(p, 6, e->users_affected);
    sqlite3_bind_text(p, 7, e->reason, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 8, e->initiated_by, -1, SQLITE_STATIC);
    if (e->grace_minutes >= 0)
        sqlite3_bind_int(p, 9, e->grace_minutes);
    sqlite3_bind_int64(p, 10, e->rotated_at);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW)
        e->id = sqlite3_column_int64(p, 0);
    sqlite3_reset(p);
    return rc == SQLITE_ROW ? STORE_OK : map_error(s, rc, "write audit event");
}

static enum store_result
bump_user(struct sqlite_store *s, const struct rotation_request *rq, struct rotation_event *e)
{
    sqlite3_stmt *p;
    enum store_result r;
    int rc;

    r = count_active(s, rq->user_id, rq->now, &e->tokens_revoked, &e->users_affected);
    if (r != STORE_OK || (p = stmt(s, S_USER_BUMP)) == NULL)
        return r != STORE_OK ? r : STORE_ERROR;
    sqlite3_bind_text(p, 1, rq->user_id, -1, SQLITE_STATIC);
    if (rq->new_password_hash != NULL)
        sqlite3_bind_text(p, 2, rq->new_password_hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        e->new_version = sqlite3_column_int64(p, 0);
        e->old_version = e->new_version - 1;
    }
    sqlite3_reset(p);
    if (rc == SQLITE_DONE)
        return STORE_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return map_error(s, rc, "bump user version");

    /* Every session of the user is over: out of the live counts with them. */
    if ((r = change_counts(s, rq->user_id, COUNT_USER_CLEARED, 0, rq->now)) != STORE_OK ||
        (p = stmt(s, S_USER_UNCOUNT)) == NULL)
        return r != STORE_OK ? r : STORE_ERROR;
    sqlite3_bind_text(p, 1, rq->user_id, -1, SQLITE_STATIC);
    return run(s, p, "uncount user sessions");
}

static enum store_result
bump_global(struct sqlite_store *s, const struct rotation_request *rq, struct rotation_event *e)
{
    struct global_state *next = &e->global_after;
    struct counts_state cs;
    enum store_result r;
    sqlite3_stmt *p;

    /* Everyone active is cut off, at once or when the window closes: the live counts say how
     * many without a scan. */
    if ((r = sweep_all(s, rq->now)) != STORE_OK || (r = read_counts(s, &cs)) != STORE_OK)
        return r;
    counts_active(&cs.g, rq->now, &cs.c, &e->tokens_revoked, &e->users_affected);
    counts_global_rotated(&cs.c);
    if ((r = write_counts(s, &cs.c)) != STORE_OK || (p = stmt(s, S_CONFIG_UPDATE)) == NULL)
        return r != STORE_OK ? r : STORE_ERROR;

    /* Only the generation just retired gets a grace window; an older one still in its window
     * is cut off now, so a second rotation never extends the life of any token. */
    e->old_version = cs.g.version;
    e->new_version = cs.g.version + 1;
    next->version = e->new_version;
    next->grace_version = rq->grace_minutes > 0 ? e->old_version : 0;
    next->grace_ends_at = rq->grace_minutes > 0 ? rq->now + rq->grace_minutes * 60 : 0;

    sqlite3_bind_int64(p, 1, next->version);
    if (next->grace_version != 0) {
        sqlite3_bind_int64(p, 2, next->grace_version);
        sqlite3_bind_int64(p, 3, next->grace_ends_at);
    }
    sqlite3_bind_int64(p, 4, rq->now);
    sqlite3_bind_text(p, 5, rq->initiated_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 6, rq->reason, -1, SQLITE_STATIC);
    return run(s, p, "update security_config");
}

static enum store_result
sqlite_rotate(struct store *st, const struct rotation_request *rq, struct rotation_event *e)
{
    struct sqlite_store *s = to_sqlite(st);
    enum store_result r;

    memset(e, 0, sizeof(*e));
    e->type = rq->type;
    e->rotated_at = rq->now;
    e->grace_minutes = rq->type == ROTATION_GLOBAL ? rq->grace_minutes : -1;
    snprintf(e->reason, sizeof(e->reason), "%s", rq->reason);
    snprintf(e->initiated_by, sizeof(e->initiated_by), "%s", rq->initiated_by);
    if (rq->type == ROTATION_USER)
        snprintf(e->user_id, sizeof(e->user_id), "%s", rq->user_id);

    if ((r = begin(s)) != STORE_OK)
        return r;
    r = rq->type == ROTATION_USER ? bump_user(s, rq, e) : bump_global(s, rq, e);
    if (r != STORE_OK || (r = insert_event(s, e)) != STORE_OK)
        return rollback(s, r);
    return (r = commit(s)) == STORE_OK ? STORE_OK : rollback(s, r);
}

static enum store_result
sqlite_security_config(struct store *st, struct security_config *out)
{
    return read_config(to_sqlite(st), out);
}

static enum store_result
sqlite_events_list(struct store *st, int64_t limit, int64_t offset, store_event_fn each, void *arg,
                   int64_t *total)
{
    struct sqlite_store *s = to_sqlite(st);
    struct rotation_event *e = malloc(sizeof(*e));
    enum store_result r = STORE_ERROR;
    sqlite3_stmt *p;
    int rc;

    if (e == NULL || (p = stmt(s, S_EVENTS_COUNT)) == NULL)
        goto out;
    rc = sqlite3_step(p);
    *total = rc == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
    sqlite3_reset(p);
    if (rc != SQLITE_ROW) {
        r = map_error(s, rc, "count audit events");
        goto out;
    }

    if ((p = stmt(s, S_EVENTS_LIST)) == NULL)
        goto out;
    sqlite3_bind_int64(p, 1, limit);
    sqlite3_bind_int64(p, 2, offset);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        read_event(p, e);
        each(e, arg);
    }
    sqlite3_reset(p);
    r = rc == SQLITE_DONE ? STORE_OK : map_error(s, rc, "list audit events");
out:
    free(e);
    return r;
}

static enum store_result
sqlite_load_revocations(struct store *st, int64_t revoked_since, store_user_version_fn user_fn,
                        store_revoked_fn session_fn, void *arg)
{
    struct sqlite_store *s = to_sqlite(st);
    sqlite3_stmt *p;
    int rc;

    if ((p = stmt(s, S_LOAD_USERS)) == NULL)
        return STORE_ERROR;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW)
        user_fn((const char *)sqlite3_column_text(p, 0), sqlite3_column_int64(p, 1), arg);
    sqlite3_reset(p);
    if (rc != SQLITE_DONE)
        return map_error(s, rc, "load user versions");

    if ((p = stmt(s, S_LOAD_REVOKED)) == NULL)
        return STORE_ERROR;
    sqlite3_bind_int64(p, 1, revoked_since);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW)
        session_fn((const char *)sqlite3_column_text(p, 0), sqlite3_column_int64(p, 1), arg);
    sqlite3_reset(p);
    return rc == SQLITE_DONE ? STORE_OK : map_error(s, rc, "load revoked sessions");
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .migrate = sqlite_migrate,
    .ping = sqlite_ping,
    .user_create = sqlite_user_create,
    .user_by_email = sqlite_user_by_email,
    .user_by_id = sqlite_user_by_id,
    .admin_exists = sqlite_admin_exists,
    .session_create = sqlite_session_create,
    .session_refresh = sqlite_session_refresh,
    .session_revoke = sqlite_session_revoke,
    .sessions_list = sqlite_sessions_list,
    .sessions_count_active = sqlite_sessions_count_active,
    .sweep = sqlite_sweep,
    .rotate = sqlite_rotate,
    .security_config = sqlite_security_config,
    .events_list = sqlite_events_list,
    .load_revocations = sqlite_load_revocations,
};
