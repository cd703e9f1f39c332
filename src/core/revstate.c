#include "core/revstate.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* uthash aborts the process when it cannot grow a table. Rotator decides the same for the
 * revocation state: a server that cannot remember a revocation must not keep answering. */
#define uthash_fatal(msg) abort()
#include <uthash.h>

#include "util/clock.h"

struct user_entry {
    uint8_t id[REVSTATE_ID_LEN];
    int64_t version;
    UT_hash_handle hh;
};

struct session_entry {
    uint8_t id[REVSTATE_ID_LEN];
    int64_t revoked_at;
    UT_hash_handle hh;
};

/* Forget revoked sessions every this many revocations, once they can no longer matter. */
enum { PRUNE_EVERY = 1024 };

static struct {
    pthread_rwlock_t lock;
    struct global_state global;
    struct user_entry *users;
    struct session_entry *sessions;
    int64_t horizon;
    unsigned revocations_since_prune;
} state = {.lock = PTHREAD_RWLOCK_INITIALIZER};

bool
revstate_window_open(const struct global_state *g, int64_t now)
{
    return g->grace_version != 0 && now < g->grace_ends_at;
}

bool
revstate_generation_accepted(const struct global_state *g, int64_t gver, int64_t now)
{
    return gver == g->version || (revstate_window_open(g, now) && gver == g->grace_version);
}

int
revstate_init(int64_t horizon)
{
    revstate_destroy();
    state.global = (struct global_state){.version = 1};
    state.horizon = horizon;
    return 0;
}

void
revstate_destroy(void)
{
    struct user_entry *u, *utmp;
    struct session_entry *s, *stmp;

    pthread_rwlock_wrlock(&state.lock);
    HASH_ITER(hh, state.users, u, utmp)
    {
        HASH_DEL(state.users, u);
        free(u);
    }
    HASH_ITER(hh, state.sessions, s, stmp)
    {
        HASH_DEL(state.sessions, s);
        free(s);
    }
    pthread_rwlock_unlock(&state.lock);
}

void
revstate_set_global(const struct global_state *g)
{
    pthread_rwlock_wrlock(&state.lock);
    if (g->version > state.global.version)
        state.global = *g;
    pthread_rwlock_unlock(&state.lock);
}

struct global_state
revstate_global(void)
{
    struct global_state g;

    pthread_rwlock_rdlock(&state.lock);
    g = state.global;
    pthread_rwlock_unlock(&state.lock);
    return g;
}

int64_t
revstate_generation_deadline(int64_t gver)
{
    struct global_state g = revstate_global();

    return g.grace_version != 0 && gver == g.grace_version ? g.grace_ends_at : INT64_MAX;
}

void
revstate_set_user_version(const uint8_t user[REVSTATE_ID_LEN], int64_t version)
{
    struct user_entry *entry;

    pthread_rwlock_wrlock(&state.lock);
    HASH_FIND(hh, state.users, user, REVSTATE_ID_LEN, entry);
    if (entry == NULL && version > 1) {
        entry = calloc(1, sizeof(*entry));
        if (entry == NULL)
            abort();
        memcpy(entry->id, user, REVSTATE_ID_LEN);
        HASH_ADD(hh, state.users, id, REVSTATE_ID_LEN, entry);
    }
    if (entry != NULL && version > entry->version)
        entry->version = version;
    pthread_rwlock_unlock(&state.lock);
}

/* Drops sessions revoked so long ago that every access token of theirs has expired. */
static void
prune_sessions_locked(int64_t now)
{
    struct session_entry *s, *tmp;

    HASH_ITER(hh, state.sessions, s, tmp)
    {
        if (s->revoked_at + state.horizon < now) {
            HASH_DEL(state.sessions, s);
            free(s);
        }
    }
    state.revocations_since_prune = 0;
}

void
revstate_revoke_session(const uint8_t session[REVSTATE_ID_LEN], int64_t revoked_at)
{
    struct session_entry *entry;

    pthread_rwlock_wrlock(&state.lock);
    HASH_FIND(hh, state.sessions, session, REVSTATE_ID_LEN, entry);
    if (entry == NULL) {
        entry = calloc(1, sizeof(*entry));
        if (entry == NULL)
            abort();
        memcpy(entry->id, session, REVSTATE_ID_LEN);
        entry->revoked_at = revoked_at;
        HASH_ADD(hh, state.sessions, id, REVSTATE_ID_LEN, entry);
        if (++state.revocations_since_prune >= PRUNE_EVERY)
            prune_sessions_locked(clock_now());
    }
    pthread_rwlock_unlock(&state.lock);
}

enum revocation_verdict
revstate_check(const uint8_t user[REVSTATE_ID_LEN], const uint8_t session[REVSTATE_ID_LEN],
               int64_t ver, int64_t gver, int64_t now)
{
    enum revocation_verdict verdict = REVOCATION_OK;
    struct session_entry *revoked;
    struct user_entry *entry;
    int64_t current = 1;

    pthread_rwlock_rdlock(&state.lock);
    HASH_FIND(hh, state.users, user, REVSTATE_ID_LEN, entry);
    if (entry != NULL)
        current = entry->version;
    HASH_FIND(hh, state.sessions, session, REVSTATE_ID_LEN, revoked);

    if (revoked != NULL)
        verdict = REVOCATION_SESSION;
    else if (ver != current)
        verdict = REVOCATION_USER;
    else if (!revstate_generation_accepted(&state.global, gver, now))
        verdict = REVOCATION_GLOBAL;
    pthread_rwlock_unlock(&state.lock);
    return verdict;
}

const char *
revstate_verdict_text(enum revocation_verdict verdict)
{
    switch (verdict) {
    case REVOCATION_OK:
        return "ok";
    case REVOCATION_SESSION:
        return "session revoked";
    case REVOCATION_USER:
        return "user tokens rotated";
    case REVOCATION_GLOBAL:
        return "global rotation";
    }
    return "unknown";
}

void
revstate_counts(uint64_t *users_tracked, uint64_t *sessions_tracked)
{
    pthread_rwlock_rdlock(&state.lock);
    *users_tracked = HASH_COUNT(state.users);
    *sessions_tracked = HASH_COUNT(state.sessions);
    pthread_rwlock_unlock(&state.lock);
}
