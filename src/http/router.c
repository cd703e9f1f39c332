#include "http/router.h"

#include <string.h>

/* Matches `path` against `pattern`; copies the "{}" segment, if any, into `param`. */
static int
path_matches(const char *pattern, const char *path, size_t path_len, char *param, size_t param_size)
{
    const char *end = path + path_len;

    while (*pattern != '\0' && path < end) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            const char *slash = memchr(path, '/', (size_t)(end - path));
            size_t seg = (size_t)((slash ? slash : end) - path);

            /* A decoded "%00" would cut the value short where C strings end. */
            if (seg == 0 || seg >= param_size || memchr(path, '\0', seg) != NULL)
                return 0;
            memcpy(param, path, seg);
            param[seg] = '\0';
            path += seg;
            pattern += 2;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && path == end;
}

void
router_allowed(const struct route *routes, size_t n_routes, const char *path, size_t path_len,
               char *out, size_t outlen)
{
    char param[64];
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n_routes; i++) {
        if (path_matches(routes[i].pattern, path, path_len, param, sizeof(param)))
            used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0, "%s%s",
                                     used ? ", " : "", routes[i].method);
    }
}

enum router_match
router_match(const struct route *routes, size_t n_routes, const char *method, size_t method_len,
             const char *path, size_t path_len, const struct route **route, char *param,
             size_t param_size)
{
    enum router_match result = ROUTER_NO_PATH;

    param[0] = '\0';
    for (size_t i = 0; i < n_routes; i++) {
        const struct route *r = &routes[i];

        if (!path_matches(r->pattern, path, path_len, param, param_size))
            continue;
        if (strlen(r->method) == method_len && memcmp(r->method, method, method_len) == 0) {
            *route = r;
            return ROUTER_FOUND;
        }
        result = ROUTER_NO_METHOD;
    }
    param[0] = '\0';
    return result;
}
