/* /token-rotation: the runbook's P2, P1 and P0 procedures, and their audit trail. */
#include <string.h>

#include "api/api.h"
#include "core/rotation.h"
#include "util/clock.h"
#include "util/ids.h"
#include "util/limits.h"
#include "util/log.h"

json_t *
api_user_rotation_json(const struct rotation_event *e)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:o}", "rotation_type", "USER",
                     "user_id", e->user_id, "old_version", (json_int_t)e->old_version,
                     "new_version", (json_int_t)e->new_version, "tokens_revoked",
                     (json_int_t)e->tokens_revoked, "reason", e->reason, "initiated_by",
                     e->initiated_by, "event_id", (json_int_t)e->id, "rotated_at",
                     api_time(e->rotated_at));
}

static json_t *
global_rotation_json(const struct rotation_event *e)
{
    const struct global_state *g = &e->global_after;

    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:i, s:o, s:I, s:o}", "rotation_type",
                     "GLOBAL", "old_version", (json_int_t)e->old_version, "new_version",
                     (json_int_t)e->new_version, "tokens_revoked", (json_int_t)e->tokens_revoked,
                     "users_affected", (json_int_t)e->users_affected, "reason", e->reason,
                     "initiated_by", e->initiated_by, "grace_period_minutes", e->grace_minutes,
                     "grace_period_ends_at",
                     g->grace_version ? api_time(g->grace_ends_at) : json_null(), "event_id",
                     (json_int_t)e->id, "rotated_at", api_time(e->rotated_at));
}

json_t *
api_event_json(const struct rotation_event *e)
{
    return json_pack("{s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o}", "id",
                     (json_int_t)e->id, "rotation_type",
                     e->type == ROTATION_GLOBAL ? "GLOBAL" : "USER", "user_id",
                     api_optional_string(e->user_id), "old_version", (json_int_t)e->old_version,
                     "new_version", (json_int_t)e->new_version, "tokens_revoked",
                     (json_int_t)e->tokens_revoked, "users_affected", (json_int_t)e->users_affected,
                     "reason", e->reason, "initiated_by", e->initiated_by, "grace_period_minutes",
                     e->grace_minutes >= 0 ? json_integer(e->grace_minutes) : json_null(),
                     "rotated_at", api_time(e->rotated_at));
}

/* "USER:<email>" of the caller, as the audit trail records who acted. */
static enum store_result
initiator(struct call *c, char *out, size_t outlen)
{
    struct user me;
    enum store_result r = c->store->ops->user_by_id(c->store, c->principal.claims.sub, &me);

    if (r == STORE_NOT_FOUND)
        r = STORE_ERROR; /* a valid token of a user who does not exist: a bug or a hand edit */
    if (r == STORE_OK)
        snprintf(out, outlen, "USER:%s", me.email);
    return r;
}

void
api_rotate_user(struct call *c)
{
    char by[LIMIT_EMAIL_MAX + 16];
    struct rotation_event event;
    struct rotation_request rq;
    const char *reason;
    enum store_result r;
    char user_id[IDS_TEXT_LEN];
    json_t *body = NULL;
    uint8_t id[16];

    if (ids_parse(c->param, id) != 0) {
        reply_error(c, 400, "user id must be a UUID");
        return;
    }
    ids_format(id, user_id);
    if (memcmp(id, c->principal.claims.sub_id, sizeof(id)) != 0 && !c->principal.claims.admin) {
        log_warning("auth", "forbidden: user_id=%s tried to rotate the tokens of user_id=%s",
                    c->principal.claims.sub, user_id);
        reply_error(c, 403, "You can only rotate your own tokens");
        return;
    }
    if ((body = call_body_object(c)) == NULL)
        return;
    reason = call_string_field(c, body, "reason", LIMIT_USER_REASON_MIN, LIMIT_USER_REASON_MAX);
    if (reason == NULL)
        goto out;
    if ((r = initiator(c, by, sizeof(by))) != STORE_OK) {
        reply_store_error(c, r);
        goto out;
    }

    rq = (struct rotation_request){.type = ROTATION_USER,
                                   .user_id = user_id,
                                   .reason = reason,
                                   .initiated_by = by,
                                   .now = clock_now()};
    r = rotation_rotate(c->store, &rq, &event);
    if (r == STORE_NOT_FOUND)
        reply_error(c, 404, "User not found");
    else if (r != STORE_OK)
        reply_store_error(c, r);
    else
        reply_json(c, 200, api_user_rotation_json(&event));
out:
    json_decref(body);
}

