#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "http/router.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

#define V1 "/api/v1"

static const struct route routes[] = {
    {"POST", V1 "/auth/register", ACCESS_PUBLIC, api_register},
    {"POST", V1 "/auth/login", ACCESS_PUBLIC, api_login},
    {"POST", V1 "/auth/refresh", ACCESS_PUBLIC, api_refresh},
    {"POST", V1 "/auth/logout", ACCESS_USER, api_logout},
    {"GET", V1 "/auth/me", ACCESS_USER, api_me},
    {"PATCH", V1 "/auth/me/password", ACCESS_USER, api_change_password},
    {"GET", V1 "/auth/verify", ACCESS_USER, api_verify},
    {"GET", V1 "/auth/sessions", ACCESS_USER, api_sessions_list},
    {"DELETE", V1 "/auth/sessions/{}", ACCESS_USER, api_session_delete},
    {"POST", V1 "/token-rotation/users/{}", ACCESS_USER, api_rotate_user},
    {"POST", V1 "/token-rotation/global", ACCESS_ADMIN, api_rotate_global},
    {"GET", V1 "/token-rotation/security-config", ACCESS_USER, api_security_config},
    {"GET", V1 "/token-rotation/events", ACCESS_ADMIN, api_events},
    {"GET", V1 "/sessions/active", ACCESS_ADMIN, api_sessions_active},
    {"GET", V1 "/health", ACCESS_PUBLIC, api_health},
    {"POST", V1 "/_test/clock", ACCESS_PUBLIC, api_test_clock},
};

static bool test_clock_enabled;

void
api_enable_test_clock(bool enabled)
{
    test_clock_enabled = enabled;
}

json_t *
api_time(int64_t t)
{
    char text[CLOCK_ISO_LEN];

    return json_string(clock_format(t, text));
}

json_t *
api_optional_string(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* Takes the token out of "Authorization: Bearer <token>". */
static const char *
bearer_token(struct call *c)
{
    static const char scheme[] = "bearer ";
    const char *value = call_header(c, H2O_TOKEN_AUTHORIZATION, LIMIT_TOKEN_MAX + 16);

    if (value == NULL || strncasecmp(value, scheme, sizeof(scheme) - 1) != 0)
        return NULL;
    value += sizeof(scheme) - 1;
    while (*value == ' ')
        value++;
    return *value != '\0' ? value : NULL;
}

/* Answers 401 or 403 and returns false when the caller may not use `route`. */
static bool
admit(struct call *c, const struct route *route)
{
    const char *token;

    if (route->access == ACCESS_PUBLIC)
        return true;
    if ((token = bearer_token(c)) == NULL) {
        reply_unauthorized(c, "Not authenticated");
        return false;
    }
    if (auth_authenticate(token, &c->principal) != AUTH_OK) {
        /* Why is logged at debug level; the client learns only that the token is no good. */
        reply_unauthorized(c, "Invalid, expired or revoked token");
        return false;
    }
    if (route->access == ACCESS_ADMIN && !c->principal.claims.admin) {
        log_warning("auth", "forbidden: user_id=%s is not an admin: %s %s", c->principal.claims.sub,
                    route->method, route->pattern);
        reply_error(c, 403, "Admin role required");
        return false;
    }
    return true;
}

static void
reply_method_not_allowed(struct call *c)
{
    h2o_req_t *req = c->req;
    char allow[64];
    h2o_iovec_t value;

    router_allowed(routes, sizeof(routes) / sizeof(routes[0]), req->path_normalized.base,
                   req->path_normalized.len, allow, sizeof(allow));
    value = h2o_strdup(&req->pool, allow, SIZE_MAX);

    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, value.base, value.len);
    reply_error(c, 405, "Method not allowed");
}

void
api_dispatch(h2o_req_t *req, struct store *st)
{
    struct call c = {.req = req, .store = st};
    const struct route *route = NULL;
    char param[64];
    enum router_match match;

    match = router_match(routes, sizeof(routes) / sizeof(routes[0]), req->method.base,
                         req->method.len, req->path_normalized.base, req->path_normalized.len,
                         &route, param, sizeof(param));
    if (match == ROUTER_FOUND && route->handler == api_test_clock && !test_clock_enabled)
        match = ROUTER_NO_PATH;
    if (match == ROUTER_NO_PATH) {
        reply_error(&c, 404, "Not found");
        return;
    }
    if (match == ROUTER_NO_METHOD) {
        reply_method_not_allowed(&c);
        return;
    }
    if (!admit(&c, route))
        return;
    c.param = param[0] != '\0' ? param : NULL;
    route->handler(&c);
}
