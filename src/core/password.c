#include "core/password.h"

#include <pthread.h>
#include <string.h>

#include <argon2.h>
#include <openssl/rand.h>

/* OWASP's 2023 floor for Argon2id: 19 MiB, 2 passes, 1 lane. About 30 ms on this class of
 * machine: slow for an attacker with a stolen table, bearable at login. */
enum { T_COST = 2, M_COST_KIB = 19 * 1024, LANES = 1, SALT_LEN = 16, HASH_LEN = 32 };

int
password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
    unsigned char salt[SALT_LEN];

    if (RAND_bytes(salt, sizeof(salt)) != 1)
        return -1;
    return argon2id_hash_encoded(T_COST, M_COST_KIB, LANES, password, strlen(password), salt,
                                 sizeof(salt), HASH_LEN, out, PASSWORD_HASH_MAX) == ARGON2_OK
               ? 0
               : -1;
}

int
password_verify(const char *encoded, const char *password)
{
    return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK;
}

static char dummy_hash[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
make_dummy_hash(void)
{
    /* Hashed once with the production parameters, so a check against it costs the same as a
     * real one; the password behind it is random and forgotten. */
    unsigned char secret[24];
    char text[sizeof(secret) * 2 + 1];

    if (RAND_bytes(secret, sizeof(secret)) != 1)
        memset(secret, 0x5a, sizeof(secret));
    for (size_t i = 0; i < sizeof(secret); i++)
        text[i * 2] = text[i * 2 + 1] = (char)('a' + secret[i] % 26);
    text[sizeof(text) - 1] = '\0';
    if (password_hash(text, dummy_hash) != 0)
        dummy_hash[0] = '\0';
}

void
password_verify_dummy(const char *password)
{
    pthread_once(&dummy_once, make_dummy_hash);
    if (dummy_hash[0] != '\0')
        (void)password_verify(dummy_hash, password);
}