/* Reads grace_period_minutes: absent means the runbook's recommended 15. */
static int
grace_minutes(struct call *c, json_t *body, int *out)
{
    json_t *field = json_object_get(body, "grace_period_minutes");
    json_int_t value;

    if (field == NULL || json_is_null(field)) {
        *out = LIMIT_GRACE_MINUTES_DEFAULT;
        return 0;
    }
    if (!json_is_integer(field)) {
        reply_error(c, 400, "field 'grace_period_minutes' must be an integer");
        return -1;
    }
    value = json_integer_value(field);
    if (value < 0 || value > LIMIT_GRACE_MINUTES_MAX) {
        reply_error(c, 422, "field 'grace_period_minutes' must be an integer from 0 to 60");
        return -1;
    }
    *out = (int)value;
    return 0;
}

void
api_rotate_global(struct call *c)
{
    json_t *body = call_body_object(c);
    char by[LIMIT_EMAIL_MAX + 16];
    struct rotation_event event;
    struct rotation_request rq;
    const char *reason;
    enum store_result r;
    int grace;

    if (body == NULL)
        return;
    reason = call_string_field(c, body, "reason", LIMIT_GLOBAL_REASON_MIN, LIMIT_GLOBAL_REASON_MAX);
    if (reason == NULL || grace_minutes(c, body, &grace) != 0)
        goto out;
    if ((r = initiator(c, by, sizeof(by))) != STORE_OK) {
        reply_store_error(c, r);
        goto out;
    }

    rq = (struct rotation_request){.type = ROTATION_GLOBAL,
                                   .reason = reason,
                                   .initiated_by = by,
                                   .grace_minutes = grace,
                                   .now = clock_now()};
    if ((r = rotation_rotate(c->store, &rq, &event)) != STORE_OK)
        reply_store_error(c, r);
    else
        reply_json(c, 200, global_rotation_json(&event));
out:
    json_decref(body);
}

json_t *
api_security_config_json(const struct security_config *cfg, int64_t now)
{
    bool window_open = revstate_window_open(&cfg->global, now);

    return json_pack("{s:I, s:o, s:o, s:o, s:o}", "global_min_token_version",
                     (json_int_t)cfg->global.version, "last_updated_at",
                     api_time(cfg->last_updated_at), "last_updated_by",
                     api_optional_string(cfg->last_updated_by), "last_rotation_reason",
                     api_optional_string(cfg->last_rotation_reason), "grace_period_ends_at",
                     window_open ? api_time(cfg->global.grace_ends_at) : json_null());
}

void
api_security_config(struct call *c)
{
    struct security_config cfg;
    enum store_result r = c->store->ops->security_config(c->store, &cfg);

    if (r != STORE_OK)
        reply_store_error(c, r);
    else
        reply_json(c, 200, api_security_config_json(&cfg, clock_now()));
}

static void
append_event(const struct rotation_event *e, void *arg)
{
    json_array_append_new(arg, api_event_json(e));
}

void
api_events(struct call *c)
{
    json_t *events = NULL;
    long limit, offset;
    int64_t total = 0;
    enum store_result r;

    if (call_query_int(c, "limit", LIMIT_EVENTS_PAGE_DEFAULT, 1, LIMIT_EVENTS_PAGE_MAX, &limit) !=
            0 ||
        call_query_int(c, "offset", 0, 0, INT32_MAX, &offset) != 0)
        return;
    events = json_array();
    r = c->store->ops->events_list(c->store, limit, offset, append_event, events, &total);
    if (r != STORE_OK) {
        json_decref(events);
        reply_store_error(c, r);
        return;
    }
    reply_json(c, 200,
               json_pack("{s:o, s:I, s:i, s:i}", "events", events, "total", (json_int_t)total,
                         "limit", (int)limit, "offset", (int)offset));
}
