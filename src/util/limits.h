/* Every size and range limit of rotator, in one place. */
#ifndef ROTATOR_LIMITS_H
#define ROTATOR_LIMITS_H

/* Request bodies: anything larger is refused with 413 before it is parsed. */
#define LIMIT_BODY_BYTES (16 * 1024)
/* h2o's own ceiling, above ours, so that our JSON 413 answers all but absurd uploads. */
#define LIMIT_BODY_BYTES_HARD (1024 * 1024)

#define LIMIT_EMAIL_MAX      254
#define LIMIT_PASSWORD_MIN   8
#define LIMIT_PASSWORD_MAX   128
#define LIMIT_TOKEN_MAX      2048 /* an access or refresh token as presented */
#define LIMIT_USER_AGENT_MAX 256

#define LIMIT_USER_REASON_MIN   10
#define LIMIT_USER_REASON_MAX   500
#define LIMIT_GLOBAL_REASON_MIN 20
#define LIMIT_GLOBAL_REASON_MAX 1000

#define LIMIT_GRACE_MINUTES_MAX     60
#define LIMIT_GRACE_MINUTES_DEFAULT 15

#define LIMIT_EVENTS_PAGE_MAX     100
#define LIMIT_EVENTS_PAGE_DEFAULT 50

#define LIMIT_SESSIONS_LISTED 100 /* sessions shown by GET /auth/sessions */

#define LIMIT_KEY_BYTES_MIN 32 /* HS256 secret */
#define LIMIT_KEY_BYTES_MAX 4096

#define LIMIT_THREADS_MAX 64

/* The longest access token lifetime a configuration may set. Revoked sessions are remembered
 * this long, whatever the lifetime is today, so that shortening it at a restart cannot revive
 * a token minted under the longer one. */
#define LIMIT_ACCESS_TTL_MAX 86400

#endif
