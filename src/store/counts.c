#include "store/counts.h"

#include <stdbool.h>
#include <stddef.h>

/* The user's slot for `gen`, or NULL. */
static struct gen_slot *
slot_of(struct user_slots *u, int64_t gen)
{
    for (size_t i = 0; i < 2; i++) {
        if (u->slot[i].gen == gen && gen != 0)
            return &u->slot[i];
    }
    return NULL;
}

/* How many sessions the user has in a live generation other than the current one. */
static int64_t
grace_count(const struct global_state *g, int64_t now, struct user_slots *u)
{
    struct gen_slot *s = revstate_window_open(g, now) ? slot_of(u, g->grace_version) : NULL;

    return s ? s->count : 0;
}

void
counts_session_added(const struct global_state *g, int64_t now, struct user_slots *u,
                     struct live_counts *c)
{
    struct gen_slot *s = slot_of(u, g->version);

    if (s == NULL) {
        /* Take the slot that does not hold the live grace generation. */
        s = &u->slot[0];
        if (revstate_window_open(g, now) && s->gen == g->grace_version)
            s = &u->slot[1];
        *s = (struct gen_slot){.gen = g->version, .count = 0};
    }
    if (s->count++ == 0) {
        c->cur_users++;
        if (grace_count(g, now, u) > 0)
            c->both_users++;
    }
    c->cur_sessions++;
}

void
counts_session_removed(const struct global_state *g, int64_t now, int64_t gen, struct user_slots *u,
                       struct live_counts *c)
{
    struct gen_slot *s = slot_of(u, gen);
    struct gen_slot *cur;
    bool was_last;

    if (s == NULL || s->count <= 0)
        return;
    was_last = --s->count == 0;
    if (gen == g->version) {
        c->cur_sessions--;
        if (was_last) {
            c->cur_users--;
            if (grace_count(g, now, u) > 0)
                c->both_users--;
        }
    } else if (revstate_window_open(g, now) && gen == g->grace_version) {
        c->grace_sessions--;
        if (was_last) {
            c->grace_users--;
            cur = slot_of(u, g->version);
            if (cur != NULL && cur->count > 0)
                c->both_users--;
        }
    }
}

int64_t
counts_user_cleared(const struct global_state *g, int64_t now, struct user_slots *u,
                    struct live_counts *c)
{
    struct gen_slot *cur = slot_of(u, g->version);
    struct gen_slot *grace = revstate_window_open(g, now) ? slot_of(u, g->grace_version) : NULL;
    int64_t in_cur = cur ? cur->count : 0;
    int64_t in_grace = grace ? grace->count : 0;

    c->cur_sessions -= in_cur;
    c->grace_sessions -= in_grace;
    c->cur_users -= in_cur > 0;
    c->grace_users -= in_grace > 0;
    c->both_users -= in_cur > 0 && in_grace > 0;
    u->slot[0] = u->slot[1] = (struct gen_slot){0};
    return in_cur + in_grace;
}

void
counts_active(const struct global_state *g, int64_t now, const struct live_counts *c,
              int64_t *sessions, int64_t *users)
{
    *sessions = c->cur_sessions;
    *users = c->cur_users;
    if (revstate_window_open(g, now)) {
        *sessions += c->grace_sessions;
        *users += c->grace_users - c->both_users;
    }
}

void
counts_global_rotated(struct live_counts *c)
{
    c->grace_sessions = c->cur_sessions;
    c->grace_users = c->cur_users;
    c->cur_sessions = c->cur_users = c->both_users = 0;
}

void
counts_apply(const struct global_state *g, int64_t now, enum count_change change, int64_t gen,
             struct user_slots *u, struct live_counts *c)
{
    switch (change) {
    case COUNT_ADDED:
        counts_session_added(g, now, u, c);
        return;
    case COUNT_REMOVED:
        counts_session_removed(g, now, gen, u, c);
        return;
    case COUNT_USER_CLEARED:
        (void)counts_user_cleared(g, now, u, c);
        return;
    }
}
