/* The PostgreSQL backend: libpq, and one connection pool per database shared by every thread.
 *
 * A `struct store` takes a connection from its pool for one operation and gives it back at the
 * end, so that a few connections serve all the server threads.
 *
 * Writers take row locks (SELECT ... FOR UPDATE) before they read what they will change, which
 * gives the guarantees of SQLite's BEGIN IMMEDIATE. Logins, logouts, rotations and sweeps
 * change the live counts (counts.h) in the security_config row, so each locks that row first,
 * before any session or user row: they queue in one order, never deadlock, and lose no update;
 * two rotations never read the same old version, and audit event ids stay gapless. A rotation
 * also locks the user row it bumps. A refresh locks the refresh token it retires, so that two
 * refreshes of one token never both succeed, while refreshes of different sessions run side by
 * side.
 *
 * Connections, and what happens when the server goes away, are the pool's business
 * (pg_pool.c). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store/counts.h"
#include "store/migrations.h"
#include "store/pg_pool.h"
#include "store/store.h"
#include "util/log.h"

/* The advisory lock that lets one process at a time migrate the schema ("rota"). */
#define MIGRATION_LOCK "SELECT pg_advisory_xact_lock(1919906913)"

enum { MAX_PARAMS = 10 };

/* Expired sessions leave the live counts in batches of this many. */
enum { SWEEP_BATCH = 1000 };

/* A session is active when it is not revoked or expired and both of its generations still
 * hold. Needs `s` (sessions), `u` (its user), `c` (security_config) and `now` as $1. */
#define ACTIVE_SESSION                                                                             \
    "s.revoked_at IS NULL AND s.expires_at > $1 AND s.user_version = u.token_version "             \
    "AND (s.global_version = c.global_version "                                                    \
    "     OR (s.global_version = c.grace_version AND c.grace_ends_at > $1))"

#define ACTIVE_FROM "FROM sessions s JOIN users u ON u.id = s.user_id, security_config c "

#define USER_COLUMNS "id, email, password_hash, role, token_version, created_at"

#define SESSION_COLUMNS                                                                            \
    "s.id, s.user_id, u.role, s.user_version, s.global_version, s.created_at, s.last_used_at, "    \
    "s.expires_at, s.user_agent, s.ip"

#define EVENT_COLUMNS                                                                              \
    "id, rotation_type, user_id, old_version, new_version, tokens_revoked, users_affected, "       \
    "reason, initiated_by, grace_period_minutes, rotated_at"

/* One bit per statement in pg_conn.prepared. */
enum stmt_id {
    S_PING,
    S_USER_INSERT,
    S_USER_BY_EMAIL,
    S_USER_BY_ID,
    S_ADMIN_EXISTS,
    S_SESSION_INSERT,
    S_REFRESH_INSERT,
    S_REFRESH_LOCK,
    S_REFRESH_LOOKUP,
    S_REFRESH_RETIRE,
    S_SESSION_TOUCH,
    S_SESSION_REVOKE,
    S_SESSIONS_LIST,
    S_COUNT_ACTIVE_USER,
    S_CONFIG,
    S_CONFIG_UPDATE,
    S_USER_LOCK,
    S_USER_BUMP,
    S_EVENT_INSERT,
    S_EVENTS_LIST,
    S_EVENTS_COUNT,
    S_LOAD_USERS,
    S_LOAD_REVOKED,
    S_COUNTS_LOCK,
    S_COUNTS_GET,
    S_COUNTS_SET,
    S_SLOTS_GET,
    S_SLOTS_SET,
    S_SESSION_UNCOUNT,
    S_USER_UNCOUNT,
    S_EXPIRED_COUNTED,
    S_COUNT
};

/* Parameters whose type the statement does not fix carry a cast. Emails compare like SQLite's
 * NOCASE (ASCII only) through lower() under the "C" collation, which the unique index uses;
 * ids sort bytewise for the same reason. */
_Static_assert(S_COUNT <= 64, "pg_conn.prepared has one bit per statement");

