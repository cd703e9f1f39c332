/* Unit tests of the storage backends on real databases: the atomicity and counting rules that
 * rotations rely on. Every test runs on SQLite, in a file of its own, and again on PostgreSQL
 * when ROTATOR_TEST_DATABASE_PG is set: a libpq URL of a server where this test may create and
 * drop databases (e.g. `scripts/pg-cluster.sh url DIR postgres`); each test gets a database of
 * its own there too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/ids.h"

#define PG_ENV "ROTATOR_TEST_DATABASE_PG"

/* How a backend makes a fresh database for one test, runs SQL on it behind the store's back,
 * and removes it. */
struct backend {
    void (*create)(void);
    void (*destroy)(void);
    bool (*raw_sql)(const char *sql); /* true when the statement succeeded */
};

static const struct backend *backend;
static char db_dir[64];
static char db_name[64];
static char db_url[1024];

static const struct store_options default_options = {
    .pool_size = 20, .max_overflow = 10, .pool_timeout = 30};

/* ---- SQLite: a file in a temporary folder ---- */

static void
sqlite_create(void)
{
    snprintf(db_dir, sizeof(db_dir), "/tmp/rotator-store-XXXXXX");
    assert_non_null(mkdtemp(db_dir));
    snprintf(db_url, sizeof(db_url), "sqlite:%s/test.db", db_dir);
}

static void
sqlite_destroy(void)
{
    static const char *const files[] = {"test.db", "test.db-wal", "test.db-shm"};
    char path[128];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", db_dir, files[i]);
        unlink(path);
    }
    rmdir(db_dir);
}

static bool
sqlite_raw_sql(const char *sql)
{
    sqlite3 *db = NULL;
    bool ok;

    assert_int_equal(sqlite3_open(db_url + strlen("sqlite:"), &db), SQLITE_OK);
    ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

static const struct backend sqlite_backend = {sqlite_create, sqlite_destroy, sqlite_raw_sql};

/* ---- PostgreSQL: a database of its own on the server of ROTATOR_TEST_DATABASE_PG ---- */

static bool
pg_exec(const char *url, const char *sql)
{
    PGconn *conn = PQconnectdb(url);
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);

    PQclear(res);
    PQfinish(conn);
    return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

/* The URL of database `db_name` on the test server, written as libpq keywords, so that this
 * form of ROTATOR_DATABASE gets tested too. */
static void
pg_url_of_test_database(void)
{
    PQconninfoOption *options = PQconninfoParse(getenv(PG_ENV), NULL);
    size_t len;

    assert_non_null(options);
    len = (size_t)snprintf(db_url, sizeof(db_url), "dbname=%s", db_name);
    for (PQconninfoOption *o = options; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0' || strcmp(o->keyword, "dbname") == 0)
            continue;
        assert_null(strpbrk(o->val, "'\\")); /* no quoting needed */
        len += (size_t)snprintf(db_url + len, sizeof(db_url) - len, " %s='%s'", o->keyword, o->val);
        assert_true(len < sizeof(db_url));
    }
    PQconninfoFree(options);
}

static void
pg_create(void)
{
    static int counter;
    char sql[128];

    snprintf(db_name, sizeof(db_name), "rotator_unit_%d_%d", (int)getpid(), ++counter);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name);
    assert_true(pg_exec(getenv(PG_ENV), sql));
    pg_url_of_test_database();
}

static void
pg_destroy(void)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    assert_true(pg_exec(getenv(PG_ENV), sql));
}

static bool
pg_raw_sql(const char *sql)
{
    return pg_exec(db_url, sql);
}

static const struct backend pg_backend = {pg_create, pg_destroy, pg_raw_sql};

/* ---- Set-up shared by every test ---- */

static struct store *
open_store(void)
{
    char err[256];
    struct store *st = store_open(db_url, err, sizeof(err));
    int from, to;

    assert_non_null(st);
    assert_int_equal(st->ops->migrate(st, &from, &to), STORE_OK);
    return st;
}

static int
fresh_database(void **state)
{
    backend->create();
    *state = open_store();
    return 0;
}

