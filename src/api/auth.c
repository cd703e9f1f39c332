/* /auth: registration, login, refresh, logout, the caller's own account. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api/api.h"
#include "core/rotation.h"
#include "http/offload.h"
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

/* Every job that crosses to a hashing thread starts with its size, so that one release can
 * wipe the passwords it carries. */
struct job_head {
    size_t size;
};

static void
release_job(void *job)
{
    OPENSSL_cleanse(job, ((struct job_head *)job)->size);
    free(job);
}

static void *
new_job(size_t size)
{
    struct job_head *job = calloc(1, size);

    if (job != NULL)
        job->size = size;
    return job;
}

/* Hands `job` to a hashing thread, or answers 503 when they are all busy. */
static void
submit_job(struct call *c, offload_work_fn work, offload_done_fn done, void *job)
{
    if (!offload_submit(c, work, done, release_job, job)) {
        release_job(job);
        reply_error(c, 503, "Server busy, try again shortly");
    }
}

struct register_job {
    struct job_head head;
    struct user user;
    char password[LIMIT_PASSWORD_MAX + 1];
    bool hashed;
};

static void
register_work(void *arg)
{
    struct register_job *job = arg;

    job->hashed = password_hash(job->password, job->user.password_hash) == 0;
}

static void
register_done(struct call *c, void *arg)
{
    struct register_job *job = arg;
    const struct user *u = &job->user;
    enum store_result r;

    if (!job->hashed) {
        reply_store_error(c, STORE_ERROR);
        return;
    }
    r = c->store->ops->user_create(c->store, u);
    if (r == STORE_CONFLICT) {
        reply_error(c, 409, "Email already registered");
    } else if (r != STORE_OK) {
        reply_store_error(c, r);
    } else {
        log_info("auth", "registered user_id=%s", u->id);
        reply_json(c, 201,
                   json_pack("{s:s, s:s, s:s, s:o}", "id", u->id, "email", u->email, "role", "user",
                             "created_at", api_time(u->created_at)));
    }
}

void
api_register(struct call *c)
{
    json_t *body = call_body_object(c);
    const char *email, *password;
    struct register_job *job;

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
    if ((job = new_job(sizeof(*job))) == NULL) {
        reply_store_error(c, STORE_ERROR);
        goto out;
    }
    ids_new(job->user.id);
    snprintf(job->user.email, sizeof(job->user.email), "%s", email);
    snprintf(job->password, sizeof(job->password), "%s", password);
    job->user.created_at = clock_now();
    submit_job(c, register_work, register_done, job);
out:
    json_decref(body);
}

struct login_job {
    struct job_head head;
    struct user user;
    char email[LIMIT_EMAIL_MAX + 1]; /* as given, for the log */
    bool found;
    bool verified;
    char password[LIMIT_PASSWORD_MAX + 1];
    char agent[LIMIT_USER_AGENT_MAX + 1];
    char ip[64];
};

static void
login_work(void *arg)
{
    struct login_job *job = arg;

    job->verified = auth_check_password(job->found ? &job->user : NULL, job->password);
}

static void
login_done(struct call *c, void *arg)
{
    struct login_job *job = arg;
    struct auth_tokens tokens;
    enum auth_result r;

    if (!job->verified) {
        char email[LOG_CLIP_BUF];

        log_info("auth", "login refused: %s, email='%s' ip=%s",
                 job->found ? "wrong password" : "unknown email", log_clip(job->email, email),
                 job->ip);
        reply_unauthorized(c, BAD_LOGIN);
        return;
    }
    r = auth_open_session(c->store, &job->user, job->agent, job->ip, &tokens);
    if (r == AUTH_OK)
        reply_tokens(c, &tokens);
    else
        reply_auth_failure(c, r, BAD_LOGIN);
}