static const char *const stmt_sql[S_COUNT] = {
    [S_PING] = "SELECT global_version FROM security_config WHERE id = 1",
    [S_USER_INSERT] = "INSERT INTO users (" USER_COLUMNS ") VALUES ($1, $2, $3, $4, 1, $5)",
    [S_USER_BY_EMAIL] = "SELECT " USER_COLUMNS " FROM users "
                        "WHERE lower(email COLLATE \"C\") = lower($1::text COLLATE \"C\")",
    [S_USER_BY_ID] = "SELECT " USER_COLUMNS " FROM users WHERE id = $1",
    [S_ADMIN_EXISTS] = "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')",
    [S_SESSION_INSERT] =
        "INSERT INTO sessions (id, user_id, user_version, global_version, created_at, "
        "last_used_at, expires_at, user_agent, ip, counted) "
        "SELECT $1::text, u.id, u.token_version, c.global_version, $2::bigint, $2::bigint, "
        "$3::bigint, $4::text, $5::text, true FROM users u, security_config c "
        "WHERE u.id = $6::text RETURNING user_version, global_version",
    [S_REFRESH_INSERT] = "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, "
                         "expires_at) VALUES ($1, $2, $3, $4)",
    [S_REFRESH_LOCK] = "SELECT 1 FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
    [S_REFRESH_LOOKUP] =
        "SELECT " SESSION_COLUMNS ", rt.expires_at, rt.retired_at, s.revoked_at, "
        "u.token_version, c.global_version, c.grace_version, c.grace_ends_at "
        "FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id "
        "JOIN users u ON u.id = s.user_id, security_config c WHERE rt.token_hash = $1",
    [S_REFRESH_RETIRE] = "UPDATE refresh_tokens SET retired_at = $1 WHERE token_hash = $2",
    [S_SESSION_TOUCH] = "UPDATE sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3",
    [S_SESSION_REVOKE] =
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 "
        "WHERE id = $3 AND revoked_at IS NULL AND ($4::text IS NULL OR user_id = $4::text)",
    [S_SESSIONS_LIST] =
        "SELECT " SESSION_COLUMNS " " ACTIVE_FROM "WHERE s.user_id = $2 AND " ACTIVE_SESSION
        " ORDER BY s.last_used_at DESC, s.id COLLATE \"C\" LIMIT $3",
    [S_COUNT_ACTIVE_USER] = "SELECT count(*), count(DISTINCT s.user_id) " ACTIVE_FROM
                            "WHERE s.user_id = $2 AND " ACTIVE_SESSION,
    [S_CONFIG] = "SELECT global_version, grace_version, grace_ends_at, last_updated_at, "
                 "last_updated_by, last_rotation_reason FROM security_config WHERE id = 1",
    [S_CONFIG_UPDATE] = "UPDATE security_config SET global_version = $1, grace_version = $2, "
                        "grace_ends_at = $3, last_updated_at = $4, last_updated_by = $5, "
                        "last_rotation_reason = $6 WHERE id = 1",
    [S_USER_LOCK] = "SELECT token_version FROM users WHERE id = $1 FOR UPDATE",
    [S_USER_BUMP] = "UPDATE users SET token_version = token_version + 1, "
                    "password_hash = coalesce($2, password_hash) WHERE id = $1 "
                    "RETURNING token_version",
    /* Gapless ids: the caller holds the security_config row, so no other insert runs. */
    [S_EVENT_INSERT] = "INSERT INTO rotation_events (id, rotation_type, user_id, old_version, "
                       "new_version, tokens_revoked, users_affected, reason, initiated_by, "
                       "grace_period_minutes, rotated_at) "
                       "VALUES ((SELECT coalesce(max(id), 0) + 1 FROM rotation_events), "
                       "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    [S_EVENTS_LIST] = "SELECT " EVENT_COLUMNS " FROM rotation_events ORDER BY id DESC "
                      "LIMIT $1 OFFSET $2",
    [S_EVENTS_COUNT] = "SELECT count(*) FROM rotation_events",
    [S_LOAD_USERS] = "SELECT id, token_version FROM users WHERE token_version > 1",
    [S_LOAD_REVOKED] = "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1",
    [S_COUNTS_LOCK] = "SELECT 1 FROM security_config WHERE id = 1 FOR UPDATE",
    [S_COUNTS_GET] = "SELECT global_version, grace_version, grace_ends_at, cur_sessions, "
                     "cur_users, grace_sessions, grace_users, both_users FROM security_config "
                     "WHERE id = 1",
    [S_COUNTS_SET] = "UPDATE security_config SET cur_sessions = $1, cur_users = $2, "
                     "grace_sessions = $3, grace_users = $4, both_users = $5 WHERE id = 1",
    [S_SLOTS_GET] =
        "SELECT slot0_gen, slot0_count, slot1_gen, slot1_count FROM users WHERE id = $1",
    [S_SLOTS_SET] = "UPDATE users SET slot0_gen = $2, slot0_count = $3, slot1_gen = $4, "
                    "slot1_count = $5 WHERE id = $1",
    [S_SESSION_UNCOUNT] = "UPDATE sessions SET counted = false WHERE id = $1 AND counted "
                          "RETURNING user_id, global_version",
    [S_USER_UNCOUNT] = "UPDATE sessions SET counted = false WHERE user_id = $1 AND counted",
    [S_EXPIRED_COUNTED] = "SELECT id FROM sessions WHERE counted AND expires_at <= $1 LIMIT $2",
};

/* SQLSTATEs that mean "try again later": the server is going away or out of resources, or a
 * lock stayed taken. An entry of two characters stands for its whole class. */
static const char *const transient_states[] = {
    "08",    /* connection exception */
    "53",    /* insufficient resources, e.g. too many connections */
    "57P01", /* admin shutdown */
    "57P02", /* crash shutdown */
    "57P03", /* cannot connect now: starting up */
    "57014", /* query canceled */
    "55P03", /* lock not available: lock_timeout */
    "40001", /* serialization failure */
    "40P01", /* deadlock detected */
};

struct pg_store {
    struct store base;
    struct pg_pool *pool;
    struct pg_conn *c; /* held during an operation, NULL between them */
};

/* Parameters of one statement: text, or binary for the token hashes. */
struct params {
    int n;
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS];
    int formats[MAX_PARAMS];
    char numbers[MAX_PARAMS][24];
};

static const struct store_ops pg_ops;

static struct pg_store *
to_pg(struct store *st)
{
    return (struct pg_store *)st;
}

/* Takes a connection for one operation. */
static enum store_result
acquire(struct pg_store *s)
{
    return pg_pool_acquire(s->pool, &s->c);
}

/* Gives the operation's connection back and returns `r`. */
static enum store_result
release(struct pg_store *s, enum store_result r)
{
    pg_pool_release(s->pool, s->c);
    s->c = NULL;
    return r;
}

/* ---- Statements ---- */

static bool
is_transient(const char *state)
{
    for (size_t i = 0; i < sizeof(transient_states) / sizeof(transient_states[0]); i++) {
        if (strncmp(state, transient_states[i], strlen(transient_states[i])) == 0)
            return true;
    }
    return false;
}

