/* Unit tests of the core: the revocation rules, access and refresh tokens, passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>

#include "core/password.h"
#include "core/revstate.h"
#include "core/token.h"
#include "core/token_cache.h"
#include "util/clock.h"

static const uint8_t USER_A[16] = {1};
static const uint8_t USER_B[16] = {2};
static const uint8_t SESSION_A[16] = {9};
static const uint8_t SESSION_B[16] = {10};

static int
fresh_state(void **unused)
{
    (void)unused;
    return revstate_init(900);
}

static void
test_generation_rule(void **unused)
{
    struct global_state g = {.version = 3, .grace_version = 2, .grace_ends_at = 1000};

    (void)unused;
    assert_true(revstate_generation_accepted(&g, 3, 5000));
    assert_true(revstate_generation_accepted(&g, 2, 999));
    assert_false(revstate_generation_accepted(&g, 2, 1000));
    assert_false(revstate_generation_accepted(&g, 1, 10)); /* older than the window's */
    assert_false(revstate_generation_accepted(&g, 4, 10)); /* from the future: forged */
    g.grace_version = 0;
    assert_false(revstate_generation_accepted(&g, 2, 10));
}

static void
test_user_rotation_refuses_old_version(void **unused)
{
    (void)unused;
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, 100), REVOCATION_OK);
    revstate_set_user_version(USER_A, 2);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, 100), REVOCATION_USER);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 2, 1, 100), REVOCATION_OK);
    /* Another user is untouched. */
    assert_int_equal(revstate_check(USER_B, SESSION_B, 1, 1, 100), REVOCATION_OK);
}

static void
test_versions_never_go_back(void **unused)
{
    struct global_state g3 = {.version = 3}, g2 = {.version = 2};

    (void)unused;
    revstate_set_user_version(USER_A, 5);
    revstate_set_user_version(USER_A, 4); /* a late, older update */
    assert_int_equal(revstate_check(USER_A, SESSION_A, 5, 1, 100), REVOCATION_OK);
    revstate_set_global(&g3);
    revstate_set_global(&g2);
    assert_int_equal(revstate_global().version, 3);
}

static void
test_session_revocation_is_per_session(void **unused)
{
    (void)unused;
    revstate_revoke_session(SESSION_A, 100);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, 101), REVOCATION_SESSION);
    assert_int_equal(revstate_check(USER_A, SESSION_B, 1, 1, 101), REVOCATION_OK);
}

/* A revoked session is remembered for the whole horizon (the longest access token lifetime),
 * and forgotten after it, when no token of it can still be unexpired. */
static void
test_revoked_sessions_kept_for_the_horizon(void **unused)
{
    int64_t now = clock_now();
    uint64_t users, sessions;
    uint8_t id[16] = {0};

    (void)unused;
    revstate_init(86400);
    revstate_revoke_session(SESSION_A, now - 3600);  /* within the horizon */
    revstate_revoke_session(SESSION_B, now - 90000); /* beyond it */
    for (uint16_t i = 0; i < 1100; i++) {            /* enough to trigger a prune */
        memcpy(id + 14, &i, sizeof(i));
        id[0] = 0xee;
        revstate_revoke_session(id, now);
    }
    revstate_counts(&users, &sessions);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, now), REVOCATION_SESSION);
    assert_true(sessions < 1102); /* SESSION_B was forgotten */
    assert_true(sessions >= 1100);
}

static void
test_global_grace_window(void **unused)
{
    struct global_state g = {.version = 2, .grace_version = 1, .grace_ends_at = 1900};

    (void)unused;
    revstate_set_global(&g);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, 1899), REVOCATION_OK);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 1, 1900), REVOCATION_GLOBAL);
    assert_int_equal(revstate_check(USER_A, SESSION_A, 1, 2, 5000), REVOCATION_OK);
}

static const struct signing_key *
test_key(void)
{
    static struct signing_key key;

    memset(key.bytes, 'k', 32);
    key.len = 32;
    return &key;
}

static const struct access_claims CLAIMS = {
    .sub = "6f1c1a7e-6a55-4b0e-9d0e-1c4b2f7f8a01",
    .sid = "0b0e9a49-2f53-4d7c-bb9c-0d0f1f2e3a4b",
    .admin = 1,
    .ver = 4,
    .gver = 2,
    .iat = 1000,
    .exp = 1900,
};

static void
test_access_token_round_trip(void **unused)
{
    struct access_claims out;
    char *token = token_issue_access(test_key(), &CLAIMS);

    (void)unused;
    assert_non_null(token);
    assert_int_equal(token_verify_access(test_key(), token, 1899, &out), TOKEN_VALID);
    assert_string_equal(out.sub, CLAIMS.sub);
    assert_string_equal(out.sid, CLAIMS.sid);
    assert_int_equal(out.ver, 4);
    assert_int_equal(out.gver, 2);
    assert_true(out.admin);
    assert_int_equal(token_verify_access(test_key(), token, 1900, &out), TOKEN_EXPIRED);
    free(token);
}

static void
test_access_token_wrong_key(void **unused)
{
    struct signing_key other = *test_key();
    struct access_claims out;
    char *token = token_issue_access(test_key(), &CLAIMS);

    (void)unused;
    other.bytes[0] = 'x';
    assert_int_equal(token_verify_access(&other, token, 1000, &out), TOKEN_BAD_SIGNATURE);
    free(token);
}

/* libjwt checks whichever HMAC the header names; a token signed HS512 with our own key must
 * still be refused, because the server pins HS256. */
