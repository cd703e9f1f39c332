/* The HMAC secret that signs access tokens.
 *
 * The key lives in one static buffer of this module, is locked into memory where the system
 * allows, and is wiped at exit. Nothing outside this module and token.c ever sees its bytes. */
#ifndef ROTATOR_KEYS_H
#define ROTATOR_KEYS_H

#include <stddef.h>

struct signing_key {
    unsigned char bytes[4096];
    size_t len;
};

/* Loads the key from `path`. When `generate` is true and the file does not exist, creates it
 * with 32 random bytes and mode 0600 first. Returns 0, or -1 with a reason in `err`. */
__attribute__((warn_unused_result)) int keys_load(struct signing_key *key, const char *path,
                                                  int generate, char *err, size_t errlen);

void keys_wipe(struct signing_key *key);

#endif
