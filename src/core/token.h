/* Access tokens (JWT, HS256) and refresh tokens (opaque random values).
 *
 * An access token says who (sub), which login (sid), and which generations it was issued in:
 * the user's token version (ver) and the global version (gver). Those two numbers are what make
 * revocation possible without a database query: see revstate.h. */
#ifndef ROTATOR_TOKEN_H
#define ROTATOR_TOKEN_H

#include <stdint.h>

#include "core/keys.h"

#define TOKEN_UUID_LEN    37 /* 36 characters and a NUL */
#define TOKEN_REFRESH_LEN 65 /* 32 random bytes in hex, and a NUL */
#define TOKEN_HASH_LEN    32 /* SHA-256 */

struct access_claims {
    char sub[TOKEN_UUID_LEN];
    char sid[TOKEN_UUID_LEN];
    uint8_t sub_id[16]; /* the same two ids in binary, filled by token_verify_access() */
    uint8_t sid_id[16];
    int admin;
    int64_t ver;
    int64_t gver;
    int64_t iat;
    int64_t exp;
};

enum token_status {
    TOKEN_VALID,
    TOKEN_MALFORMED,     /* not a JWT, or claims missing or of the wrong type */
    TOKEN_BAD_SIGNATURE, /* wrong key, or an algorithm other than HS256 */
    TOKEN_EXPIRED,
};

/* Signs `claims` (jti is drawn here). Returns a malloc'd token, or NULL if out of memory. */
char *token_issue_access(const struct signing_key *key, const struct access_claims *claims);

/* Checks signature, algorithm, claim types and expiry against `now`. Fills `out` when valid.
 * A token this thread already verified with `key` skips to the expiry check (token_cache.h). */
enum token_status token_verify_access(const struct signing_key *key, const char *token, int64_t now,
                                      struct access_claims *out);

const char *token_status_text(enum token_status status);

/* Draws a new refresh token and its hash. Returns 0, or -1 if no randomness is available. */
int token_new_refresh(char token[TOKEN_REFRESH_LEN], uint8_t hash[TOKEN_HASH_LEN]);

/* Hashes a presented refresh token. Returns -1 when it is not of the form we issue. */
int token_hash_refresh(const char *token, uint8_t hash[TOKEN_HASH_LEN]);

#endif