static enum store_result
map_error(PGconn *conn, const PGresult *res, const char *what)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char clipped[LOG_CLIP_BUF];

    if (PQstatus(conn) != CONNECTION_OK) {
        log_warning("postgres", "%s: lost the connection to the database: %.*s", what,
                    (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
        return STORE_UNAVAILABLE;
    }
    if (state != NULL && strcmp(state, "23505") == 0) /* unique violation */
        return STORE_CONFLICT;

    /* The primary message can quote a value from the request; it never carries the DETAIL
     * line, where key values and row contents would appear. */
    log_clip(message ? message : PQerrorMessage(conn), clipped);
    if (state != NULL && is_transient(state)) {
        log_warning("postgres", "%s: %s (SQLSTATE %s)", what, clipped, state);
        return STORE_UNAVAILABLE;
    }
    log_error("postgres", "%s: %s (SQLSTATE %s)", what, clipped, state ? state : "none");
    return STORE_ERROR;
}

/* Checks the result of a statement. On success hands it to `out` (or frees it when `out` is
 * NULL); on failure frees it and maps the error. */
static enum store_result
finish(struct pg_store *s, PGresult *res, const char *what, PGresult **out)
{
    ExecStatusType status = PQresultStatus(res);
    enum store_result r = STORE_OK;

    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        r = map_error(s->c->conn, res, what);
        PQclear(res);
        res = NULL;
    }
    if (out != NULL)
        *out = res;
    else
        PQclear(res);
    return r;
}

/* Runs SQL without parameters: transaction control and migrations. */
static enum store_result
command(struct pg_store *s, const char *sql, const char *what)
{
    return finish(s, PQexec(s->c->conn, sql), what, NULL);
}

/* Runs statement `id`, prepared on this connection the first time it runs there. */
static enum store_result
query(struct pg_store *s, enum stmt_id id, const struct params *p, const char *what, PGresult **out)
{
    static const struct params none;
    char name[16];
    enum store_result r;

    if (p == NULL)
        p = &none;
    snprintf(name, sizeof(name), "s%d", (int)id);
    if (!(s->c->prepared & (UINT64_C(1) << id))) {
        r = finish(s, PQprepare(s->c->conn, name, stmt_sql[id], 0, NULL), what, NULL);
        if (r != STORE_OK)
            return r;
        s->c->prepared |= UINT64_C(1) << id;
    }
    return finish(s, PQexecPrepared(s->c->conn, name, p->n, p->values, p->lengths, p->formats, 0),
                  what, out);
}

/* Runs statement `id` for its effect only. */
static enum store_result
run(struct pg_store *s, enum stmt_id id, const struct params *p, const char *what)
{
    return query(s, id, p, what, NULL);
}

static void
add_text(struct params *p, const char *value) /* NULL: SQL NULL */
{
    assert(p->n < MAX_PARAMS);
    p->values[p->n] = value;
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->n++;
}

static void
add_int(struct params *p, int64_t value)
{
    assert(p->n < MAX_PARAMS);
    snprintf(p->numbers[p->n], sizeof(p->numbers[0]), "%" PRId64, value);
    add_text(p, p->numbers[p->n]);
}

static void
add_hash(struct params *p, const uint8_t hash[TOKEN_HASH_LEN])
{
    assert(p->n < MAX_PARAMS);
    p->values[p->n] = (const char *)hash;
    p->lengths[p->n] = TOKEN_HASH_LEN;
    p->formats[p->n] = 1; /* binary: bytea takes the raw bytes */
    p->n++;
}

static enum store_result
begin(struct pg_store *s)
{
    return command(s, "BEGIN", "begin");
}

static enum store_result
commit(struct pg_store *s)
{
    return command(s, "COMMIT", "commit");
}

/* Ends a transaction that failed; the result the caller reports is `r`, not the rollback's.
 * A connection still in the transaction afterwards is closed by release(). */
static enum store_result
rollback(struct pg_store *s, enum store_result r)
{
    if (PQstatus(s->c->conn) == CONNECTION_OK && PQtransactionStatus(s->c->conn) != PQTRANS_IDLE)
        PQclear(PQexec(s->c->conn, "ROLLBACK"));
    return r;
}

static enum store_result
commit_or_rollback(struct pg_store *s)
{
    enum store_result r = commit(s);

    return r == STORE_OK ? STORE_OK : rollback(s, r);
}

/* ---- Reading rows (all in text format) ---- */

static int64_t
column_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10); /* NULL reads as "", so 0 */
}

static void
copy_column(const PGresult *res, int row, int col, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", PQgetvalue(res, row, col));
}

static void
read_user(const PGresult *res, struct user *u)
{
    copy_column(res, 0, 0, u->id, sizeof(u->id));
    copy_column(res, 0, 1, u->email, sizeof(u->email));
    copy_column(res, 0, 2, u->password_hash, sizeof(u->password_hash));
    u->admin = strcmp(PQgetvalue(res, 0, 3), "admin") == 0;
    u->token_version = column_int(res, 0, 4);
    u->created_at = column_int(res, 0, 5);
}

/* Reads SESSION_COLUMNS starting at column 0 of `row`. */
static void
read_session(const PGresult *res, int row, struct session *out)
{
    copy_column(res, row, 0, out->id, sizeof(out->id));
    copy_column(res, row, 1, out->user_id, sizeof(out->user_id));
    out->admin = strcmp(PQgetvalue(res, row, 2), "admin") == 0;
    out->user_version = column_int(res, row, 3);
    out->global_version = column_int(res, row, 4);
    out->created_at = column_int(res, row, 5);
    out->last_used_at = column_int(res, row, 6);
    out->expires_at = column_int(res, row, 7);
    copy_column(res, row, 8, out->user_agent, sizeof(out->user_agent));
    copy_column(res, row, 9, out->ip, sizeof(out->ip));
}

static void
read_event(const PGresult *res, int row, struct rotation_event *e)
{
    memset(e, 0, sizeof(*e));
    e->id = column_int(res, row, 0);
    e->type = strcmp(PQgetvalue(res, row, 1), "GLOBAL") == 0 ? ROTATION_GLOBAL : ROTATION_USER;
    copy_column(res, row, 2, e->user_id, sizeof(e->user_id));
    e->old_version = column_int(res, row, 3);
    e->new_version = column_int(res, row, 4);
    e->tokens_revoked = column_int(res, row, 5);
    e->users_affected = column_int(res, row, 6);
    copy_column(res, row, 7, e->reason, sizeof(e->reason));
    copy_column(res, row, 8, e->initiated_by, sizeof(e->initiated_by));
    e->grace_minutes = PQgetisnull(res, row, 9) ? -1 : (int)column_int(res, row, 9);
    e->rotated_at = column_int(res, row, 10);
}

