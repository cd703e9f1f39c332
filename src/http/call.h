/* One API call: the HTTP request, the thread's database handle, and who is calling.
 *
 * Handlers run on the server thread that accepted the connection and always answer before
 * they return; the request's memory pool holds anything that must live until then. */
#ifndef ROTATOR_CALL_H
#define ROTATOR_CALL_H

#include <stdbool.h>

#include <h2o.h>
#include <jansson.h>

#include "core/auth.h"
#include "store/store.h"

struct call {
    h2o_req_t *req;
    struct store *store;
    struct principal principal; /* the caller, on routes that need an access token */
    const char *param;          /* the {id} segment of the path, NUL-terminated, or NULL */
};

/* Sends `body` (reference stolen) as JSON with `status`. */
void reply_json(struct call *c, int status, json_t *body);

/* Sends {"detail": ...}. The detail is for the client: short, and never an internal error. */
void reply_error(struct call *c, int status, const char *detail);

/* 401 with the WWW-Authenticate challenge of RFC 6750. */
void reply_unauthorized(struct call *c, const char *detail);

/* Answers a store failure: 404, 409, 503 or 500. */
void reply_store_error(struct call *c, enum store_result r);

/* Parses the body as a JSON object. On failure answers 400 or 413 and returns NULL. */
json_t *call_body_object(struct call *c);

/* Reads a required string field whose length in characters is within [min, max]. On failure
 * answers 400 (wrong type) or 422 (missing or out of range) and returns NULL. */
const char *call_string_field(struct call *c, json_t *body, const char *name, size_t min,
                              size_t max);

/* The same for a password, whose length is counted in bytes: that is what the hash consumes. */
const char *call_password_field(struct call *c, json_t *body, const char *name, size_t min);

/* Reads an integer query parameter; `fallback` when absent. Answers 400/422 and returns -1 on
 * failure. */
int call_query_int(struct call *c, const char *name, long fallback, long min, long max, long *out);

/* The value of a request header, NUL-terminated in the request pool, or NULL. */
const char *call_header(struct call *c, const h2o_token_t *token, size_t max_len);

/* The client's address as text. */
void call_peer_address(struct call *c, char *out, size_t outlen);

#endif
