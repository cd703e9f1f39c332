#include "cli/export_state.h"

#include <jansson.h>

#include "api/api.h"
#include "util/clock.h"
#include "util/log.h"

/* Enough for any audit trail an incident record needs; the API pages through larger ones. */
enum { EVENTS_MAX = 100000 };

static void
add_user_version(const char *user_id, int64_t version, void *arg)
{
    json_array_append_new(
        arg, json_pack("{s:s, s:I}", "user_id", user_id, "token_version", (json_int_t)version));
}

static void
ignore_session(const char *session_id, int64_t revoked_at, void *arg)
{
    (void)session_id;
    (void)revoked_at;
    (void)arg;
}

static void
add_event(const struct rotation_event *e, void *arg)
{
    json_array_append_new(arg, api_event_json(e));
}

int
export_state(struct store *st, FILE *out)
{
    json_t *users = json_array(), *events = json_array(), *doc = NULL;
    struct security_config cfg;
    int64_t now = clock_now(), total = 0;
    enum store_result r;
    int rc = -1;

    if ((r = st->ops->security_config(st, &cfg)) != STORE_OK ||
        (r = st->ops->load_revocations(st, now, add_user_version, ignore_session, users)) !=
            STORE_OK ||
        (r = st->ops->events_list(st, EVENTS_MAX, 0, add_event, events, &total)) != STORE_OK) {
        log_error("export", "cannot read the security state: %s", store_result_text(r));
        goto out;
    }
    doc = json_pack("{s:o, s:s, s:o, s:O, s:I, s:O}", "exported_at", api_time(now), "backend",
                    st->ops->name, "security_config", api_security_config_json(&cfg, now),
                    "rotated_users", users, "events_total", (json_int_t)total, "events", events);
    if (doc != NULL && json_dumpf(doc, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF)
        rc = 0;
out:
    json_decref(doc);
    json_decref(users);
    json_decref(events);
    return rc;
}
