#include "util/config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/limits.h"

enum kind { STRING, INTEGER, BOOLEAN };

struct setting {
    const char *flag;
    const char *env;
    enum kind kind;
    size_t offset;
    long min, max;
    const char *fallback; /* NULL: unset */
    const char *help;
};

#define AT(field) offsetof(struct config, field)

static const struct setting settings[] = {
    {"listen", "ROTATOR_LISTEN", STRING, AT(listen), 0, 0, "127.0.0.1:8080",
     "address to serve on, HOST:PORT or [V6]:PORT"},
    {"database", "ROTATOR_DATABASE", STRING, AT(database), 0, 0, "sqlite:var/rotator.db",
     "database: sqlite:PATH, or a PostgreSQL URI / libpq connection string"},
    {"jwt-key-file", "ROTATOR_JWT_KEY_FILE", STRING, AT(jwt_key_file), 0, 0, NULL,
     "HMAC secret, 32+ raw bytes (default: jwt.key beside the SQLite file, made on first start)"},
    {"access-ttl", "ROTATOR_ACCESS_TTL", INTEGER, AT(access_ttl), 60, LIMIT_ACCESS_TTL_MAX, "900",
     "access token lifetime, seconds"},
    {"refresh-ttl", "ROTATOR_REFRESH_TTL", INTEGER, AT(refresh_ttl), 300, 31536000, "2592000",
     "refresh token lifetime, seconds"},
    {"threads", "ROTATOR_THREADS", INTEGER, AT(threads), 1, LIMIT_THREADS_MAX, "2",
     "server threads, one event loop each"},
    {"db-pool-size", "ROTATOR_DB_POOL_SIZE", INTEGER, AT(db_pool_size), 1, 1000, "20",
     "PostgreSQL: connections kept open for reuse, shared by all threads"},
    {"db-max-overflow", "ROTATOR_DB_MAX_OVERFLOW", INTEGER, AT(db_max_overflow), 0, 1000, "10",
     "PostgreSQL: extra connections under load, closed when no longer needed"},
    {"db-pool-timeout", "ROTATOR_DB_POOL_TIMEOUT", INTEGER, AT(db_pool_timeout), 0, 3600, "30",
     "PostgreSQL: seconds to wait for a free connection before answering 503"},
    {"log-level", "ROTATOR_LOG_LEVEL", STRING, AT(log_level), 0, 0, "info",
     "debug, info, warning, error or critical"},
    {"test-clock", "ROTATOR_TEST_CLOCK", BOOLEAN, AT(test_clock), 0, 1, "0",
     "tests only: let POST /api/v1/_test/clock move time forward"},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static int
apply(struct config *cfg, const struct setting *s, const char *value, const char *source, char *err,
      size_t errlen)
{
    char *field = (char *)cfg + s->offset;
    char *end;
    long n;

    switch (s->kind) {
    case STRING:
        *(const char **)field = value;
        return 0;
    case BOOLEAN:
        *(bool *)field = strcmp(value, "1") == 0 || strcasecmp(value, "true") == 0 ||
                         strcasecmp(value, "yes") == 0;
        return 0;
    case INTEGER:
        errno = 0;
        n = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0 || n < s->min || n > s->max) {
            snprintf(err, errlen, "%s: %s must be an integer from %ld to %ld", source, s->flag,
                     s->min, s->max);
            return -1;
        }
        *(long *)field = n;
        return 0;
    }
    return -1;
}

int
config_from_env(struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *value = getenv(settings[i].env);

        if (settings[i].fallback != NULL &&
            apply(cfg, &settings[i], settings[i].fallback, "default", err, errlen) != 0)
            return -1;
        if (value != NULL && value[0] != '\0' &&
            apply(cfg, &settings[i], value, settings[i].env, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int
config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].flag, name) == 0)
            return apply(cfg, &settings[i], value ? value : "1", "flag", err, errlen);
    }
    return 1;
}

void
config_print_help(FILE *out)
{
    fprintf(out, "Settings (flag, environment variable, default):\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        fprintf(out, "  --%-16s %-24s %s\n      %s\n", settings[i].flag, settings[i].env,
                settings[i].fallback ? settings[i].fallback : "(none)", settings[i].help);
    }
}

size_t
config_options(struct option *out, size_t max, int first_index)
{
    size_t n = 0;

    for (size_t i = 0; i < N_SETTINGS && n < max; i++, n++) {
        out[n] = (struct option){settings[i].flag,
                                 settings[i].kind == BOOLEAN ? no_argument : required_argument,
                                 NULL, first_index + (int)i};
    }
    return n;
}

const char *
config_option_name(int index, int first_index)
{
    int i = index - first_index;

    return i >= 0 && (size_t)i < N_SETTINGS ? settings[i].flag : NULL;
}
