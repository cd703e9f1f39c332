#include "core/auth.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"

static const struct auth_settings *settings;

void
auth_configure(const struct auth_settings *s)
{
    settings = s;
}

void
auth_tokens_clear(struct auth_tokens *tokens)
{
    free(tokens->access);
    tokens->access = NULL;
    OPENSSL_cleanse(tokens->refresh, sizeof(tokens->refresh));
}

static enum auth_result
from_store(enum store_result r)
{
    switch (r) {
    case STORE_OK:
        return AUTH_OK;
    case STORE_UNAVAILABLE:
        return AUTH_UNAVAILABLE;
    default:
        return AUTH_ERROR;
    }
}

/* Mints the access token for a session; the refresh token is already in `out`. */
static enum auth_result
mint_access(const struct session *s, int64_t now, struct auth_tokens *out)
{
    struct access_claims claims = {
        .admin = s->admin,
        .ver = s->user_version,
        .gver = s->global_version,
        .iat = now,
        .exp = now + settings->access_ttl,
    };
    int64_t deadline = revstate_generation_deadline(s->global_version);

    /* A token minted during a grace window says truthfully when it stops working. */
    if (deadline < claims.exp)
        claims.exp = deadline > now ? deadline : now;

    memcpy(claims.sub, s->user_id, sizeof(claims.sub));
    memcpy(claims.sid, s->id, sizeof(claims.sid));
    out->access = token_issue_access(settings->key, &claims);
    out->expires_in = claims.exp - now;
    return out->access != NULL ? AUTH_OK : AUTH_ERROR;
}

bool
auth_check_password(const struct user *user, const char *password)
{
    if (user == NULL) {
        password_verify_dummy(password);
        return false;
    }
    return password_verify(user->password_hash, password);
}

enum auth_result
auth_open_session(struct store *st, const struct user *user, const char *user_agent, const char *ip,
                  struct auth_tokens *out)
{
    uint8_t refresh_hash[TOKEN_HASH_LEN];
    struct session sess = {0};
    enum store_result r;

    memset(out, 0, sizeof(*out));
    if (token_new_refresh(out->refresh, refresh_hash) != 0)
        return AUTH_ERROR;
    ids_new(sess.id);
    memcpy(sess.user_id, user->id, sizeof(sess.user_id));
    sess.admin = user->admin;
    sess.created_at = clock_now();
    snprintf(sess.user_agent, sizeof(sess.user_agent), "%s", user_agent ? user_agent : "");
    snprintf(sess.ip, sizeof(sess.ip), "%s", ip ? ip : "");
    r = st->ops->session_create(st, &sess, refresh_hash, settings->refresh_ttl);
    if (r != STORE_OK) {
        auth_tokens_clear(out);
        return from_store(r);
    }
    log_info("auth", "login: user_id=%s session_id=%s", user->id, sess.id);
    return mint_access(&sess, sess.created_at, out);
}

static void
revoke_in_memory(const char *session_id, int64_t when)
{
    uint8_t id[REVSTATE_ID_LEN];

    if (ids_parse(session_id, id) == 0)
        revstate_revoke_session(id, when);
}

enum auth_result
auth_refresh(struct store *st, const char *refresh_token, struct auth_tokens *out)
{
    uint8_t old_hash[TOKEN_HASH_LEN], new_hash[TOKEN_HASH_LEN];
    enum refresh_outcome outcome;
    struct session sess = {0};
    int64_t now = clock_now();
    enum store_result r;

    memset(out, 0, sizeof(*out));
    if (token_hash_refresh(refresh_token, old_hash) != 0)
        return AUTH_DENIED;
    if (token_new_refresh(out->refresh, new_hash) != 0)
        return AUTH_ERROR;

    r = st->ops->session_refresh(st, old_hash, new_hash, now, settings->refresh_ttl, &outcome,
                                 &sess);
    if (r != STORE_OK || outcome != REFRESH_OK)
        auth_tokens_clear(out);
    if (r != STORE_OK)
        return from_store(r);

    switch (outcome) {
    case REFRESH_OK:
        return mint_access(&sess, now, out);
    case REFRESH_REUSED:
        revoke_in_memory(sess.id, now);
        log_warning("auth",
                    "refresh token reuse: a retired refresh token was presented again; "
                    "session revoked: user_id=%s session_id=%s",
                    sess.user_id, sess.id);
        return AUTH_DENIED;
    default:
        log_debug("auth", "refresh refused (outcome %d) for session_id=%s", outcome, sess.id);
        return AUTH_DENIED;
    }
}

enum auth_result
auth_authenticate(const char *access_token, struct principal *out)
{
    int64_t now = clock_now();
    enum token_status status;
    enum revocation_verdict verdict;

    status = token_verify_access(settings->key, access_token, now, &out->claims);
    if (status != TOKEN_VALID) {
        log_debug("auth", "access token refused: %s", token_status_text(status));
        return AUTH_DENIED;
    }
    verdict = revstate_check(out->claims.sub_id, out->claims.sid_id, out->claims.ver,
                             out->claims.gver, now);
    if (verdict != REVOCATION_OK) {
        log_debug("auth", "access token refused: %s: user_id=%s session_id=%s",
                  revstate_verdict_text(verdict), out->claims.sub, out->claims.sid);
        return AUTH_DENIED;
    }
    return AUTH_OK;
}

enum store_result
auth_end_session(struct store *st, const char *session_id, const char *owner, const char *reason)
{
    int64_t now = clock_now();
    enum store_result r;

    r = st->ops->session_revoke(st, session_id, owner, now, reason);
    if (r == STORE_OK) {
        revoke_in_memory(session_id, now);
        log_info("auth", "session ended (%s): session_id=%s", reason, session_id);
    }
    return r;
}
