/* A per-thread cache of access tokens whose signature this process has already verified.
 *
 * A client presents the same access token on every request for up to its lifetime, and checking
 * it afresh (an HMAC and two JSON documents) is the largest cost of an authenticated request.
 * An entry maps the exact token text and the key that verified it to its claims, so a hit
 * proves what the first check proved: these bytes were signed with that key. token.c consults it
 * inside token_verify_access(); expiry and revocation are still checked on every request, only
 * the signature and the parse are remembered. */
#ifndef ROTATOR_TOKEN_CACHE_H
#define ROTATOR_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/token.h"

/* Looks `token`, verified with `key`, up in this thread's cache; fills `out` on a hit. */
bool token_cache_get(const struct signing_key *key, const char *token, size_t len,
                     struct access_claims *out);

/* Remembers a token whose signature under `key` and claims were just verified. */
void token_cache_put(const struct signing_key *key, const char *token, size_t len,
                     const struct access_claims *claims);

#endif
