#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>
#include <string.h>

static const char SQLITE_PREFIX[] = "sqlite:";

/* The runbook's production figures; config.c carries the same defaults for the command line. */
static struct store_options options = {.pool_size = 20, .max_overflow = 10, .pool_timeout = 30};

void
store_configure(const struct store_options *o)
{
    options = *o;
}

static bool
has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A libpq connection string starts with a keyword and "=": "host=/tmp dbname=rotator". */
static bool
is_libpq_keywords(const char *url)
{
    const char *p = url;

    while (islower((unsigned char)*p) || *p == '_')
        p++;
    if (p == url)
        return false;
    while (*p == ' ')
        p++;
    return *p == '=';
}

struct store *
store_open(const char *url, char *err, size_t errlen)
{
    if (has_prefix(url, SQLITE_PREFIX))
        return store_sqlite_open(url + strlen(SQLITE_PREFIX), err, errlen);
    if (has_prefix(url, "postgresql://") || has_prefix(url, "postgres://") ||
        is_libpq_keywords(url))
        return store_postgres_open(url, &options, err, errlen);
    snprintf(err, errlen,
             "unsupported database URL (expected sqlite:PATH, postgresql://... or a libpq "
             "\"key=value\" string)");
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

    if (!has_prefix(url, SQLITE_PREFIX))
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

/* The path of `file` with every symbolic link and ".." resolved, so that one database has one
 * lock whatever way it is named. The file itself need not exist yet; its folder must. */
static int
canonical_path(const char *file, char *out, size_t outlen)
{
    char dir[PATH_MAX], resolved[PATH_MAX];
    const char *slash = strrchr(file, '/');

    if (realpath(file, resolved) != NULL) {
        snprintf(out, outlen, "%s", resolved);
        return 0;
    }
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash == file ? 1 : slash - file), file);
    if (realpath(dir, resolved) == NULL)
        return -1;
    if ((size_t)snprintf(out, outlen, "%s/%s", resolved, slash ? slash + 1 : file) >= outlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int
store_claim_exclusive(const char *url, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], real[PATH_MAX], holder[32] = "";
    ssize_t n;
    int fd;

    if (!has_prefix(url, SQLITE_PREFIX))
        return store_postgres_claim_exclusive(url, err, errlen);
    if (canonical_path(url + strlen(SQLITE_PREFIX), real, sizeof(real)) != 0) {
        snprintf(err, errlen, "cannot resolve the database path: %s", strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s.serve-lock", real);
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        n = read(fd, holder, sizeof(holder) - 1);
        holder[n > 0 ? n : 0] = '\0';
        snprintf(err, errlen,
                 "another rotator (pid %s) is already serving this database; "
                 "one process per SQLite database",
                 holder[0] ? holder : "unknown");
        close(fd);
        return -1;
    }
    /* The descriptor stays open, and the lock held, until the process exits. */
    if (ftruncate(fd, 0) == 0)
        dprintf(fd, "%ld", (long)getpid());
    return 0;
}