/* ---- Live counts (see counts.h): read, change and write back in the caller's transaction,
 * which has called lock_counts() before touching any session or user row ---- */

struct counts_state {
    struct global_state g;
    struct live_counts c;
};

static enum store_result
lock_counts(struct pg_store *s)
{
    return run(s, S_COUNTS_LOCK, NULL, "lock live counts");
}

static enum store_result
read_counts(struct pg_store *s, struct counts_state *out)
{
    enum store_result r;
    PGresult *res;

    if ((r = query(s, S_COUNTS_GET, NULL, "read live counts", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        out->g = (struct global_state){column_int(res, 0, 0), column_int(res, 0, 1),
                                       column_int(res, 0, 2)};
        out->c = (struct live_counts){column_int(res, 0, 3), column_int(res, 0, 4),
                                      column_int(res, 0, 5), column_int(res, 0, 6),
                                      column_int(res, 0, 7)};
    } else {
        log_error("postgres", "security_config has no row; the schema guarantees one, so the "
                              "database was changed by hand");
        r = STORE_ERROR;
    }
    PQclear(res);
    return r;
}

static enum store_result
write_counts(struct pg_store *s, const struct live_counts *c)
{
    struct params p = {0};

    add_int(&p, c->cur_sessions);
    add_int(&p, c->cur_users);
    add_int(&p, c->grace_sessions);
    add_int(&p, c->grace_users);
    add_int(&p, c->both_users);
    return run(s, S_COUNTS_SET, &p, "write live counts");
}

static enum store_result
read_slots(struct pg_store *s, const char *user_id, struct user_slots *u)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_text(&p, user_id);
    if ((r = query(s, S_SLOTS_GET, &p, "read session slots", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        u->slot[0] = (struct gen_slot){column_int(res, 0, 0), column_int(res, 0, 1)};
        u->slot[1] = (struct gen_slot){column_int(res, 0, 2), column_int(res, 0, 3)};
    } else {
        r = STORE_NOT_FOUND;
    }
    PQclear(res);
    return r;
}

static enum store_result
write_slots(struct pg_store *s, const char *user_id, const struct user_slots *u)
{
    struct params p = {0};

    add_text(&p, user_id);
    add_int(&p, u->slot[0].gen);
    add_int(&p, u->slot[0].count);
    add_int(&p, u->slot[1].gen);
    add_int(&p, u->slot[1].count);
    return run(s, S_SLOTS_SET, &p, "write session slots");
}

/* Applies one change of a user's sessions to the live counts. `gen` is the global generation
 * of the session removed (COUNT_REMOVED only). */
static enum store_result
change_counts(struct pg_store *s, const char *user_id, enum count_change change, int64_t gen,
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
uncount_session(struct pg_store *s, const char *session_id, int64_t now)
{
    char user_id[TOKEN_UUID_LEN];
    struct params p = {0};
    enum store_result r;
    PGresult *res;
    int64_t gen;

    add_text(&p, session_id);
    if ((r = query(s, S_SESSION_UNCOUNT, &p, "uncount session", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return STORE_OK; /* not counted: nothing to do */
    }
    copy_column(res, 0, 0, user_id, sizeof(user_id));
    gen = column_int(res, 0, 1);
    PQclear(res);
    return change_counts(s, user_id, COUNT_REMOVED, gen, now);
}

/* Takes up to SWEEP_BATCH expired sessions out of the live counts; `swept` says how many. */
static enum store_result
sweep_batch(struct pg_store *s, int64_t now, int *swept)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_int(&p, now);
    add_int(&p, SWEEP_BATCH);
    if ((r = query(s, S_EXPIRED_COUNTED, &p, "find expired sessions", &res)) != STORE_OK)
        return r;
    *swept = PQntuples(res);
    for (int i = 0; i < *swept && r == STORE_OK; i++)
        r = uncount_session(s, PQgetvalue(res, i, 0), now);
    PQclear(res);
    return r;
}

/* Sweeps every expired session still counted, so that the counts are exact at `now`. The
 * housekeeping thread keeps this backlog to about a second's worth of expiries. */
static enum store_result
sweep_all(struct pg_store *s, int64_t now)
{
    enum store_result r;
    int swept;

    do {
        r = sweep_batch(s, now, &swept);
    } while (r == STORE_OK && swept == SWEEP_BATCH);
    return r;
}

static enum store_result
sweep(struct pg_store *s, int64_t now, int64_t *swept)
{
    enum store_result r;
    int n = 0;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = lock_counts(s)) != STORE_OK || (r = sweep_batch(s, now, &n)) != STORE_OK)
        return rollback(s, r);
    *swept = n;
    return commit_or_rollback(s);
}

/* ---- Migrating ---- */

static int
latest_known_version(void)
{
    int latest = 0;

    for (const struct migration *m = postgres_migrations; m->sql != NULL; m++)
        latest = m->version;
    return latest;
}

static enum store_result
current_schema_version(struct pg_store *s, int *out)
{
    PGresult *res;
    enum store_result r;

    r = finish(s, PQexec(s->c->conn, "SELECT coalesce(max(version), 0) FROM schema_migrations"),
               "schema version", &res);
    if (r == STORE_OK) {
        *out = (int)column_int(res, 0, 0);
        PQclear(res);
    }
    return r;
}

static enum store_result
apply_migration(struct pg_store *s, const struct migration *m)
{
    struct params p = {0};
    enum store_result r;

    if ((r = command(s, m->sql, m->name)) != STORE_OK)
        return r;
    add_int(&p, m->version);
    add_text(&p, m->name);
    return finish(s,
                  PQexecParams(s->c->conn,
                               "INSERT INTO schema_migrations (version, name, applied_at) "
                               "VALUES ($1, $2, extract(epoch FROM now())::bigint)",
                               p.n, NULL, p.values, p.lengths, p.formats, 0),
                  m->name, NULL);
}

/* Brings the schema up to date in one transaction: PostgreSQL's DDL is transactional, so the
 * schema moves to the latest version or stays where it was. */
static enum store_result
migrate(struct pg_store *s, int *from, int *to)
{
    int latest = latest_known_version();
    enum store_result r;

    if ((r = begin(s)) != STORE_OK)
        return r;
    /* Another rotator starting at the same time waits here until this one is done. */
    if ((r = command(s, MIGRATION_LOCK, "lock schema")) != STORE_OK ||
        (r = command(s,
                     "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                     "name text NOT NULL, applied_at bigint NOT NULL)",
                     "create schema_migrations")) != STORE_OK ||
        (r = current_schema_version(s, from)) != STORE_OK)
        return rollback(s, r);
    *to = *from;
    if (*from > latest) {
        log_error("postgres",
                  "the database schema is at version %d, newer than this rotator knows (%d); "
                  "run a newer rotator",
                  *from, latest);
        return rollback(s, STORE_ERROR);
    }
    for (const struct migration *m = postgres_migrations; m->sql != NULL; m++) {
        if (m->version <= *from)
            continue;
        if ((r = apply_migration(s, m)) != STORE_OK)
            return rollback(s, r);
        *to = m->version;
    }
    if ((r = commit_or_rollback(s)) != STORE_OK)
        return r;
    for (const struct migration *m = postgres_migrations; m->sql != NULL; m++) {
        if (m->version > *from && m->version <= *to)
            log_info("postgres", "applied schema migration %s", m->name);
    }
    return STORE_OK;
}

/* ---- Users ---- */

static enum store_result
user_create(struct pg_store *s, const struct user *u)
{
    struct params p = {0};

    add_text(&p, u->id);
    add_text(&p, u->email);
    add_text(&p, u->password_hash);
    add_text(&p, u->admin ? "admin" : "user");
    add_int(&p, u->created_at);
    return run(s, S_USER_INSERT, &p, "create user");
}

static enum store_result
user_lookup(struct pg_store *s, enum stmt_id id, const char *key, struct user *out)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_text(&p, key);
    if ((r = query(s, id, &p, "look up user", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1)
        read_user(res, out);
    else
        r = STORE_NOT_FOUND;
    PQclear(res);
    return r;
}

static enum store_result
admin_exists(struct pg_store *s, bool *out)
{
    enum store_result r;
    PGresult *res;

    if ((r = query(s, S_ADMIN_EXISTS, NULL, "find an admin", &res)) != STORE_OK)
        return r;
    *out = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return STORE_OK;
}

/* ---- Sessions and refresh tokens ---- */

static enum store_result
insert_refresh_token(struct pg_store *s, const uint8_t hash[TOKEN_HASH_LEN], const char *session_id,
                     int64_t now, int64_t ttl)
{
    struct params p = {0};

    add_hash(&p, hash);
    add_text(&p, session_id);
    add_int(&p, now);
    add_int(&p, now + ttl);
    return run(s, S_REFRESH_INSERT, &p, "store refresh token");
}

static enum store_result
insert_session(struct pg_store *s, struct session *sess)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_text(&p, sess->id);
    add_int(&p, sess->created_at);
    add_int(&p, sess->expires_at);
    add_text(&p, sess->user_agent);
    add_text(&p, sess->ip);
    add_text(&p, sess->user_id);
    if ((r = query(s, S_SESSION_INSERT, &p, "create session", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        sess->user_version = column_int(res, 0, 0);
        sess->global_version = column_int(res, 0, 1);
    } else {
        r = STORE_NOT_FOUND; /* no such user */
    }
    PQclear(res);
    return r;
}

static enum store_result
session_create(struct pg_store *s, struct session *sess, const uint8_t refresh_hash[TOKEN_HASH_LEN],
               int64_t ttl)
{
    enum store_result r;

    sess->last_used_at = sess->created_at;
    sess->expires_at = sess->created_at + ttl;
    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = lock_counts(s)) != STORE_OK || (r = insert_session(s, sess)) != STORE_OK ||
        (r = insert_refresh_token(s, refresh_hash, sess->id, sess->created_at, ttl)) != STORE_OK ||
        (r = change_counts(s, sess->user_id, COUNT_ADDED, 0, sess->created_at)) != STORE_OK)
        return rollback(s, r);
    return commit_or_rollback(s);
}

/* Revokes a session and takes it out of the live counts; the caller has locked them. */
static enum store_result
revoke_session(struct pg_store *s, const char *session_id, const char *user_id, int64_t now,
               const char *reason)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_int(&p, now);
    add_text(&p, reason);
    add_text(&p, session_id);
    add_text(&p, user_id);
    if ((r = query(s, S_SESSION_REVOKE, &p, "revoke session", &res)) != STORE_OK)
        return r;
    if (strcmp(PQcmdTuples(res), "0") == 0)
        r = STORE_NOT_FOUND;
    PQclear(res);
    if (r == STORE_OK)
        r = uncount_session(s, session_id, now);
    return r;
}

static enum store_result
session_revoke(struct pg_store *s, const char *session_id, const char *user_id, int64_t now,
               const char *reason)
{
    enum store_result r;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = lock_counts(s)) != STORE_OK ||
        (r = revoke_session(s, session_id, user_id, now, reason)) != STORE_OK)
        return rollback(s, r);
    return commit_or_rollback(s);
}

