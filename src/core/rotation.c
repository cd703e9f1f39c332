#include "core/rotation.h"

#include "util/clock.h"
#include "util/ids.h"
#include "util/log.h"

static void
publish(const struct rotation_event *e)
{
    uint8_t user[REVSTATE_ID_LEN];

    if (e->type == ROTATION_GLOBAL) {
        revstate_set_global(&e->global_after);
        return;
    }
    if (ids_parse(e->user_id, user) == 0)
        revstate_set_user_version(user, e->new_version);
}

static void
log_rotation(const struct rotation_event *e)
{
    char reason[LOG_CLIP_BUF], by[LOG_CLIP_BUF];

    log_clip(e->reason, reason);
    log_clip(e->initiated_by, by);
    if (e->type == ROTATION_USER) {
        log_info("rotation",
                 "USER token rotation: user_id=%s, version %lld → %lld, revoked %lld tokens, "
                 "reason='%s', by=%s, event_id=%lld",
                 e->user_id, (long long)e->old_version, (long long)e->new_version,
                 (long long)e->tokens_revoked, reason, by, (long long)e->id);
        return;
    }
    log_critical("rotation",
                 "GLOBAL TOKEN ROTATION: version %lld → %lld. Reason: %s. Affected: %lld users, "
                 "%lld tokens. Grace period: %d minutes. By: %s, event_id=%lld",
                 (long long)e->old_version, (long long)e->new_version, reason,
                 (long long)e->users_affected, (long long)e->tokens_revoked, e->grace_minutes, by,
                 (long long)e->id);
}

enum store_result
rotation_rotate(struct store *st, const struct rotation_request *rq, struct rotation_event *out)
{
    enum store_result r = st->ops->rotate(st, rq, out);

    if (r != STORE_OK) {
        if (r != STORE_NOT_FOUND)
            log_error("rotation", "%s rotation failed: %s",
                      rq->type == ROTATION_GLOBAL ? "GLOBAL" : "USER", store_result_text(r));
        return r;
    }
    publish(out);
    log_rotation(out);
    return STORE_OK;
}

static void
load_user(const char *user_id, int64_t version, void *arg)
{
    uint8_t id[REVSTATE_ID_LEN];

    (void)arg;
    if (ids_parse(user_id, id) == 0)
        revstate_set_user_version(id, version);
}

static void
load_session(const char *session_id, int64_t revoked_at, void *arg)
{
    uint8_t id[REVSTATE_ID_LEN];

    (void)arg;
    if (ids_parse(session_id, id) == 0)
        revstate_revoke_session(id, revoked_at);
}

enum store_result
rotation_load_state(struct store *st, int64_t horizon)
{
    struct security_config cfg;
    enum store_result r;
    uint64_t users, sessions;

    revstate_init(horizon);
    if ((r = st->ops->security_config(st, &cfg)) != STORE_OK)
        return r;
    revstate_set_global(&cfg.global);
    r = st->ops->load_revocations(st, clock_now() - horizon, load_user, load_session, NULL);
    if (r != STORE_OK)
        return r;
    revstate_counts(&users, &sessions);
    log_info("rotation",
             "revocation state loaded: global version %lld, %llu rotated users, "
             "%llu recently revoked sessions",
             (long long)cfg.global.version, (unsigned long long)users,
             (unsigned long long)sessions);
    return STORE_OK;
}
