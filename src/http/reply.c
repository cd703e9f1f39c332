#include "http/call.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/limits.h"
#include "util/log.h"
#include "util/text.h"

static const char *
reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void
send_json_text(h2o_req_t *req, int status, const char *text, size_t len)
{
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
                   H2O_STRLIT("no-store"));
    h2o_send_inline(req, text, len);
}

void
reply_json(struct call *c, int status, json_t *body)
{
    /* Only out of memory leaves no text; that answer needs no allocation. */
    static const char oom[] = "{\"detail\":\"internal error\"}";
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    json_decref(body);
    if (text == NULL) {
        send_json_text(c->req, 500, oom, sizeof(oom) - 1);
        return;
    }
    send_json_text(c->req, status, text, strlen(text));
    free(text);
}

void
reply_error(struct call *c, int status, const char *detail)
{
    reply_json(c, status, json_pack("{s:s}", "detail", detail));
}

void
reply_unauthorized(struct call *c, const char *detail)
{
    h2o_add_header(&c->req->pool, &c->req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer error=\"invalid_token\""));
    reply_error(c, 401, detail);
}

void
reply_store_error(struct call *c, enum store_result r)
{
    switch (r) {
    case STORE_NOT_FOUND:
        reply_error(c, 404, "not found");
        return;
    case STORE_CONFLICT:
        reply_error(c, 409, "already exists");
        return;
    case STORE_UNAVAILABLE:
        reply_error(c, 503, "database unavailable, try again shortly");
        return;
    default:
        reply_error(c, 500, "internal error");
        return;
    }
}

json_t *
call_body_object(struct call *c)
{
    h2o_iovec_t body = c->req->entity;
    json_error_t error;
    json_t *root;

    if (body.len > LIMIT_BODY_BYTES) {
        reply_error(c, 413, "request body too large");
        return NULL;
    }
    if (body.base == NULL || body.len == 0) {
        reply_error(c, 400, "request body must be a JSON object");
        return NULL;
    }
    root = json_loadb(body.base, body.len, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        char detail[JSON_ERROR_TEXT_LENGTH + 64];

        snprintf(detail, sizeof(detail), "invalid JSON at line %d, column %d: %s", error.line,
                 error.column, error.text);
        reply_error(c, 400, detail);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        reply_error(c, 400, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Checks that `body[name]` is a string without NUL bytes; answers 400 or 422 otherwise. */
static const char *
string_field(struct call *c, json_t *body, const char *name)
{
    json_t *field = json_object_get(body, name);
    char detail[160];

    if (field == NULL || json_is_null(field)) {
        snprintf(detail, sizeof(detail), "field '%s' is required", name);
        reply_error(c, 422, detail);
        return NULL;
    }
    if (!json_is_string(field) || strlen(json_string_value(field)) != json_string_length(field)) {
        snprintf(detail, sizeof(detail), "field '%s' must be a string", name);
        reply_error(c, 400, detail);
        return NULL;
    }
    return json_string_value(field);
}

static const char *
check_length(struct call *c, const char *name, const char *value, size_t len, size_t min,
             size_t max, const char *unit)
{
    char detail[160];

    if (len >= min && len <= max)
        return value;
    snprintf(detail, sizeof(detail), "field '%s' must be %zu to %zu %s", name, min, max, unit);
    reply_error(c, 422, detail);
    return NULL;
}

const char *
call_string_field(struct call *c, json_t *body, const char *name, size_t min, size_t max)
{
    const char *value = string_field(c, body, name);
    char detail[160];

    if (value == NULL)
        return NULL;
    if (min > 0 && value[strspn(value, " \t\r\n")] == '\0') {
        snprintf(detail, sizeof(detail), "field '%s' must not be blank", name);
        reply_error(c, 422, detail);
        return NULL;
    }
    return check_length(c, name, value, text_utf8_length(value), min, max, "characters");
}

const char *
call_password_field(struct call *c, json_t *body, const char *name, size_t min)
{
    const char *value = string_field(c, body, name);

    return value ? check_length(c, name, value, strlen(value), min, LIMIT_PASSWORD_MAX, "bytes")
                 : NULL;
}

/* Finds `name` in the query string and copies its raw value. Returns 0 when absent. */
static int
query_value(struct call *c, const char *name, char *out, size_t outlen)
{
    h2o_req_t *req = c->req;
    const char *q, *end;
    size_t name_len = strlen(name);

    if (req->query_at == SIZE_MAX)
        return 0;
    q = req->path.base + req->query_at + 1;
    end = req->path.base + req->path.len;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;

        if ((size_t)(stop - q) > name_len && memcmp(q, name, name_len) == 0 && q[name_len] == '=') {
            snprintf(out, outlen, "%.*s", (int)(stop - q - (long)name_len - 1), q + name_len + 1);
            return 1;
        }
        q = stop + 1;
    }
    return 0;
}

int
call_query_int(struct call *c, const char *name, long fallback, long min, long max, long *out)
{
    char text[32], detail[160], *end;
    long value;

    if (!query_value(c, name, text, sizeof(text))) {
        *out = fallback;
        return 0;
    }
    errno = 0;
    value = strtol(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno != 0) {
        snprintf(detail, sizeof(detail), "query parameter '%s' must be an integer", name);
        reply_error(c, 400, detail);
        return -1;
    }
    if (value < min || value > max) {
        snprintf(detail, sizeof(detail), "query parameter '%s' must be %ld to %ld", name, min, max);
        reply_error(c, 422, detail);
        return -1;
    }
    *out = value;
    return 0;
}

const char *
call_header(struct call *c, const h2o_token_t *token, size_t max_len)
{
    ssize_t i = h2o_find_header(&c->req->headers, token, -1);
    h2o_iovec_t v;

    if (i < 0)
        return NULL;
    v = c->req->headers.entries[i].value;
    if (v.len > max_len)
        v.len = max_len;
    return h2o_strdup(&c->req->pool, v.base, v.len).base;
}

void
call_peer_address(struct call *c, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = c->req->conn->callbacks->get_peername(c->req->conn, (struct sockaddr *)&ss);

    out[0] = '\0';
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outlen);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)outlen);
}