static void
test_access_token_other_algorithm_refused(void **unused)
{
    struct access_claims out;
    jwt_t *jwt = NULL;
    char *token;

    (void)unused;
    assert_int_equal(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "iss", "rotator");
    jwt_add_grant(jwt, "sub", CLAIMS.sub);
    jwt_add_grant(jwt, "sid", CLAIMS.sid);
    jwt_add_grant(jwt, "role", "admin");
    jwt_add_grant_int(jwt, "ver", 4);
    jwt_add_grant_int(jwt, "gver", 2);
    jwt_add_grant_int(jwt, "iat", 1000);
    jwt_add_grant_int(jwt, "exp", 1900);
    jwt_set_alg(jwt, JWT_ALG_HS512, test_key()->bytes, (int)test_key()->len);
    token = jwt_encode_str(jwt);
    assert_non_null(token);
    assert_int_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_BAD_SIGNATURE);
    free(token);

    /* And an unsigned one. */
    jwt_set_alg(jwt, JWT_ALG_NONE, NULL, 0);
    token = jwt_encode_str(jwt);
    assert_non_null(token);
    assert_int_not_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_VALID);
    free(token);
    jwt_free(jwt);
}

static void
test_access_token_garbage(void **unused)
{
    static const char *const samples[] = {"", "a", "a.b", "a.b.c", "....", "eyJ.eyJ.sig"};
    struct access_claims out;
    char big[4096];

    (void)unused;
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
        assert_int_not_equal(token_verify_access(test_key(), samples[i], 1000, &out), TOKEN_VALID);
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(token_verify_access(test_key(), big, 1000, &out), TOKEN_MALFORMED);
}

/* Any change to the signed text, or a second encoding of the same bytes, breaks the check. */
static void
test_access_token_tampering(void **unused)
{
    struct access_claims out;
    char *token = token_issue_access(test_key(), &CLAIMS);
    char *dot = strchr(token, '.');
    size_t len = strlen(token);
    char saved;

    (void)unused;
    dot[3] ^= 1; /* a bit of the payload */
    assert_int_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_BAD_SIGNATURE);
    dot[3] ^= 1;
    saved = token[len - 10];
    token[len - 10] = saved == 'A' ? 'B' : 'A'; /* a bit of the signature */
    assert_int_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_BAD_SIGNATURE);
    token[len - 10] = saved;
    assert_int_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_VALID);

    /* The signature's last character has two bits that encode nothing; setting them makes
     * another spelling of the same bytes, which must not pass as the same token. */
    {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        long at = strchr(alphabet, token[len - 1]) - alphabet;

        token[len - 1] = alphabet[at | 1];
        assert_int_not_equal(token_verify_access(test_key(), token, 1000, &out), TOKEN_VALID);
    }
    free(token);
}

static void
test_token_cache(void **unused)
{
    struct access_claims out;
    const char *token = "aaa.bbb.ccc";

    (void)unused;
    assert_false(token_cache_get(test_key(), token, strlen(token), &out));
    token_cache_put(test_key(), token, strlen(token), &CLAIMS);
    assert_true(token_cache_get(test_key(), token, strlen(token), &out));
    assert_string_equal(out.sid, CLAIMS.sid);
    /* Same signature, other payload: a miss, never the cached claims. */
    assert_false(token_cache_get(test_key(), "aab.bbb.ccc", 11, &out));
}

static void
test_refresh_tokens(void **unused)
{
    char token[TOKEN_REFRESH_LEN], other[TOKEN_REFRESH_LEN];
    uint8_t hash[TOKEN_HASH_LEN], again[TOKEN_HASH_LEN], hash2[TOKEN_HASH_LEN];

    (void)unused;
    assert_int_equal(token_new_refresh(token, hash), 0);
    assert_int_equal(token_new_refresh(other, hash2), 0);
    assert_string_not_equal(token, other);
    assert_int_equal(token_hash_refresh(token, again), 0);
    assert_memory_equal(hash, again, TOKEN_HASH_LEN);
    assert_int_equal(token_hash_refresh("short", again), -1);
    token[5] = 'Z'; /* not lowercase hex */
    assert_int_equal(token_hash_refresh(token, again), -1);
}

static void
test_password_hash_and_verify(void **unused)
{
    char hash[PASSWORD_HASH_MAX];

    (void)unused;
    assert_int_equal(password_hash("correct horse battery", hash), 0);
    assert_non_null(strstr(hash, "$argon2id$"));
    assert_true(password_verify(hash, "correct horse battery"));
    assert_false(password_verify(hash, "correct horse battery!"));
    assert_false(password_verify("not a hash", "anything"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_rule),
        cmocka_unit_test_setup(test_user_rotation_refuses_old_version, fresh_state),
        cmocka_unit_test_setup(test_versions_never_go_back, fresh_state),
        cmocka_unit_test_setup(test_session_revocation_is_per_session, fresh_state),
        cmocka_unit_test_setup(test_global_grace_window, fresh_state),
        cmocka_unit_test(test_revoked_sessions_kept_for_the_horizon),
        cmocka_unit_test(test_access_token_round_trip),
        cmocka_unit_test(test_access_token_wrong_key),
        cmocka_unit_test(test_access_token_other_algorithm_refused),
        cmocka_unit_test(test_access_token_garbage),
        cmocka_unit_test(test_access_token_tampering),
        cmocka_unit_test(test_token_cache),
        cmocka_unit_test(test_refresh_tokens),
        cmocka_unit_test(test_password_hash_and_verify),
    };

    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