/* Decides a refresh from the row S_REFRESH_LOOKUP found, without changing anything. */
static enum refresh_outcome
judge_refresh(const PGresult *res, int64_t now)
{
    struct global_state g;
    int64_t user_version = column_int(res, 0, 3);
    int64_t global_version = column_int(res, 0, 4);

    if (!PQgetisnull(res, 0, 11))
        return REFRESH_REUSED;
    if (!PQgetisnull(res, 0, 12))
        return REFRESH_REVOKED;
    if (column_int(res, 0, 10) <= now)
        return REFRESH_EXPIRED;

    g.version = column_int(res, 0, 14);
    g.grace_version = column_int(res, 0, 15);
    g.grace_ends_at = column_int(res, 0, 16);
    if (user_version != column_int(res, 0, 13) ||
        !revstate_generation_accepted(&g, global_version, now))
        return REFRESH_ROTATED;
    return REFRESH_OK;
}

/* Locks the token's row, then reads it with its session: a refresh of the same token running
 * beside this one waits for our commit and then finds the token retired. Reading after the
 * lock, in a statement of its own, sees everything committed before the lock was granted. */
static enum store_result
lookup_refresh(struct pg_store *s, const uint8_t hash[TOKEN_HASH_LEN], int64_t now,
               enum refresh_outcome *outcome, struct session *out)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_hash(&p, hash);
    if ((r = query(s, S_REFRESH_LOCK, &p, "lock refresh token", &res)) != STORE_OK)
        return r;
    *outcome = PQntuples(res) == 1 ? REFRESH_OK : REFRESH_UNKNOWN;
    PQclear(res);
    if (*outcome == REFRESH_UNKNOWN)
        return STORE_OK;

    if ((r = query(s, S_REFRESH_LOOKUP, &p, "look up refresh token", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        read_session(res, 0, out);
        *outcome = judge_refresh(res, now);
    } else {
        *outcome = REFRESH_UNKNOWN;
    }
    PQclear(res);
    return STORE_OK;
}

static enum store_result
rotate_refresh_token(struct pg_store *s, const uint8_t old_hash[TOKEN_HASH_LEN],
                     const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now, int64_t ttl,
                     struct session *sess)
{
    struct params retire = {0}, touch = {0};
    enum store_result r;

    add_int(&retire, now);
    add_hash(&retire, old_hash);
    if ((r = run(s, S_REFRESH_RETIRE, &retire, "retire refresh token")) != STORE_OK)
        return r;
    if ((r = insert_refresh_token(s, new_hash, sess->id, now, ttl)) != STORE_OK)
        return r;

    sess->last_used_at = now;
    sess->expires_at = now + ttl;
    add_int(&touch, now);
    add_int(&touch, now + ttl);
    add_text(&touch, sess->id);
    return run(s, S_SESSION_TOUCH, &touch, "touch session");
}

static enum store_result
session_refresh(struct pg_store *s, const uint8_t old_hash[TOKEN_HASH_LEN],
                const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now, int64_t ttl,
                enum refresh_outcome *outcome, struct session *out)
{
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
        if ((r = lock_counts(s)) == STORE_OK)
            r = revoke_session(s, out->id, NULL, now, "refresh token reuse");
        if (r == STORE_NOT_FOUND)
            r = STORE_OK; /* already revoked */
        break;
    default:
        break;
    }
    if (r != STORE_OK)
        return rollback(s, r);
    return commit_or_rollback(s);
}

