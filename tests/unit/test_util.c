/* Unit tests of the small pieces: router, text checks, log clipping, configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"
#include "util/config.h"
#include "util/log.h"
#include "util/text.h"

static void
handler_a(struct call *c)
{
    (void)c;
}

static void
handler_b(struct call *c)
{
    (void)c;
}

static const struct route ROUTES[] = {
    {"POST", "/api/v1/things", ACCESS_PUBLIC, handler_a},
    {"DELETE", "/api/v1/things/{}", ACCESS_USER, handler_b},
    {"GET", "/api/v1/things/{}/parts", ACCESS_USER, handler_a},
};

static enum router_match
match(const char *method, const char *path, const struct route **r, char *param)
{
    return router_match(ROUTES, 3, method, strlen(method), path, strlen(path), r, param, 40);
}

static void
test_router(void **unused)
{
    const struct route *r = NULL;
    char param[40];

    (void)unused;
    assert_int_equal(match("POST", "/api/v1/things", &r, param), ROUTER_FOUND);
    assert_ptr_equal(r->handler, handler_a);
    assert_int_equal(match("DELETE", "/api/v1/things/abc", &r, param), ROUTER_FOUND);
    assert_ptr_equal(r->handler, handler_b);
    assert_string_equal(param, "abc");
    assert_int_equal(match("GET", "/api/v1/things/x1/parts", &r, param), ROUTER_FOUND);
    assert_string_equal(param, "x1");
    assert_int_equal(match("GET", "/api/v1/things", &r, param), ROUTER_NO_METHOD);
    assert_int_equal(match("DELETE", "/api/v1/things/", &r, param), ROUTER_NO_PATH);
    assert_int_equal(match("DELETE", "/api/v1/things/a/b", &r, param), ROUTER_NO_PATH);
    assert_int_equal(match("POST", "/api/v1/thing", &r, param), ROUTER_NO_PATH);
    assert_int_equal(match("POST", "/api/v1/thingss", &r, param), ROUTER_NO_PATH);
    /* A segment longer than the caller's buffer does not match rather than overflow. */
    assert_int_equal(
        match("DELETE", "/api/v1/things/0123456789012345678901234567890123456789", &r, param),
        ROUTER_NO_PATH);
}

static void
test_text(void **unused)
{
    (void)unused;
    assert_int_equal(text_utf8_length("abc"), 3);
    assert_int_equal(text_utf8_length("\xc3\xa9t\xc3\xa9"), 3); /* "été" */
    assert_true(text_email_plausible("a@b"));
    assert_false(text_email_plausible("@b"));
    assert_false(text_email_plausible("a@"));
    assert_false(text_email_plausible("a b@c"));
    assert_false(text_email_plausible("a@b@c"));
    assert_false(text_email_plausible("ab"));
}

static void
test_log_clip(void **unused)
{
    char out[LOG_CLIP_BUF], longer[LOG_CLIP_MAX + 50];

    (void)unused;
    assert_string_equal(log_clip("plain", out), "plain");
    assert_string_equal(log_clip("a\nINFO: forged", out), "a\\x0aINFO: forged");
    assert_string_equal(log_clip("it's", out), "it\\'s");
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    log_clip(longer, out);
    assert_int_equal(strlen(out), LOG_CLIP_MAX + 3);
    assert_string_equal(out + LOG_CLIP_MAX, "...");
}

static void
test_config(void **unused)
{
    struct config cfg;
    char err[256];

    (void)unused;
    setenv("ROTATOR_ACCESS_TTL", "120", 1);
    unsetenv("ROTATOR_LISTEN");
    assert_int_equal(config_from_env(&cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.access_ttl, 120);
    assert_string_equal(cfg.listen, "127.0.0.1:8080");
    assert_null(cfg.jwt_key_file);
    assert_int_equal(config_set(&cfg, "access-ttl", "300", err, sizeof(err)), 0);
    assert_int_equal(cfg.access_ttl, 300);
    assert_int_equal(config_set(&cfg, "access-ttl", "5", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "threads", "two", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "no-such-setting", "1", err, sizeof(err)), 1);

    setenv("ROTATOR_ACCESS_TTL", "0", 1);
    assert_int_equal(config_from_env(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ROTATOR_ACCESS_TTL"));
    unsetenv("ROTATOR_ACCESS_TTL");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_log_clip),
        cmocka_unit_test(test_config),
    };

    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
