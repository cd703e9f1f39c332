/* Logins, refreshes and the check every authenticated request goes through.
 *
 * The check (auth_authenticate) is the hot path: it verifies the JWT and asks the in-memory
 * revocation state, and never touches the database. */
#ifndef ROTATOR_AUTH_H
#define ROTATOR_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/keys.h"
#include "core/revstate.h"
#include "core/token.h"
#include "store/store.h"

struct auth_settings {
    const struct signing_key *key;
    int64_t access_ttl;
    int64_t refresh_ttl;
};

struct auth_tokens {
    char *access; /* malloc'd; auth_tokens_clear() frees it */
    char refresh[TOKEN_REFRESH_LEN];
    int64_t expires_in;
};

struct principal {
    struct access_claims claims;
};

enum auth_result {
    AUTH_OK,
    AUTH_DENIED,      /* 401: bad credentials or a token that is no longer good */
    AUTH_UNAVAILABLE, /* 503: the database cannot answer right now */
    AUTH_ERROR,       /* 500: a fault of rotator itself */
};

/* Call once before serving; `settings` must outlive the server. */
void auth_configure(const struct auth_settings *settings);

/* Checks a password against `user`, or burns the same time when `user` is NULL (unknown
 * email), so that timing does not tell the two apart. Slow on purpose: call it off the loop. */
bool auth_check_password(const struct user *user, const char *password);

/* Opens a session for a user whose password was checked, and mints its first tokens. */
enum auth_result auth_open_session(struct store *st, const struct user *user,
                                   const char *user_agent, const char *ip, struct auth_tokens *out);

enum auth_result auth_refresh(struct store *st, const char *refresh_token, struct auth_tokens *out);

enum auth_result auth_authenticate(const char *access_token, struct principal *out);

/* Revokes one session (logout, or DELETE of a session); `owner` restricts it to that user. */
enum store_result auth_end_session(struct store *st, const char *session_id, const char *owner,
                                   const char *reason);

void auth_tokens_clear(struct auth_tokens *tokens);

#endif