static int
close_database(void **state)
{
    store_close(*state);
    backend->destroy();
    store_configure(&default_options);
    return 0;
}

static void
add_user(struct store *st, const char *email, struct user *u)
{
    memset(u, 0, sizeof(*u));
    ids_new(u->id);
    snprintf(u->email, sizeof(u->email), "%s", email);
    snprintf(u->password_hash, sizeof(u->password_hash), "x");
    u->created_at = 1000;
    assert_int_equal(st->ops->user_create(st, u), STORE_OK);
}

static void
add_session(struct store *st, const struct user *u, int64_t now, uint8_t hash[TOKEN_HASH_LEN])
{
    char refresh[TOKEN_REFRESH_LEN];
    struct session s = {0};

    assert_int_equal(token_new_refresh(refresh, hash), 0);
    ids_new(s.id);
    memcpy(s.user_id, u->id, sizeof(s.user_id));
    s.created_at = now;
    assert_int_equal(st->ops->session_create(st, &s, hash, 3600), STORE_OK);
}

static void
test_schema_has_config_row(void **state)
{
    struct security_config cfg;
    int from, to;

    assert_int_equal(((struct store *)*state)->ops->security_config(*state, &cfg), STORE_OK);
    assert_int_equal(cfg.global.version, 1);
    assert_string_equal(cfg.last_updated_by, "");
    /* Migrating again is a no-op. */
    assert_int_equal(((struct store *)*state)->ops->migrate(*state, &from, &to), STORE_OK);
    assert_int_equal(from, to);
}

static void
test_duplicate_email_conflicts(void **state)
{
    struct store *st = *state;
    struct user a, b;

    add_user(st, "dup@example.com", &a);
    memcpy(&b, &a, sizeof(b));
    ids_new(b.id);
    snprintf(b.email, sizeof(b.email), "DUP@example.com");
    assert_int_equal(st->ops->user_create(st, &b), STORE_CONFLICT);
}

static void
test_global_rotation_counts_active_sessions(void **state)
{
    struct rotation_request rq = {.type = ROTATION_GLOBAL,
                                  .reason = "twenty characters or more",
                                  .initiated_by = "USER:a@example.com",
                                  .grace_minutes = 15,
                                  .now = 2000};
    uint8_t hash[TOKEN_HASH_LEN];
    struct rotation_event e;
    struct store *st = *state;
    struct user a, b, c;

    add_user(st, "a@example.com", &a);
    add_user(st, "b@example.com", &b);
    add_user(st, "c@example.com", &c);
    add_session(st, &a, 1000, hash);
    add_session(st, &b, 1000, hash);
    add_session(st, &b, 1000, hash);
    add_session(st, &c, -10000, hash); /* expired long before `now` */

    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);
    assert_int_equal(e.old_version, 1);
    assert_int_equal(e.new_version, 2);
    assert_int_equal(e.tokens_revoked, 3);
    assert_int_equal(e.users_affected, 2);
    assert_int_equal(e.global_after.grace_version, 1);
    assert_int_equal(e.global_after.grace_ends_at, 2000 + 15 * 60);

    /* During the window the old sessions are still active; a second rotation cuts them
     * and reports them again, and opens a window only for generation 2. */
    rq.now = 2100;
    rq.grace_minutes = 0;
    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);
    assert_int_equal(e.tokens_revoked, 3);
    assert_int_equal(e.global_after.grace_version, 0);
    rq.now = 2200;
    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);
    assert_int_equal(e.tokens_revoked, 0);
    assert_int_equal(e.old_version, 3);
}

