/* The storage interface: every durable fact rotator keeps, behind one set of operations.
 *
 * A backend implements `struct store_ops`: SQLite (sqlite.c) and PostgreSQL (postgres.c).
 * Operations are domain-level (rotate a user, refresh a session), not SQL-level, so that each
 * backend can make them atomic in its own way. A `struct store` is used by one thread at a
 * time; each server thread opens its own.
 *
 * Every operation returns a `enum store_result`, which callers must check. Times are whole
 * seconds since the epoch from clock_now(), passed in so that the test clock reaches SQL. */
#ifndef ROTATOR_STORE_H
#define ROTATOR_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/password.h"
#include "core/revstate.h"
#include "core/token.h"
#include "util/limits.h"

enum store_result {
    STORE_OK = 0,
    STORE_NOT_FOUND,
    STORE_CONFLICT,    /* a unique key is taken */
    STORE_UNAVAILABLE, /* the database cannot be reached or stays locked: try again later */
    STORE_ERROR,       /* a bug or a corrupt database */
};

enum rotation_type { ROTATION_USER, ROTATION_GLOBAL };

struct user {
    char id[TOKEN_UUID_LEN];
    char email[LIMIT_EMAIL_MAX + 1];
    char password_hash[PASSWORD_HASH_MAX];
    bool admin;
    int64_t token_version;
    int64_t created_at;
};

struct session {
    char id[TOKEN_UUID_LEN];
    char user_id[TOKEN_UUID_LEN];
    bool admin; /* the user's role, for the access tokens minted from this session */
    int64_t user_version;
    int64_t global_version;
    int64_t created_at;
    int64_t last_used_at;
    int64_t expires_at;
    char user_agent[LIMIT_USER_AGENT_MAX + 1];
    char ip[64];
};

enum refresh_outcome {
    REFRESH_OK,
    REFRESH_UNKNOWN,
    REFRESH_REUSED, /* a retired token came back: the whole session is now revoked */
    REFRESH_REVOKED,
    REFRESH_EXPIRED,
    REFRESH_ROTATED, /* the user's or the global generation of the session is over */
};

struct rotation_request {
    enum rotation_type type;
    const char *user_id;           /* ROTATION_USER only */
    const char *new_password_hash; /* set when a password change triggers the rotation */
    const char *reason;
    const char *initiated_by;
    int grace_minutes; /* ROTATION_GLOBAL only */
    int64_t now;
};

struct rotation_event {
    int64_t id;
    enum rotation_type type;
    char user_id[TOKEN_UUID_LEN]; /* empty for a global rotation */
    int64_t old_version;
    int64_t new_version;
    int64_t tokens_revoked;
    int64_t users_affected;
    char reason[LIMIT_GLOBAL_REASON_MAX * 4 + 1]; /* UTF-8: up to 4 bytes a character */
    char initiated_by[LIMIT_EMAIL_MAX + 16];
    int grace_minutes; /* -1 for a user rotation */
    int64_t rotated_at;
    struct global_state global_after; /* global rotations: the state to publish */
};

struct security_config {
    struct global_state global;
    int64_t last_updated_at;
    char last_updated_by[LIMIT_EMAIL_MAX + 16]; /* empty before the first rotation */
    char last_rotation_reason[LIMIT_GLOBAL_REASON_MAX * 4 + 1];
};

struct store;

typedef void (*store_session_fn)(const struct session *s, void *arg);
typedef void (*store_event_fn)(const struct rotation_event *e, void *arg);
typedef void (*store_user_version_fn)(const char *user_id, int64_t version, void *arg);
typedef void (*store_revoked_fn)(const char *session_id, int64_t revoked_at, void *arg);

struct store_ops {
    const char *name;
    void (*close)(struct store *st);
    enum store_result (*migrate)(struct store *st, int *from, int *to);
    enum store_result (*ping)(struct store *st);

