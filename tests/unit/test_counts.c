/* The live counts of active sessions: the arithmetic, then a randomised run of logins,
 * logouts, rotations and expiries on a real SQLite database, where after every step the
 * counts must equal what a full scan of the sessions says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/counts.h"
#include "store/store.h"
#include "util/ids.h"

static void
test_arithmetic(void **unused)
{
    struct global_state g = {.version = 1};
    struct live_counts c = {0};
    struct user_slots a = {0}, b = {0};
    int64_t sessions, users;

    (void)unused;
    counts_session_added(&g, 0, &a, &c);
    counts_session_added(&g, 0, &a, &c);
    counts_session_added(&g, 0, &b, &c);
    counts_active(&g, 0, &c, &sessions, &users);
    assert_int_equal(sessions, 3);
    assert_int_equal(users, 2);

    /* Rotation 1 -> 2 with a window until t=100; a logs in again in generation 2. */
    counts_global_rotated(&c);
    g = (struct global_state){.version = 2, .grace_version = 1, .grace_ends_at = 100};
    counts_session_added(&g, 10, &a, &c);
    counts_active(&g, 10, &c, &sessions, &users);
    assert_int_equal(sessions, 4);
    assert_int_equal(users, 2); /* a is in both generations, counted once */

    counts_session_removed(&g, 20, 1, &b, &c); /* b's only old session ends */
    counts_active(&g, 20, &c, &sessions, &users);
    assert_int_equal(sessions, 3);
    assert_int_equal(users, 1);

    assert_int_equal(counts_user_cleared(&g, 30, &a, &c), 3);
    counts_active(&g, 30, &c, &sessions, &users);
    assert_int_equal(sessions, 0);
    assert_int_equal(users, 0);

    /* After the window, only the current generation counts. */
    counts_session_added(&g, 40, &b, &c);
    counts_active(&g, 200, &c, &sessions, &users);
    assert_int_equal(sessions, 1);
    assert_int_equal(users, 1);
}

/* ---- The randomised run ---- */

enum { USERS = 12, STEPS = 1500, TTL = 500 };

struct world {
    char dir[64];
    struct store *st;
    sqlite3 *truth;
    struct user users[USERS];
    char sessions[4096][TOKEN_UUID_LEN];
    int n_sessions;
    int64_t now;
};

static void
truth_counts(struct world *w, int64_t *sessions, int64_t *users)
{
    static const char sql[] =
        "SELECT count(*), count(DISTINCT s.user_id) FROM sessions s "
        "JOIN users u ON u.id = s.user_id, security_config c "
        "WHERE s.revoked_at IS NULL AND s.expires_at > ?1 AND s.user_version = u.token_version "
        "AND (s.global_version = c.global_version "
        "     OR (s.global_version = c.grace_version AND c.grace_ends_at > ?1))";
    sqlite3_stmt *p = NULL;

    assert_int_equal(sqlite3_prepare_v2(w->truth, sql, -1, &p, NULL), SQLITE_OK);
    sqlite3_bind_int64(p, 1, w->now);
    assert_int_equal(sqlite3_step(p), SQLITE_ROW);
    *sessions = sqlite3_column_int64(p, 0);
    *users = sqlite3_column_int64(p, 1);
    sqlite3_finalize(p);
}

