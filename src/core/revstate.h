/* The revocation state: everything token validation needs to know, held in memory.
 *
 * An access token is accepted when its session is not revoked, its user version equals the
 * user's current version, and its global version is the current one, or the previous one while
 * that generation's grace window is open. Checking that costs a few hash lookups under a read
 * lock and no database query.
 *
 * The state is loaded from the database at start and changed only through the setters below,
 * after the database change they mirror has committed. Every setter is monotonic (versions only
 * grow, revocations are never undone), so changes may arrive in any order, from this process or,
 * later, from other processes sharing the database, and the state still converges. */
#ifndef ROTATOR_REVSTATE_H
#define ROTATOR_REVSTATE_H

#include <stdbool.h>
#include <stdint.h>

#define REVSTATE_ID_LEN 16 /* binary UUID */

struct global_state {
    int64_t version;       /* current global version; new tokens carry it */
    int64_t grace_version; /* the previous version, still accepted until grace_ends_at; 0: none */
    int64_t grace_ends_at;
};

enum revocation_verdict {
    REVOCATION_OK,
    REVOCATION_SESSION, /* logged out, deleted, or a refresh token of it was reused */
    REVOCATION_USER,    /* the user's tokens were rotated */
    REVOCATION_GLOBAL,  /* a global rotation, its grace window (if any) over */
};

/* Whether the previous generation's grace window is still open at `now`. */
bool revstate_window_open(const struct global_state *g, int64_t now);

/* The one rule for global generations, shared by access and refresh checks. */
bool revstate_generation_accepted(const struct global_state *g, int64_t gver, int64_t now);

/* Sets up an empty state. `horizon` bounds how long a revoked session must be remembered:
 * no access token of it can outlive its revocation by more than that. */
int revstate_init(int64_t horizon);
void revstate_destroy(void);

void revstate_set_global(const struct global_state *g);
struct global_state revstate_global(void);

/* When tokens of global generation `gver` stop being accepted: the end of its grace window,
 * or INT64_MAX for the current generation (and for any other, which is refused already). */
int64_t revstate_generation_deadline(int64_t gver);

/* Users never rotated are at version 1 and take no memory. */
void revstate_set_user_version(const uint8_t user[REVSTATE_ID_LEN], int64_t version);
void revstate_revoke_session(const uint8_t session[REVSTATE_ID_LEN], int64_t revoked_at);

enum revocation_verdict revstate_check(const uint8_t user[REVSTATE_ID_LEN],
                                       const uint8_t session[REVSTATE_ID_LEN], int64_t ver,
                                       int64_t gver, int64_t now);

const char *revstate_verdict_text(enum revocation_verdict verdict);

/* Counts, for metrics and tests. */
void revstate_counts(uint64_t *users_tracked, uint64_t *sessions_tracked);

#endif