    enum store_result (*user_create)(struct store *st, const struct user *u);
    enum store_result (*user_by_email)(struct store *st, const char *email, struct user *out);
    enum store_result (*user_by_id)(struct store *st, const char *id, struct user *out);
    enum store_result (*admin_exists)(struct store *st, bool *out);

    /* Creates a session for `s->user_id` in the current user and global generations, which it
     * fills in, with its first refresh token. */
    enum store_result (*session_create)(struct store *st, struct session *s,
                                        const uint8_t refresh_hash[TOKEN_HASH_LEN], int64_t ttl);
    /* Retires `old_hash` and stores `new_hash` in its place, in one transaction. */
    enum store_result (*session_refresh)(struct store *st, const uint8_t old_hash[TOKEN_HASH_LEN],
                                         const uint8_t new_hash[TOKEN_HASH_LEN], int64_t now,
                                         int64_t ttl, enum refresh_outcome *outcome,
                                         struct session *out);
    /* Revokes one active session; `user_id` restricts it to that user's. */
    enum store_result (*session_revoke)(struct store *st, const char *session_id,
                                        const char *user_id, int64_t now, const char *reason);
    enum store_result (*sessions_list)(struct store *st, const char *user_id, int64_t now,
                                       store_session_fn each, void *arg);
    enum store_result (*sessions_count_active)(struct store *st, int64_t now, int64_t *out);
    /* Takes up to a batch of expired sessions out of the live counts (see counts.h); run
     * every second or so by the housekeeping thread. `swept` says how many it took. */
    enum store_result (*sweep)(struct store *st, int64_t now, int64_t *swept);

    /* Applies a rotation and writes its audit event, atomically and serialised. */
    enum store_result (*rotate)(struct store *st, const struct rotation_request *rq,
                                struct rotation_event *out);
    enum store_result (*security_config)(struct store *st, struct security_config *out);
    enum store_result (*events_list)(struct store *st, int64_t limit, int64_t offset,
                                     store_event_fn each, void *arg, int64_t *total);

    /* Everything the revocation state needs at start. */
    enum store_result (*load_revocations)(struct store *st, int64_t revoked_since,
                                          store_user_version_fn user_fn,
                                          store_revoked_fn session_fn, void *arg);
};

struct store {
    const struct store_ops *ops;
};

/* Limits of the connection pool that backends with a server keep (PostgreSQL): one pool per
 * database URL, shared by every `struct store` of the process. */
struct store_options {
    int pool_size;    /* connections kept open once made */
    int max_overflow; /* extra connections made under load, closed when given back */
    int pool_timeout; /* seconds to wait for a free connection before STORE_UNAVAILABLE */
};

/* Sets the options of every later store_open(); call it once at start, before any thread
 * opens a store. Without it the runbook's defaults apply (20, 10, 30 s). */
void store_configure(const struct store_options *options);

/* Opens the database named by `url`: "sqlite:PATH", a PostgreSQL URI ("postgresql://...",
 * "postgres://...") or a libpq "key=value ..." string. Returns NULL with a reason in `err`. */
struct store *store_open(const char *url, char *err, size_t errlen);
void store_close(struct store *st);

/* Makes sure this process is the only rotator serving the database: each process holds its
 * revocation state in memory, so a second one would miss the first one's revocations.
 * Returns 0 (the claim lasts until the process exits), or -1 with a reason in `err`. */
int store_claim_exclusive(const char *url, char *err, size_t errlen);

/* PostgreSQL's claim: a session-level advisory lock on a connection of its own. */
int store_postgres_claim_exclusive(const char *conninfo, char *err, size_t errlen);

/* For "sqlite:PATH" URLs, the folder of PATH, where the default key file lives; -1 for any
 * other database, which has no folder to keep a key file in. */
int store_url_directory(const char *url, char *out, size_t outlen);

const char *store_result_text(enum store_result r);

/* Backends */
struct store *store_sqlite_open(const char *path, char *err, size_t errlen);
struct store *store_postgres_open(const char *conninfo, const struct store_options *options,
                                  char *err, size_t errlen);

#endif
