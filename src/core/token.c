#include "core/token.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "core/token_cache.h"
#include "util/ids.h"
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

/* The last character of an unpadded encoding carries bits that encode nothing; they must be
 * zero (RFC 4648, section 3.5), or one token would have several spellings. `c` is already in
 * the standard alphabet. */
static bool
last_char_canonical(char c, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = strchr(alphabet, c);
    int unused_mask = len % 4 == 2 ? 0xf : len % 4 == 3 ? 0x3 : 0;

    return at != NULL && c != '\0' && ((at - alphabet) & unused_mask) == 0;
}

/* Decodes base64url without padding (RFC 7515, section 2) into `out`. Returns the decoded
 * length, or -1 when `in` is not base64url or does not fit. */
static ssize_t
b64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    char buf[LIMIT_TOKEN_MAX + 4];
    size_t padded = (len + 3) & ~(size_t)3;
    int n;

    if (len % 4 == 1 || padded >= sizeof(buf) || padded / 4 * 3 > outlen)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];

        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            return -1; /* plain base64 is not a JWT */
        buf[i] = c;
    }
    memset(buf + len, '=', padded - len);
    n = EVP_DecodeBlock(out, (const unsigned char *)buf, (int)padded);
    if (n < 0 || (len > 0 && !last_char_canonical(buf[len - 1], len)))
        return -1;
    /* EVP_DecodeBlock counts the padding as zero bytes; take them back off. */
    return n - (ssize_t)(padded - len);
}

/* Parses one base64url-encoded JSON object of the token. */
static json_t *
decode_json_part(const char *in, size_t len)
{
    uint8_t raw[LIMIT_TOKEN_MAX];
    ssize_t n = b64url_decode(in, len, raw, sizeof(raw));

    if (n <= 0)
        return NULL;
    return json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
}

/* Checks the HS256 signature of "header.payload" in constant time. */
static bool
signature_matches(const struct signing_key *key, const char *token, size_t signed_len,
                  const char *sig, size_t sig_len)
{
    uint8_t expected[EVP_MAX_MD_SIZE], presented[64];
    unsigned int expected_len = 0;
    ssize_t n = b64url_decode(sig, sig_len, presented, sizeof(presented));

    if (n != 32 || HMAC(EVP_sha256(), key->bytes, (int)key->len, (const uint8_t *)token, signed_len,
                        expected, &expected_len) == NULL)
        return false;
    return expected_len == 32 && CRYPTO_memcmp(expected, presented, 32) == 0;
}

/* Copies a claim that must be a UUID string, in text and in binary. */
static int
copy_uuid_claim(json_t *claims, const char *name, char out[TOKEN_UUID_LEN], uint8_t id[16])
{
    const char *value = json_string_value(json_object_get(claims, name));

    if (value == NULL || ids_parse(value, id) != 0)
        return -1;
    ids_format(id, out);
    return 0;
}

static int
get_int_claim(json_t *claims, const char *name, int64_t *out)
{
    json_t *value = json_object_get(claims, name);

    if (!json_is_integer(value))
        return -1;
    *out = json_integer_value(value);
    return 0;
}

static enum token_status
read_claims(json_t *header, json_t *claims, struct access_claims *out)
{
    const char *alg = json_string_value(json_object_get(header, "alg"));
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *role = json_string_value(json_object_get(claims, "role"));

    /* The signature already proved HS256 under our key; a header that says otherwise was not
     * written by us. */
    if (alg == NULL || strcmp(alg, "HS256") != 0)
        return TOKEN_BAD_SIGNATURE;
    if (iss == NULL || strcmp(iss, ISSUER) != 0 || role == NULL ||
        copy_uuid_claim(claims, "sub", out->sub, out->sub_id) ||
        copy_uuid_claim(claims, "sid", out->sid, out->sid_id) ||
        get_int_claim(claims, "ver", &out->ver) || get_int_claim(claims, "gver", &out->gver) ||
        get_int_claim(claims, "iat", &out->iat) || get_int_claim(claims, "exp", &out->exp))
        return TOKEN_MALFORMED;
    out->admin = strcmp(role, "admin") == 0;
    return TOKEN_VALID;
}

/* Verification is written out rather than left to libjwt: it is the hot path of every request,
 * and libjwt decodes and parses the JSON of a token before it checks the signature, and accepts
 * whichever HMAC the header names. Here the signature is checked first, with the algorithm
 * pinned, so no byte from an unauthenticated token reaches the JSON parser. */
enum token_status
token_verify_access(const struct signing_key *key, const char *token, int64_t now,
                    struct access_claims *out)
{
    size_t len = strnlen(token, LIMIT_TOKEN_MAX + 1);
    const char *dot1, *dot2;
    json_t *header = NULL, *claims = NULL;
    enum token_status status = TOKEN_MALFORMED;

    if (len > LIMIT_TOKEN_MAX)
        return TOKEN_MALFORMED;
    if (token_cache_get(key, token, len, out))
        return now < out->exp ? TOKEN_VALID : TOKEN_EXPIRED;

    if ((dot1 = memchr(token, '.', len)) == NULL ||
        (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) == NULL)
        return TOKEN_MALFORMED;
    if (!signature_matches(key, token, (size_t)(dot2 - token), dot2 + 1,
                           len - (size_t)(dot2 + 1 - token)))
        return TOKEN_BAD_SIGNATURE;

    header = decode_json_part(token, (size_t)(dot1 - token));
    claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (json_is_object(header) && json_is_object(claims))
        status = read_claims(header, claims, out);
    json_decref(header);
    json_decref(claims);
    if (status != TOKEN_VALID)
        return status;
    token_cache_put(key, token, len, out);
    return now < out->exp ? TOKEN_VALID : TOKEN_EXPIRED;
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