static void
test_refresh_reuse_revokes_session(void **state)
{
    uint8_t first[TOKEN_HASH_LEN], second[TOKEN_HASH_LEN], third[TOKEN_HASH_LEN];
    char unused_token[TOKEN_REFRESH_LEN];
    enum refresh_outcome outcome;
    struct store *st = *state;
    struct session s;
    struct user u;

    add_user(st, "r@example.com", &u);
    add_session(st, &u, 1000, first);
    token_new_refresh(unused_token, second);
    token_new_refresh(unused_token, third);

    assert_int_equal(st->ops->session_refresh(st, first, second, 1100, 3600, &outcome, &s),
                     STORE_OK);
    assert_int_equal(outcome, REFRESH_OK);
    assert_int_equal(st->ops->session_refresh(st, first, third, 1200, 3600, &outcome, &s),
                     STORE_OK);
    assert_int_equal(outcome, REFRESH_REUSED);
    /* The newest token of the lineage dies with it. */
    assert_int_equal(st->ops->session_refresh(st, second, third, 1300, 3600, &outcome, &s),
                     STORE_OK);
    assert_int_equal(outcome, REFRESH_REVOKED);
}

struct racer {
    const char *user_id;
    int64_t old_versions[25];
};

static void *
rotate_many(void *arg)
{
    struct racer *r = arg;
    struct store *st = open_store();
    struct rotation_request rq = {.type = ROTATION_USER,
                                  .user_id = r->user_id,
                                  .reason = "parallel rotation test",
                                  .initiated_by = "USER:t@example.com",
                                  .now = 5000};
    struct rotation_event e;

    for (int i = 0; i < 25; i++) {
        assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);
        r->old_versions[i] = e.old_version;
    }
    store_close(st);
    return NULL;
}

static void
test_parallel_rotations_lose_nothing(void **state)
{
    struct racer racers[4];
    pthread_t threads[4];
    bool seen[101] = {false};
    struct user u, after;

    add_user(*state, "p@example.com", &u);
    for (int i = 0; i < 4; i++) {
        racers[i].user_id = u.id;
        assert_int_equal(pthread_create(&threads[i], NULL, rotate_many, &racers[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);

    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 25; j++) {
            int64_t v = racers[i].old_versions[j];

            assert_in_range(v, 1, 100);
            assert_false(seen[v]);
            seen[v] = true;
        }
    }
    assert_int_equal(((struct store *)*state)->ops->user_by_id(*state, u.id, &after), STORE_OK);
    assert_int_equal(after.token_version, 101);
}

static void
count_event(const struct rotation_event *e, void *arg)
{
    (void)e;
    (*(int *)arg)++;
}

static void
test_audit_trail_is_append_only(void **state)
{
    struct rotation_request rq = {.type = ROTATION_USER,
                                  .reason = "audit trail test",
                                  .initiated_by = "USER:t@example.com",
                                  .now = 5000};
    struct rotation_event e;
    struct store *st = *state;
    int64_t total = 0;
    int seen = 0;
    struct user u;

    add_user(st, "audit@example.com", &u);
    rq.user_id = u.id;
    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);
    assert_int_equal(st->ops->events_list(st, 10, 0, count_event, &seen, &total), STORE_OK);
    assert_int_equal(total, 1);
    assert_int_equal(seen, 1);

    /* An unknown user is not rotated and leaves no event. */
    rq.user_id = "00000000-0000-4000-8000-000000000000";
    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_NOT_FOUND);
    assert_int_equal(st->ops->events_list(st, 10, 0, count_event, &seen, &total), STORE_OK);
    assert_int_equal(total, 1);
}

enum { REFRESHERS = 8 };

struct refresher {
    const uint8_t *old_hash;
    uint8_t new_hash[TOKEN_HASH_LEN];
    pthread_barrier_t *start;
    enum store_result result;
    enum refresh_outcome outcome;
};

/* Runs on its own thread and store; asserts nothing, the test checks what it recorded. */
static void *
refresh_once(void *arg)
{
    struct refresher *r = arg;
    char err[256], unused_token[TOKEN_REFRESH_LEN];
    struct store *st = store_open(db_url, err, sizeof(err));
    struct session s;

    token_new_refresh(unused_token, r->new_hash);
    r->result = st ? st->ops->ping(st) : STORE_ERROR; /* connected before the race starts */
    pthread_barrier_wait(r->start);
    if (r->result == STORE_OK)
        r->result =
            st->ops->session_refresh(st, r->old_hash, r->new_hash, 1100, 3600, &r->outcome, &s);
    store_close(st);
    return NULL;
}

