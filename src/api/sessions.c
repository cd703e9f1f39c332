/* Sessions: the caller's own list, and the admins' count of everyone's. */
#include <string.h>

#include "api/api.h"
#include "util/clock.h"

struct listing {
    json_t *array;
    const char *current;
};

static void
append_session(const struct session *s, void *arg)
{
    struct listing *l = arg;

    json_array_append_new(
        l->array,
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b}", "id", s->id, "created_at",
                  api_time(s->created_at), "last_used_at", api_time(s->last_used_at), "expires_at",
                  api_time(s->expires_at), "user_agent", api_optional_string(s->user_agent), "ip",
                  api_optional_string(s->ip), "current", strcmp(s->id, l->current) == 0));
}

void
api_sessions_list(struct call *c)
{
    struct listing l = {.array = json_array(), .current = c->principal.claims.sid};
    enum store_result r;

    r = c->store->ops->sessions_list(c->store, c->principal.claims.sub, clock_now(), append_session,
                                     &l);
    if (r != STORE_OK) {
        json_decref(l.array);
        reply_store_error(c, r);
        return;
    }
    reply_json(c, 200, json_pack("{s:o}", "sessions", l.array));
}

void
api_sessions_active(struct call *c)
{
    int64_t total = 0;
    enum store_result r = c->store->ops->sessions_count_active(c->store, clock_now(), &total);

    if (r != STORE_OK)
        reply_store_error(c, r);
    else
        reply_json(c, 200, json_pack("{s:I}", "total_active", (json_int_t)total));
}