static enum store_result
sessions_list(struct pg_store *s, const char *user_id, int64_t now, store_session_fn each,
              void *arg)
{
    struct params p = {0};
    struct session sess;
    enum store_result r;
    PGresult *res;

    add_int(&p, now);
    add_text(&p, user_id);
    add_int(&p, LIMIT_SESSIONS_LISTED);
    if ((r = query(s, S_SESSIONS_LIST, &p, "list sessions", &res)) != STORE_OK)
        return r;
    for (int i = 0; i < PQntuples(res); i++) {
        read_session(res, i, &sess);
        each(&sess, arg);
    }
    PQclear(res);
    return STORE_OK;
}

/* Counts a user's active sessions (and 1 user, or 0), with one indexed query. */
static enum store_result
count_active(struct pg_store *s, const char *user_id, int64_t now, int64_t *sessions,
             int64_t *users)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_int(&p, now);
    add_text(&p, user_id);
    if ((r = query(s, S_COUNT_ACTIVE_USER, &p, "count active sessions", &res)) != STORE_OK)
        return r;
    *sessions = column_int(res, 0, 0);
    *users = column_int(res, 0, 1);
    PQclear(res);
    return STORE_OK;
}

static enum store_result
sessions_count_active(struct pg_store *s, int64_t now, int64_t *out)
{
    struct counts_state cs;
    enum store_result r;
    int64_t users;

    if ((r = begin(s)) != STORE_OK)
        return r;
    if ((r = lock_counts(s)) != STORE_OK || (r = sweep_all(s, now)) != STORE_OK ||
        (r = read_counts(s, &cs)) != STORE_OK)
        return rollback(s, r);
    counts_active(&cs.g, now, &cs.c, out, &users);
    return commit_or_rollback(s);
}

/* ---- Rotations and the audit trail ---- */

