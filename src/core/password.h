/* Password hashing with Argon2id (RFC 9106), in the PHC string format. */
#ifndef ROTATOR_PASSWORD_H
#define ROTATOR_PASSWORD_H

#include <stddef.h>

#define PASSWORD_HASH_MAX 128

/* Returns 0 and the encoded hash, or -1 on failure (no randomness, out of memory). */
__attribute__((warn_unused_result)) int password_hash(const char *password,
                                                      char out[PASSWORD_HASH_MAX]);

/* Returns 1 when `password` matches `encoded`, 0 otherwise. */
int password_verify(const char *encoded, const char *password);

/* Burns the time of one verification, so that an unknown email costs as much as a wrong
 * password and a client cannot tell the two apart by timing. */
void password_verify_dummy(const char *password);

#endif
