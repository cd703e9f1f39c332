#include "core/token_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Direct-mapped: a colliding token simply replaces the older one. 4096 slots of ~650 bytes is
 * 2.6 MiB per server thread. Tokens longer than TOKEN_MAX are not cached (ours are ~330). */
enum { SLOTS = 4096, TOKEN_MAX = 512 };

struct slot {
    const struct signing_key *key;
    uint16_t len;
    char token[TOKEN_MAX];
    struct access_claims claims;
};

static _Thread_local struct slot *slots;

/* FNV-1a over the signature, the token's last and most random part. */
static size_t
slot_index(const char *token, size_t len)
{
    uint64_t h = 14695981039346656037u;
    size_t from = len > 43 ? len - 43 : 0;

    for (size_t i = from; i < len; i++)
        h = (h ^ (uint8_t)token[i]) * 1099511628211u;
    return (size_t)(h % SLOTS);
}

bool
token_cache_get(const struct signing_key *key, const char *token, size_t len,
                struct access_claims *out)
{
    const struct slot *s;

    if (slots == NULL || len > TOKEN_MAX)
        return false;
    s = &slots[slot_index(token, len)];
    if (s->key != key || s->len != len || memcmp(s->token, token, len) != 0)
        return false;
    *out = s->claims;
    return true;
}

void
token_cache_put(const struct signing_key *key, const char *token, size_t len,
                const struct access_claims *claims)
{
    struct slot *s;

    if (len > TOKEN_MAX)
        return;
    /* Allocated on first use by each thread; without memory the cache just stays off. */
    if (slots == NULL && (slots = calloc(SLOTS, sizeof(*slots))) == NULL)
        return;
    s = &slots[slot_index(token, len)];
    s->key = key;
    s->len = (uint16_t)len;
    memcpy(s->token, token, len);
    s->claims = *claims;
}
