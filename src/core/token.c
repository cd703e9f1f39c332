#include "core/token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uuid/uuid.h>

#include "util/limits.h"

static const char ISSUER[] = "rotator";

static void
hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

char *
token_issue_access(const struct signing_key *key, const struct access_claims *claims)
{
    uint8_t jti_bytes[16];
    char jti[33];
    jwt_t *jwt = NULL;
    char *out = NULL;

    if (RAND_bytes(jti_bytes, sizeof(jti_bytes)) != 1)
        return NULL;
    hex_encode(jti_bytes, sizeof(jti_bytes), jti);

    if (jwt_new(&jwt) != 0)
        return NULL;
    if (jwt_add_grant(jwt, "iss", ISSUER) || jwt_add_grant(jwt, "sub", claims->sub) ||
        jwt_add_grant(jwt, "sid", claims->sid) || jwt_add_grant(jwt, "jti", jti) ||
        jwt_add_grant(jwt, "role", claims->admin ? "admin" : "user") ||
        jwt_add_grant_int(jwt, "ver", claims->ver) ||
        jwt_add_grant_int(jwt, "gver", claims->gver) ||
        jwt_add_grant_int(jwt, "iat", claims->iat) || jwt_add_grant_int(jwt, "exp", claims->exp) ||
        jwt_set_alg(jwt, JWT_ALG_HS256, key->bytes, (int)key->len))
        goto out;
    out = jwt_encode_str(jwt);
out:
    jwt_free(jwt);
    return out;
}

/* Copies a claim that must be a canonical UUID string. */
static int
copy_uuid_claim(jwt_t *jwt, const char *name, char out[TOKEN_UUID_LEN])
{
    const char *value = jwt_get_grant(jwt, name);
    uuid_t parsed;

    if (value == NULL || strlen(value) != TOKEN_UUID_LEN - 1 || uuid_parse(value, parsed) != 0)
        return -1;
    uuid_unparse_lower(parsed, out);
    return 0;
}

/* Reads an integer claim; libjwt reports a missing or non-integer claim through errno. */
static int
get_int_claim(jwt_t *jwt, const char *name, int64_t *out)
{
    long value;

    errno = 0;
    value = jwt_get_grant_int(jwt, name);
    if (errno != 0)
        return -1;
    *out = value;
    return 0;
}

enum token_status
token_verify_access(const struct signing_key *key, const char *token, int64_t now,
                    struct access_claims *out)
{
    enum token_status status = TOKEN_MALFORMED;
    const char *iss, *role;
    jwt_t *jwt = NULL;

    if (strnlen(token, LIMIT_TOKEN_MAX + 1) > LIMIT_TOKEN_MAX)
        return TOKEN_MALFORMED;
    if (jwt_decode(&jwt, token, key->bytes, (int)key->len) != 0)
        return TOKEN_BAD_SIGNATURE;

    /* libjwt verifies with whatever HMAC the header names; only HS256 is ours. */
    if (jwt_get_alg(jwt) != JWT_ALG_HS256) {
        status = TOKEN_BAD_SIGNATURE;
        goto out;
    }

    iss = jwt_get_grant(jwt, "iss");
    role = jwt_get_grant(jwt, "role");
    if (iss == NULL || strcmp(iss, ISSUER) != 0 || role == NULL ||
        copy_uuid_claim(jwt, "sub", out->sub) || copy_uuid_claim(jwt, "sid", out->sid) ||
        get_int_claim(jwt, "ver", &out->ver) || get_int_claim(jwt, "gver", &out->gver) ||
        get_int_claim(jwt, "iat", &out->iat) || get_int_claim(jwt, "exp", &out->exp))
        goto out;
    out->admin = strcmp(role, "admin") == 0;

    status = now < out->exp ? TOKEN_VALID : TOKEN_EXPIRED;
out:
    jwt_free(jwt);
    return status;
}

const char *
token_status_text(enum token_status status)
{
    switch (status) {
    case TOKEN_VALID:
        return "valid";
    case TOKEN_MALFORMED:
        return "malformed token";
    case TOKEN_BAD_SIGNATURE:
        return "bad signature or algorithm";
    case TOKEN_EXPIRED:
        return "expired";
    }
    return "unknown";
}

int
token_new_refresh(char token[TOKEN_REFRESH_LEN], uint8_t hash[TOKEN_HASH_LEN])
{
    uint8_t raw[32];

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    hex_encode(raw, sizeof(raw), token);
    return token_hash_refresh(token, hash);
}

int
token_hash_refresh(const char *token, uint8_t hash[TOKEN_HASH_LEN])
{
    size_t len = strnlen(token, TOKEN_REFRESH_LEN);

    if (len != TOKEN_REFRESH_LEN - 1 || strspn(token, "0123456789abcdef") != len)
        return -1;
    return EVP_Digest(token, len, hash, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
}