static enum store_result
read_config(struct pg_store *s, struct security_config *out)
{
    enum store_result r;
    PGresult *res;

    if ((r = query(s, S_CONFIG, NULL, "read security_config", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        out->global.version = column_int(res, 0, 0);
        out->global.grace_version = column_int(res, 0, 1);
        out->global.grace_ends_at = column_int(res, 0, 2);
        out->last_updated_at = column_int(res, 0, 3);
        copy_column(res, 0, 4, out->last_updated_by, sizeof(out->last_updated_by));
        copy_column(res, 0, 5, out->last_rotation_reason, sizeof(out->last_rotation_reason));
    } else {
        log_error("postgres", "security_config has no row; the schema guarantees one, so the "
                              "database was changed by hand");
        r = STORE_ERROR;
    }
    PQclear(res);
    return r;
}

static enum store_result
insert_event(struct pg_store *s, struct rotation_event *e)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_text(&p, e->type == ROTATION_GLOBAL ? "GLOBAL" : "USER");
    add_text(&p, e->user_id[0] != '\0' ? e->user_id : NULL);
    add_int(&p, e->old_version);
    add_int(&p, e->new_version);
    add_int(&p, e->tokens_revoked);
    add_int(&p, e->users_affected);
    add_text(&p, e->reason);
    add_text(&p, e->initiated_by);
    if (e->grace_minutes >= 0)
        add_int(&p, e->grace_minutes);
    else
        add_text(&p, NULL);
    add_int(&p, e->rotated_at);
    if ((r = query(s, S_EVENT_INSERT, &p, "write audit event", &res)) != STORE_OK)
        return r;
    e->id = column_int(res, 0, 0);
    PQclear(res);
    return STORE_OK;
}

/* Locks the user's row (after the live counts), so that the version it bumps is the latest. */
static enum store_result
lock_user(struct pg_store *s, const char *user_id)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    add_text(&p, user_id);
    if ((r = query(s, S_USER_LOCK, &p, "lock user", &res)) != STORE_OK)
        return r;
    r = PQntuples(res) == 1 ? STORE_OK : STORE_NOT_FOUND;
    PQclear(res);
    return r;
}

static enum store_result
bump_user(struct pg_store *s, const struct rotation_request *rq, struct rotation_event *e)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    if ((r = lock_counts(s)) != STORE_OK || (r = lock_user(s, rq->user_id)) != STORE_OK ||
        (r = count_active(s, rq->user_id, rq->now, &e->tokens_revoked, &e->users_affected)) !=
            STORE_OK)
        return r;
    add_text(&p, rq->user_id);
    add_text(&p, rq->new_password_hash);
    if ((r = query(s, S_USER_BUMP, &p, "bump user version", &res)) != STORE_OK)
        return r;
    if (PQntuples(res) == 1) {
        e->new_version = column_int(res, 0, 0);
        e->old_version = e->new_version - 1;
    } else {
        r = STORE_NOT_FOUND;
    }
    PQclear(res);
    if (r != STORE_OK)
        return r;

    /* Every session of the user is over: out of the live counts with them. */
    p = (struct params){0};
    add_text(&p, rq->user_id);
    if ((r = change_counts(s, rq->user_id, COUNT_USER_CLEARED, 0, rq->now)) != STORE_OK)
        return r;
    return run(s, S_USER_UNCOUNT, &p, "uncount user sessions");
}

static enum store_result
bump_global(struct pg_store *s, const struct rotation_request *rq, struct rotation_event *e)
{
    struct global_state *next = &e->global_after;
    struct counts_state cs;
    struct params p = {0};
    enum store_result r;

    /* Everyone active is cut off, at once or when the window closes: the live counts say how
     * many without a scan. */
    if ((r = lock_counts(s)) != STORE_OK || (r = sweep_all(s, rq->now)) != STORE_OK ||
        (r = read_counts(s, &cs)) != STORE_OK)
        return r;
    counts_active(&cs.g, rq->now, &cs.c, &e->tokens_revoked, &e->users_affected);
    counts_global_rotated(&cs.c);
    if ((r = write_counts(s, &cs.c)) != STORE_OK)
        return r;

    /* Only the generation just retired gets a grace window; an older one still in its window
     * is cut off now, so a second rotation never extends the life of any token. */
    e->old_version = cs.g.version;
    e->new_version = cs.g.version + 1;
    next->version = e->new_version;
    next->grace_version = rq->grace_minutes > 0 ? e->old_version : 0;
    next->grace_ends_at = rq->grace_minutes > 0 ? rq->now + rq->grace_minutes * 60 : 0;

    add_int(&p, next->version);
    if (next->grace_version != 0) {
        add_int(&p, next->grace_version);
        add_int(&p, next->grace_ends_at);
    } else {
        add_text(&p, NULL);
        add_text(&p, NULL);
    }
    add_int(&p, rq->now);
    add_text(&p, rq->initiated_by);
    add_text(&p, rq->reason);
    return run(s, S_CONFIG_UPDATE, &p, "update security_config");
}

static enum store_result
rotate(struct pg_store *s, const struct rotation_request *rq, struct rotation_event *e)
{
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
    return commit_or_rollback(s);
}

static enum store_result
events_list(struct pg_store *s, int64_t limit, int64_t offset, store_event_fn each, void *arg,
            int64_t *total)
{
    struct rotation_event *e = malloc(sizeof(*e));
    struct params p = {0};
    enum store_result r = STORE_ERROR;
    PGresult *res;

    *total = 0;
    if (e == NULL || (r = query(s, S_EVENTS_COUNT, NULL, "count audit events", &res)) != STORE_OK)
        goto out;
    *total = column_int(res, 0, 0);
    PQclear(res);

    add_int(&p, limit);
    add_int(&p, offset);
    if ((r = query(s, S_EVENTS_LIST, &p, "list audit events", &res)) != STORE_OK)
        goto out;
    for (int i = 0; i < PQntuples(res); i++) {
        read_event(res, i, e);
        each(e, arg);
    }
    PQclear(res);
out:
    free(e);
    return r;
}

static enum store_result
load_revocations(struct pg_store *s, int64_t revoked_since, store_user_version_fn user_fn,
                 store_revoked_fn session_fn, void *arg)
{
    struct params p = {0};
    enum store_result r;
    PGresult *res;

    if ((r = query(s, S_LOAD_USERS, NULL, "load user versions", &res)) != STORE_OK)
        return r;
    for (int i = 0; i < PQntuples(res); i++)
        user_fn(PQgetvalue(res, i, 0), column_int(res, i, 1), arg);
    PQclear(res);

    add_int(&p, revoked_since);
    if ((r = query(s, S_LOAD_REVOKED, &p, "load revoked sessions", &res)) != STORE_OK)
        return r;
    for (int i = 0; i < PQntuples(res); i++)
        session_fn(PQgetvalue(res, i, 0), column_int(res, i, 1), arg);
    PQclear(res);
    return STORE_OK;
}

