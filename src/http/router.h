/* A small router: a method and a path pattern per route, where a "{}" segment matches any one
 * non-empty path segment and is handed to the handler. */
#ifndef ROTATOR_ROUTER_H
#define ROTATOR_ROUTER_H

#include <stddef.h>

#include "http/call.h"

enum access {
    ACCESS_PUBLIC,
    ACCESS_USER,  /* any valid access token */
    ACCESS_ADMIN, /* a valid access token of an admin */
};

struct route {
    const char *method;
    const char *pattern;
    enum access access;
    void (*handler)(struct call *c);
};

enum router_match { ROUTER_FOUND, ROUTER_NO_PATH, ROUTER_NO_METHOD };

/* Looks up `method` and `path` (no query string). On ROUTER_FOUND sets `*route` and, when the
 * pattern has a "{}" segment, `param` (of `param_size` bytes) to its value. */
enum router_match router_match(const struct route *routes, size_t n_routes, const char *method,
                               size_t method_len, const char *path, size_t path_len,
                               const struct route **route, char *param, size_t param_size);

/* Writes the methods `path` allows, comma-separated, for a 405's Allow header. */
void router_allowed(const struct route *routes, size_t n_routes, const char *path, size_t path_len,
                    char *out, size_t outlen);

#endif