void
api_login(struct call *c)
{
    json_t *body = call_body_object(c);
    const char *email, *password, *agent;
    struct login_job *job = NULL;
    enum store_result r;

    if (body == NULL)
        return;
    email = call_string_field(c, body, "email", 1, LIMIT_EMAIL_MAX);
    password = email ? call_password_field(c, body, "password", 1) : NULL;
    if (password == NULL)
        goto out;
    if ((job = new_job(sizeof(*job))) == NULL) {
        reply_store_error(c, STORE_ERROR);
        goto out;
    }

    r = c->store->ops->user_by_email(c->store, email, &job->user);
    if (r != STORE_OK && r != STORE_NOT_FOUND) {
        release_job(job);
        reply_store_error(c, r);
        goto out;
    }
    job->found = r == STORE_OK;
    snprintf(job->email, sizeof(job->email), "%s", email);
    snprintf(job->password, sizeof(job->password), "%s", password);
    agent = call_header(c, H2O_TOKEN_USER_AGENT, LIMIT_USER_AGENT_MAX);
    snprintf(job->agent, sizeof(job->agent), "%s", agent ? agent : "");
    call_peer_address(c, job->ip, sizeof(job->ip));
    submit_job(c, login_work, login_done, job);
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
    char session_id[IDS_TEXT_LEN];

    if (ids_canonical(c->param, session_id) != 0) {
        reply_error(c, 400, "session id must be a UUID");
        return;
    }
    reply_session_ended(
        c, session_id,
        auth_end_session(c->store, session_id, c->principal.claims.sub, "session deleted"));
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
    int64_t deadline = revstate_generation_deadline(claims->gver);

    reply_json(c, 200,
               json_pack("{s:b, s:s, s:s, s:s, s:o}", "active", 1, "user_id", claims->sub,
                         "session_id", claims->sid, "role", claims->admin ? "admin" : "user",
                         "expires_at", api_time(claims->exp < deadline ? claims->exp : deadline)));
}

struct password_job {
    struct job_head head;
    struct user user;
    char current[LIMIT_PASSWORD_MAX + 1];
    char fresh[LIMIT_PASSWORD_MAX + 1];
    char fresh_hash[PASSWORD_HASH_MAX];
    bool verified;
    bool hashed;
};

static void
password_work(void *arg)
{
    struct password_job *job = arg;

    job->verified = auth_check_password(&job->user, job->current);
    job->hashed = job->verified && password_hash(job->fresh, job->fresh_hash) == 0;
}

static void
password_done(struct call *c, void *arg)
{
    struct password_job *job = arg;
    char by[LIMIT_EMAIL_MAX + 16];
    struct rotation_event event;
    struct rotation_request rq;
    enum store_result r;

    if (!job->verified) {
        log_warning("auth", "password change refused: wrong current password, user_id=%s",
                    job->user.id);
        reply_error(c, 403, "Current password is incorrect");
        return;
    }
    if (!job->hashed) {
        reply_store_error(c, STORE_ERROR);
        return;
    }

    /* A new password must end every session that the old one may have opened. */
    snprintf(by, sizeof(by), "USER:%s", job->user.email);
    rq = (struct rotation_request){.type = ROTATION_USER,
                                   .user_id = job->user.id,
                                   .new_password_hash = job->fresh_hash,
                                   .reason = "Password changed by the user",
                                   .initiated_by = by,
                                   .now = clock_now()};
    if ((r = rotation_rotate(c->store, &rq, &event)) != STORE_OK) {
        reply_store_error(c, r);
        return;
    }
    reply_json(c, 200,
               json_pack("{s:s, s:o}", "detail",
                         "Password changed; every session of this account was signed out",
                         "rotation", api_user_rotation_json(&event)));
}

void
api_change_password(struct call *c)
{
    json_t *body = call_body_object(c);
    struct password_job *job = NULL;
    const char *current, *fresh;
    enum store_result r;

    if (body == NULL)
        return;
    current = call_password_field(c, body, "current_password", 1);
    fresh = current ? call_password_field(c, body, "new_password", LIMIT_PASSWORD_MIN) : NULL;
    if (fresh == NULL)
        goto out;
    if ((job = new_job(sizeof(*job))) == NULL) {
        reply_store_error(c, STORE_ERROR);
        goto out;
    }
    r = c->store->ops->user_by_id(c->store, c->principal.claims.sub, &job->user);
    if (r != STORE_OK) {
        release_job(job);
        reply_store_error(c, r);
        goto out;
    }
    snprintf(job->current, sizeof(job->current), "%s", current);
    snprintf(job->fresh, sizeof(job->fresh), "%s", fresh);
    submit_job(c, password_work, password_done, job);
out:
    json_decref(body);
}