/* What the stored counters say, read straight from the database. */
static void
stored_counts(struct world *w, int64_t *sessions, int64_t *users)
{
    static const char sql[] = "SELECT global_version, grace_version, grace_ends_at, "
                              "cur_sessions, cur_users, grace_sessions, grace_users, both_users "
                              "FROM security_config";
    struct global_state g;
    struct live_counts c;
    sqlite3_stmt *p = NULL;

    assert_int_equal(sqlite3_prepare_v2(w->truth, sql, -1, &p, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(p), SQLITE_ROW);
    g = (struct global_state){sqlite3_column_int64(p, 0), sqlite3_column_int64(p, 1),
                              sqlite3_column_int64(p, 2)};
    c = (struct live_counts){sqlite3_column_int64(p, 3), sqlite3_column_int64(p, 4),
                             sqlite3_column_int64(p, 5), sqlite3_column_int64(p, 6),
                             sqlite3_column_int64(p, 7)};
    sqlite3_finalize(p);
    counts_active(&g, w->now, &c, sessions, users);
}

static void
login(struct world *w, struct user *u)
{
    char refresh[TOKEN_REFRESH_LEN];
    uint8_t hash[TOKEN_HASH_LEN];
    struct session s = {0};

    if (w->n_sessions == (int)(sizeof(w->sessions) / sizeof(w->sessions[0])))
        return;
    assert_int_equal(token_new_refresh(refresh, hash), 0);
    ids_new(s.id);
    memcpy(s.user_id, u->id, sizeof(s.user_id));
    s.created_at = w->now;
    assert_int_equal(w->st->ops->session_create(w->st, &s, hash, TTL), STORE_OK);
    memcpy(w->sessions[w->n_sessions++], s.id, TOKEN_UUID_LEN);
}

static void
rotate(struct world *w, enum rotation_type type, const char *user_id, int grace)
{
    struct rotation_request rq = {.type = type,
                                  .user_id = user_id,
                                  .reason = "randomised counts test",
                                  .initiated_by = "USER:test@example.com",
                                  .grace_minutes = grace,
                                  .now = w->now};
    struct rotation_event e;
    int64_t sessions, users;

    truth_counts(w, &sessions, &users);
    assert_int_equal(w->st->ops->rotate(w->st, &rq, &e), STORE_OK);
    if (type == ROTATION_GLOBAL) {
        assert_int_equal(e.tokens_revoked, sessions);
        assert_int_equal(e.users_affected, users);
    }
}

static void
step(struct world *w, unsigned *seed)
{
    int dice = rand_r(seed) % 100;
    struct user *u = &w->users[rand_r(seed) % USERS];

    if (dice < 45) {
        login(w, u);
    } else if (dice < 60 && w->n_sessions > 0) {
        /* A logout; revoking one already ended is a no-op by design. */
        (void)w->st->ops->session_revoke(w->st, w->sessions[rand_r(seed) % w->n_sessions], NULL,
                                         w->now, "logout");
    } else if (dice < 68) {
        rotate(w, ROTATION_USER, u->id, 0);
    } else if (dice < 72) {
        rotate(w, ROTATION_GLOBAL, NULL, rand_r(seed) % 3 == 0 ? 0 : 2);
    } else if (dice < 80) {
        int64_t swept;

        assert_int_equal(w->st->ops->sweep(w->st, w->now, &swept), STORE_OK);
    } else {
        w->now += rand_r(seed) % 90; /* sessions expire, grace windows (120 s) close */
    }
}

static void
test_counts_match_a_full_scan(void **unused)
{
    struct world *w = calloc(1, sizeof(*w));
    unsigned seed = 20261204;
    char url[128], err[256], path[128];
    int from, to;

    (void)unused;
    snprintf(w->dir, sizeof(w->dir), "/tmp/rotator-counts-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(url, sizeof(url), "sqlite:%s/c.db", w->dir);
    snprintf(path, sizeof(path), "%s/c.db", w->dir);
    w->st = store_open(url, err, sizeof(err));
    assert_non_null(w->st);
    assert_int_equal(w->st->ops->migrate(w->st, &from, &to), STORE_OK);
    assert_int_equal(sqlite3_open(path, &w->truth), SQLITE_OK);
    sqlite3_busy_timeout(w->truth, 5000);
    w->now = 1000000;

    for (int i = 0; i < USERS; i++) {
        ids_new(w->users[i].id);
        snprintf(w->users[i].email, sizeof(w->users[i].email), "u%d@example.com", i);
        snprintf(w->users[i].password_hash, sizeof(w->users[i].password_hash), "x");
        assert_int_equal(w->st->ops->user_create(w->st, &w->users[i]), STORE_OK);
    }
    for (int i = 0; i < STEPS; i++) {
        int64_t counted, sessions, users, truth_sessions, truth_users;

        step(w, &seed);
        /* The API's count sweeps expired sessions first; then the counters must be exact. */
        assert_int_equal(w->st->ops->sessions_count_active(w->st, w->now, &counted), STORE_OK);
        stored_counts(w, &sessions, &users);
        truth_counts(w, &truth_sessions, &truth_users);
        if (counted != truth_sessions || sessions != truth_sessions || users != truth_users)
            fail_msg("step %d: counted %lld sessions of %lld users, a full scan finds %lld of "
                     "%lld",
                     i, (long long)sessions, (long long)users, (long long)truth_sessions,
                     (long long)truth_users);
    }

    sqlite3_close(w->truth);
    store_close(w->st);
    for (const char *const *f = (const char *const[]){"c.db", "c.db-wal", "c.db-shm", NULL}; *f;
         f++) {
        snprintf(path, sizeof(path), "%s/%s", w->dir, *f);
        unlink(path);
    }
    rmdir(w->dir);
    free(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_counts_match_a_full_scan),
    };

    return cmocka_run_group_tests_name("counts", tests, NULL, NULL);
}
