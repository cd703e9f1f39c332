/* /auth: registration, login, refresh, logout, the caller's own account. */
#include <string.h>

#include "api/api.h"
#include "core/rotation.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/text.h"

static const char BAD_LOGIN[] = "Incorrect email or password";

static void
reply_tokens(struct call *c, struct auth_tokens *tokens)
{
    reply_json(c, 200,
               json_pack("{s:s, s:s, s:s, s:I}", "access_token", tokens->access, "refresh_token",
                         tokens->refresh, "token_type", "bearer", "expires_in",
                         (json_int_t)tokens->expires_in));
    auth_tokens_clear(tokens);
}

static void
reply_auth_failure(struct call *c, enum auth_result r, const char *denied_detail)
{
    switch (r) {
    case AUTH_DENIED:
        reply_unauthorized(c, denied_detail);
        return;
    case AUTH_UNAVAILABLE:
        reply_store_error(c, STORE_UNAVAILABLE);
        return;
    default:
        reply_store_error(c, STORE_ERROR);
        return;
    }
}

void
api_register(struct call *c)
{
    json_t *body = call_body_object(c);
    const char *email, *password;
    struct user u = {0};
    enum store_result r;

    if (body == NULL)
        return;
    email = call_string_field(c, body, "email", 3, LIMIT_EMAIL_MAX);
    password = email ? call_password_field(c, body, "password", LIMIT_PASSWORD_MIN) : NULL;
    if (password == NULL)
        goto out;
    if (!text_email_plausible(email)) {
        reply_error(c, 422, "field 'email' is not an email address");
        goto out;
    }

    ids_new(u.id);
    snprintf(u.email, sizeof(u.email), "%s", email);
    u.created_at = clock_now();
    if (password_hash(password, u.password_hash) != 0) {
        reply_store_error(c, STORE_ERROR);
        goto out;
    }
    r = c->store->ops->user_create(c->store, &u);
    if (r == STORE_CONFLICT) {
        reply_error(c, 409, "Email already registered");
    } else if (r != STORE_OK) {
        reply_store_error(c, r);
    } else {
        log_info("auth", "registered user_id=%s", u.id);
        reply_json(c, 201,
                   json_pack("{s:s, s:s, s:s, s:o}", "id", u.id, "email", u.email, "role", "user",
                             "created_at", api_time(u.created_at)));
    }
out:
    json_decref(body);
}

void
api_login(struct call *c)
{
    json_t *body = call_body_object(c);
    const char *email, *password, *agent;
    struct auth_tokens tokens;
    char ip[64];
    enum auth_result r;

    if (body == NULL)
        return;
    email = call_string_field(c, body, "email", 1, LIMIT_EMAIL_MAX);
    password = email ? call_password_field(c, body, "password", 1) : NULL;
    if (password == NULL)
        goto out;

    agent = call_header(c, H2O_TOKEN_USER_AGENT, LIMIT_USER_AGENT_MAX);
    call_peer_address(c, ip, sizeof(ip));
    r = auth_login(c->store, email, password, agent, ip, &tokens);
    if (r == AUTH_OK)
        reply_tokens(c, &tokens);
    else
        reply_auth_failure(c, r, BAD_LOGIN);
out:
    json_decref(body);
}

void
api_refresh(struct call *c)
{
    json_t *body = call_body_object(c);
    struct auth_tokens tokens;
    const char *refresh;
    enum auth_result r;

    if (body == NULL)
        return;
    refresh = call_string_field(c, body, "refresh_token", 1, LIMIT_TOKEN_MAX);
    if (refresh != NULL) {
        r = auth_refresh(c->store, refresh, &tokens);
        if (r == AUTH_OK)
            reply_tokens(c, &tokens);
        else
            reply_auth_failure(c, r, "Invalid, expired or revoked refresh token");
    }
    json_decref(body);
}

static void
reply_session_ended(struct call *c, const char *session_id, enum store_result r)
{
    if (r == STORE_NOT_FOUND)
        reply_error(c, 404, "Session not found");
    else if (r != STORE_OK)
        reply_store_error(c, r);
    else
        reply_json(c, 200, json_pack("{s:s, s:b}", "session_id", session_id, "revoked", 1));
}

void
api_logout(struct call *c)
{
    const char *sid = c->principal.claims.sid;

    reply_session_ended(c, sid, auth_end_session(c->store, sid, c->principal.claims.sub, "logout"));
}

void
api_session_delete(struct call *c)
{
    uint8_t id[16];

    if (ids_parse(c->param, id) != 0) {
        reply_error(c, 400, "session id must be a UUID");
        return;
    }
    reply_session_ended(
        c, c->param,
        auth_end_session(c->store, c->param, c->principal.claims.sub, "session deleted"));
}

void
api_me(struct call *c)
{
    struct user u;
    enum store_result r = c->store->ops->user_by_id(c->store, c->principal.claims.sub, &u);

    if (r != STORE_OK) {
        reply_store_error(c, r);
        return;
    }
    reply_json(c, 200,
               json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", u.id, "email", u.email, "role",
                         u.admin ? "admin" : "user", "token_version", (json_int_t)u.token_version,
                         "created_at", api_time(u.created_at)));
}

void
api_verify(struct call *c)
{
    const struct access_claims *claims = &c->principal.claims;

    reply_json(c, 200,
               json_pack("{s:b, s:s, s:s, s:s, s:o}", "active", 1, "user_id", claims->sub,
                         "session_id", claims->sid, "role", claims->admin ? "admin" : "user",
                         "expires_at", api_time(claims->exp)));
}

void
api_change_password(struct call *c)
{
    json_t *body = call_body_object(c);
    const char *current, *fresh;
    char hash[PASSWORD_HASH_MAX], by[LIMIT_EMAIL_MAX + 16];
    struct rotation_event event;
    struct rotation_request rq;
    enum store_result r;
    struct user u;

    if (body == NULL)
        return;
    current = call_password_field(c, body, "current_password", 1);
    fresh = current ? call_password_field(c, body, "new_password", LIMIT_PASSWORD_MIN) : NULL;
    if (fresh == NULL)
        goto out;

    if ((r = c->store->ops->user_by_id(c->store, c->principal.claims.sub, &u)) != STORE_OK) {
        reply_store_error(c, r);
        goto out;
    }
    if (!password_verify(u.password_hash, current)) {
        reply_error(c, 403, "Current password is incorrect");
        goto out;
    }
    if (password_hash(fresh, hash) != 0) {
        reply_store_error(c, STORE_ERROR);
        goto out;
    }

    /* A new password must end every session that the old one may have opened. */
    snprintf(by, sizeof(by), "USER:%s", u.email);
    rq = (struct rotation_request){.type = ROTATION_USER,
                                   .user_id = u.id,
                                   .new_password_hash = hash,
                                   .reason = "Password changed by the user",
                                   .initiated_by = by,
                                   .now = clock_now()};
    if ((r = rotation_rotate(c->store, &rq, &event)) != STORE_OK) {
        reply_store_error(c, r);
        goto out;
    }
    reply_json(c, 200,
               json_pack("{s:s, s:o}", "detail",
                         "Password changed; every session of this account was signed out",
                         "rotation", api_user_rotation_json(&event)));
out:
    json_decref(body);
}
