/* Exact counts of active sessions and users, kept up to date instead of counted on demand.
 *
 * A global rotation must report how many sessions and users it cuts off. Counting them with a
 * query costs a scan of every active session (about 50 to 90 ms at a million on PostgreSQL);
 * keeping counters costs a few integer updates per login, logout, expiry and rotation, and makes
 * the answer O(1). Both backends keep the same counters with this arithmetic.
 *
 * Only two global generations can hold active sessions at once: the current one, and the one
 * before it while its grace window is open. So each user keeps two slots, each a generation and
 * how many counted sessions the user has in it, and the database keeps, per live generation,
 * the sessions and distinct users, plus the users present in both (so that the union of the two
 * is exact). A slot or counter of a generation that is no longer live is ignored, not cleared:
 * that is what makes a global rotation O(1). */
#ifndef ROTATOR_COUNTS_H
#define ROTATOR_COUNTS_H

#include <stdint.h>

#include "core/revstate.h"

struct gen_slot {
    int64_t gen; /* 0: unused */
    int64_t count;
};

struct user_slots {
    struct gen_slot slot[2];
};

struct live_counts {
    int64_t cur_sessions;   /* counted sessions of the current generation */
    int64_t cur_users;      /* users with at least one of them */
    int64_t grace_sessions; /* the same for the generation in its grace window */
    int64_t grace_users;
    int64_t both_users; /* users with sessions in both */
};

/* A session was opened in the current generation. */
void counts_session_added(const struct global_state *g, int64_t now, struct user_slots *u,
                          struct live_counts *c);

/* A counted session of generation `gen` ended (revoked or expired). */
void counts_session_removed(const struct global_state *g, int64_t now, int64_t gen,
                            struct user_slots *u, struct live_counts *c);

/* All of a user's sessions ended (a user rotation). Returns how many were active. */
int64_t counts_user_cleared(const struct global_state *g, int64_t now, struct user_slots *u,
                            struct live_counts *c);

/* Active sessions and distinct users right now. */
void counts_active(const struct global_state *g, int64_t now, const struct live_counts *c,
                   int64_t *sessions, int64_t *users);

/* A global rotation: the current generation becomes the grace one, the new one is empty. */
void counts_global_rotated(struct live_counts *c);

/* One of the per-user changes above, for backends that read, change and write back. */
enum count_change { COUNT_ADDED, COUNT_REMOVED, COUNT_USER_CLEARED };

/* `gen` is the generation of the session removed (COUNT_REMOVED only). */
void counts_apply(const struct global_state *g, int64_t now, enum count_change change, int64_t gen,
                  struct user_slots *u, struct live_counts *c);

#endif
