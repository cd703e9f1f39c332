/* Health, and the test clock. */
#include "api/api.h"
#include "util/clock.h"

/* Far enough for any expiry test, near enough that no timestamp overflows. */
#define CLOCK_ADVANCE_MAX 315360000

void
api_health(struct call *c)
{
    enum store_result r = c->store->ops->ping(c->store);

    if (r == STORE_OK)
        reply_json(c, 200,
                   json_pack("{s:s, s:s, s:s}", "status", "healthy", "database", "ok", "backend",
                             c->store->ops->name));
    else
        reply_json(c, 503,
                   json_pack("{s:s, s:s, s:s, s:s}", "status", "unhealthy", "database",
                             store_result_text(r), "backend", c->store->ops->name, "detail",
                             "database unavailable"));
}

void
api_test_clock(struct call *c)
{
    json_t *body = call_body_object(c);
    json_t *advance;

    if (body == NULL)
        return;
    advance = json_object_get(body, "advance_seconds");
    if (advance != NULL && !json_is_integer(advance)) {
        reply_error(c, 400, "field 'advance_seconds' must be an integer");
    } else if (advance == NULL || json_integer_value(advance) < 0 ||
               json_integer_value(advance) > CLOCK_ADVANCE_MAX) {
        reply_error(c, 422, "field 'advance_seconds' must be from 0 to 315360000 (ten years)");
    } else {
        clock_advance(json_integer_value(advance));
        reply_json(c, 200, json_pack("{s:o}", "now", api_time(clock_now())));
    }
    json_decref(body);
}
