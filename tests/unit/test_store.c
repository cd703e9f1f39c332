/* Unit tests of the SQLite backend on a real database file: the atomicity and counting rules
 * that rotations rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "store/store.h"
#include "util/ids.h"

static char db_dir[64];
static char db_url[256];

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
    snprintf(db_dir, sizeof(db_dir), "/tmp/rotator-store-XXXXXX");
    assert_non_null(mkdtemp(db_dir));
    snprintf(db_url, sizeof(db_url), "sqlite:%s/test.db", db_dir);
    *state = open_store();
    return 0;
}

static int
close_database(void **state)
{
    static const char *const files[] = {"test.db", "test.db-wal", "test.db-shm"};
    char path[128];

    store_close(*state);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", db_dir, files[i]);
        unlink(path);
    }
    rmdir(db_dir);
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
    };

    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
