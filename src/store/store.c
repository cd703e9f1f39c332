#include "store/store.h"

#include <stdio.h>
#include <string.h>

static const char SQLITE_PREFIX[] = "sqlite:";

struct store *
store_open(const char *url, char *err, size_t errlen)
{
    if (strncmp(url, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0)
        return store_sqlite_open(url + strlen(SQLITE_PREFIX), err, errlen);
    snprintf(err, errlen, "unsupported database URL (expected sqlite:PATH)");
    return NULL;
}

void
store_close(struct store *st)
{
    if (st != NULL)
        st->ops->close(st);
}

int
store_url_directory(const char *url, char *out, size_t outlen)
{
    const char *path, *slash;

    if (strncmp(url, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) != 0)
        return -1;
    path = url + strlen(SQLITE_PREFIX);
    slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, outlen, ".");
    else if (slash == path)
        snprintf(out, outlen, "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
    return 0;
}

const char *
store_result_text(enum store_result r)
{
    switch (r) {
    case STORE_OK:
        return "ok";
    case STORE_NOT_FOUND:
        return "not found";
    case STORE_CONFLICT:
        return "conflict";
    case STORE_UNAVAILABLE:
        return "database unavailable";
    case STORE_ERROR:
        return "database error";
    }
    return "unknown";
}