/* ---- The operations: each holds a pooled connection from start to end ---- */

static enum store_result
pg_migrate(struct store *st, int *from, int *to)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, migrate(s, from, to));
}

static enum store_result
pg_ping(struct store *st)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, run(s, S_PING, NULL, "ping"));
}

static enum store_result
pg_user_create(struct store *st, const struct user *u)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, user_create(s, u));
}

static enum store_result
pg_user_by_email(struct store *st, const char *email, struct user *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, user_lookup(s, S_USER_BY_EMAIL, email, out));
}

static enum store_result
pg_user_by_id(struct store *st, const char *id, struct user *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, user_lookup(s, S_USER_BY_ID, id, out));
}

static enum store_result
pg_admin_exists(struct store *st, bool *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, admin_exists(s, out));
}

static enum store_result
pg_session_create(struct store *st, struct session *sess,
                  const uint8_t refresh_hash[TOKEN_HASH_LEN], int64_t ttl)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, session_create(s, sess, refresh_hash, ttl));
}

static enum store_result
pg_session_refresh(struct store *st, const uint8_t old_hash[TOKEN_HASH_LEN],
                   const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now, int64_t ttl,
                   enum refresh_outcome *outcome, struct session *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, session_refresh(s, old_hash, new_hash, now, ttl, outcome, out));
}

static enum store_result
pg_session_revoke(struct store *st, const char *session_id, const char *user_id, int64_t now,
                  const char *reason)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, session_revoke(s, session_id, user_id, now, reason));
}

static enum store_result
pg_sessions_list(struct store *st, const char *user_id, int64_t now, store_session_fn each,
                 void *arg)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, sessions_list(s, user_id, now, each, arg));
}

static enum store_result
pg_sessions_count_active(struct store *st, int64_t now, int64_t *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, sessions_count_active(s, now, out));
}

static enum store_result
pg_sweep(struct store *st, int64_t now, int64_t *swept)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, sweep(s, now, swept));
}

static enum store_result
pg_rotate(struct store *st, const struct rotation_request *rq, struct rotation_event *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, rotate(s, rq, out));
}

static enum store_result
pg_security_config(struct store *st, struct security_config *out)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, read_config(s, out));
}

static enum store_result
pg_events_list(struct store *st, int64_t limit, int64_t offset, store_event_fn each, void *arg,
               int64_t *total)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, events_list(s, limit, offset, each, arg, total));
}

static enum store_result
pg_load_revocations(struct store *st, int64_t revoked_since, store_user_version_fn user_fn,
                    store_revoked_fn session_fn, void *arg)
{
    struct pg_store *s = to_pg(st);
    enum store_result r;

    if ((r = acquire(s)) != STORE_OK)
        return r;
    return release(s, load_revocations(s, revoked_since, user_fn, session_fn, arg));
}

static void
pg_close(struct store *st)
{
    struct pg_store *s = to_pg(st);

    if (s == NULL)
        return;
    pg_pool_detach(s->pool);
    free(s);
}

/* Copies libpq's reason for refusing a connection string without the fragments of the string
 * it quotes, which could be part of a password: `invalid token: "x"` becomes `invalid token:
 * "..."`. Stops at the end of the first line. */
static void
redact_quoted(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    bool quoted = false;

    for (; *in != '\0' && *in != '\n' && n + 4 < outlen; in++) {
        if (*in == '"') {
            quoted = !quoted;
            if (quoted) {
                memcpy(out + n, "\"...", 4);
                n += 4;
            }
        }
        if (!quoted)
            out[n++] = *in;
    }
    out[n] = '\0';
}

/* Checks the connection string and joins its pool; connections are made when first needed,
 * so a database that is down at this point makes the first operation fail, not the open. */
struct store *
store_postgres_open(const char *conninfo, const struct store_options *options, char *err,
                    size_t errlen)
{
    char *why = NULL, reason[256];
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &why);
    struct pg_store *s = NULL;

    if (parsed == NULL) {
        redact_quoted(why ? why : "out of memory", reason, sizeof(reason));
        snprintf(err, errlen, "invalid PostgreSQL connection string: %s", reason);
        PQfreemem(why);
        return NULL;
    }
    PQconninfoFree(parsed);
    if ((s = calloc(1, sizeof(*s))) == NULL ||
        (s->pool = pg_pool_attach(conninfo, options)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->base.ops = &pg_ops;
    return &s->base;
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .migrate = pg_migrate,
    .ping = pg_ping,
    .user_create = pg_user_create,
    .user_by_email = pg_user_by_email,
    .user_by_id = pg_user_by_id,
    .admin_exists = pg_admin_exists,
    .session_create = pg_session_create,
    .session_refresh = pg_session_refresh,
    .session_revoke = pg_session_revoke,
    .sessions_list = pg_sessions_list,
    .sessions_count_active = pg_sessions_count_active,
    .sweep = pg_sweep,
    .rotate = pg_rotate,
    .security_config = pg_security_config,
    .events_list = pg_events_list,
    .load_revocations = pg_load_revocations,
};

/* The advisory lock key of "one rotator per database": any constant, chosen once. */
#define SERVE_LOCK_KEY "7317021405"

int
store_postgres_claim_exclusive(const char *conninfo, char *err, size_t errlen)
{
    /* Held open, never pooled, for the life of the process: the lock lives with it. */
    static struct pg_conn *holder;
    char why[256];
    PGresult *res;
    bool taken;

    if ((holder = pg_conn_open(conninfo, why, sizeof(why))) == NULL) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", why);
        return -1;
    }
    res = PQexec(holder->conn, "SELECT pg_try_advisory_lock(" SERVE_LOCK_KEY ")");
    taken = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
            strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!taken) {
        snprintf(err, errlen,
                 "another rotator is already serving this database; one process "
                 "per database");
        pg_conn_close(holder);
        holder = NULL;
        return -1;
    }
    return 0;
}