static void
test_parallel_refreshes_yield_one_token(void **state)
{
    struct refresher racers[REFRESHERS];
    pthread_t threads[REFRESHERS];
    uint8_t first[TOKEN_HASH_LEN], third[TOKEN_HASH_LEN];
    char unused_token[TOKEN_REFRESH_LEN];
    pthread_barrier_t start;
    enum refresh_outcome outcome;
    struct store *st = *state;
    const uint8_t *winner = NULL;
    int reused = 0;
    struct session s;
    struct user u;

    add_user(st, "race@example.com", &u);
    add_session(st, &u, 1000, first);
    pthread_barrier_init(&start, NULL, REFRESHERS);
    for (int i = 0; i < REFRESHERS; i++) {
        racers[i] = (struct refresher){.old_hash = first, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, refresh_once, &racers[i]), 0);
    }
    for (int i = 0; i < REFRESHERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);

    /* One refresh wins; every other one presents a retired token, which is reuse. */
    for (int i = 0; i < REFRESHERS; i++) {
        assert_int_equal(racers[i].result, STORE_OK);
        if (racers[i].outcome == REFRESH_OK) {
            assert_null(winner);
            winner = racers[i].new_hash;
        } else {
            assert_int_equal(racers[i].outcome, REFRESH_REUSED);
            reused++;
        }
    }
    assert_non_null(winner);
    assert_int_equal(reused, REFRESHERS - 1);
    /* The reuse revoked the session, so the winner's token dies with it. */
    token_new_refresh(unused_token, third);
    assert_int_equal(st->ops->session_refresh(st, winner, third, 1200, 3600, &outcome, &s),
                     STORE_OK);
    assert_int_equal(outcome, REFRESH_REVOKED);
}

static void
test_schema_guards_audit_trail_and_config(void **state)
{
    struct rotation_request rq = {.type = ROTATION_USER,
                                  .reason = "schema guard test",
                                  .initiated_by = "USER:t@example.com",
                                  .now = 5000};
    struct security_config cfg;
    struct rotation_event e;
    struct store *st = *state;
    int64_t total = 0;
    int seen = 0;
    struct user u;

    add_user(st, "guard@example.com", &u);
    rq.user_id = u.id;
    assert_int_equal(st->ops->rotate(st, &rq, &e), STORE_OK);

    assert_false(backend->raw_sql("UPDATE rotation_events SET reason = 'rewritten'"));
    assert_false(backend->raw_sql("DELETE FROM rotation_events"));
    assert_false(backend->raw_sql("DELETE FROM security_config"));

    assert_int_equal(st->ops->events_list(st, 10, 0, count_event, &seen, &total), STORE_OK);
    assert_int_equal(total, 1);
    assert_int_equal(st->ops->security_config(st, &cfg), STORE_OK);
}

static void
test_newer_schema_is_refused(void **state)
{
    struct store *st = *state;
    int from, to;

    assert_true(backend->raw_sql("INSERT INTO schema_migrations (version, name, applied_at) "
                                 "VALUES (999, '999_from_the_future', 0)"));
    assert_int_equal(st->ops->migrate(st, &from, &to), STORE_ERROR);
}

/* ---- PostgreSQL only: the connection pool ---- */

static int
fresh_database_one_connection(void **state)
{
    store_configure(&(struct store_options){.pool_size = 1, .max_overflow = 0, .pool_timeout = 1});
    return fresh_database(state);
}

struct blocked_rotation {
    const char *user_id;
    enum store_result result;
};

static void *
rotate_blocked(void *arg)
{
    struct blocked_rotation *b = arg;
    struct rotation_request rq = {.type = ROTATION_USER,
                                  .user_id = b->user_id,
                                  .reason = "pool timeout test",
                                  .initiated_by = "USER:t@example.com",
                                  .now = 5000};
    struct rotation_event e;
    char err[256];
    struct store *st = store_open(db_url, err, sizeof(err));

    b->result = st ? st->ops->rotate(st, &rq, &e) : STORE_ERROR;
    store_close(st);
    return NULL;
}

/* Waits until some session of the test database waits for a lock; false after 5 s. */
static bool
wait_for_lock_waiter(PGconn *conn)
{
    for (int i = 0; i < 100; i++) {
        PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_stat_activity "
                                     "WHERE wait_event_type = 'Lock' "
                                     "AND datname = current_database()");
        bool waiting =
            PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "0") != 0;

        PQclear(res);
        if (waiting)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

static double
seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
test_pool_timeout_answers_unavailable(void **state)
{
    struct store *st = *state;
    struct blocked_rotation b = {0};
    PGconn *holder = PQconnectdb(db_url);
    struct timespec t0;
    pthread_t thread;
    char sql[160];
    double waited;
    struct user u;

    /* Another client holds the user's row; a rotation of that user takes the pool's only
     * connection and waits for the row. */
    add_user(st, "pool@example.com", &u);
    b.user_id = u.id;
    snprintf(sql, sizeof(sql), "BEGIN; SELECT 1 FROM users WHERE id = '%s' FOR UPDATE", u.id);
    PQclear(PQexec(holder, sql));
    assert_int_equal(PQtransactionStatus(holder), PQTRANS_INTRANS);
    assert_int_equal(pthread_create(&thread, NULL, rotate_blocked, &b), 0);
    assert_true(wait_for_lock_waiter(holder));

    /* Nothing comes free within the pool timeout of 1 s. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(st->ops->ping(st), STORE_UNAVAILABLE);
    waited = seconds_since(&t0);
    assert_true(waited >= 0.9 && waited < 3.0);

    /* Once the row is free the rotation completes and the connection serves again. */
    PQclear(PQexec(holder, "COMMIT"));
    pthread_join(thread, NULL);
    PQfinish(holder);
    assert_int_equal(b.result, STORE_OK);
    assert_int_equal(st->ops->ping(st), STORE_OK);
}

/* The number of sessions on the test database other than `conn`'s. */
static int
other_sessions(PGconn *conn)
{
    PGresult *res = PQexec(conn, "SELECT count(*) FROM pg_stat_activity "
                                 "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;

    PQclear(res);
    return n;
}

static void
test_connections_the_server_ended_are_replaced(void **state)
{
    struct store *st = *state;
    PGconn *admin = PQconnectdb(db_url);

    /* The pool keeps a connection; the server ends it, as a restart does. */
    assert_int_equal(st->ops->ping(st), STORE_OK);
    assert_true(other_sessions(admin) > 0);
    PQclear(PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"));
    for (int i = 0; i < 100 && other_sessions(admin) != 0; i++)
        usleep(20 * 1000);
    assert_int_equal(other_sessions(admin), 0);
    PQfinish(admin);

    /* The next operation notices before using it, and succeeds on a new connection. */
    assert_int_equal(st->ops->ping(st), STORE_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_has_config_row, fresh_database, close_database),
        cmocka_unit_test_setup_teardown(test_duplicate_email_conflicts, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_global_rotation_counts_active_sessions, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_refresh_reuse_revokes_session, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_parallel_rotations_lose_nothing, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_audit_trail_is_append_only, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_parallel_refreshes_yield_one_token, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_schema_guards_audit_trail_and_config, fresh_database,
                                        close_database),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, fresh_database,
                                        close_database),
    };
    const struct CMUnitTest pool_tests[] = {
        cmocka_unit_test_setup_teardown(test_pool_timeout_answers_unavailable,
                                        fresh_database_one_connection, close_database),
        cmocka_unit_test_setup_teardown(test_connections_the_server_ended_are_replaced,
                                        fresh_database, close_database),
    };
    const char *pg = getenv(PG_ENV);
    int failed;

    backend = &sqlite_backend;
    failed = cmocka_run_group_tests_name("store on SQLite", tests, NULL, NULL);
    if (pg == NULL || pg[0] == '\0') {
        print_message("store on PostgreSQL: skipped; set " PG_ENV " to run it\n");
        return failed;
    }
    backend = &pg_backend;
    failed += cmocka_run_group_tests_name("store on PostgreSQL", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("PostgreSQL connection pool", pool_tests, NULL, NULL);
    return failed;
}
