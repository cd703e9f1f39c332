/* Configuration: every setting is a command-line flag and an environment variable, with one
 * table (config.c) holding names, defaults, limits and help. Flags win over the environment. */
#ifndef ROTATOR_CONFIG_H
#define ROTATOR_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

struct config {
    const char *listen;
    const char *database;
    const char *jwt_key_file; /* NULL: beside the database, generated on first start */
    const char *log_level;
    long access_ttl;
    long refresh_ttl;
    long threads;
    long db_pool_size; /* PostgreSQL's connection pool */
    long db_max_overflow;
    long db_pool_timeout; /* seconds */
    bool test_clock;
};

/* Applies defaults, then the environment. Returns 0, or -1 with a message in `err`. */
int config_from_env(struct config *cfg, char *err, size_t errlen);

/* Applies one flag by its long name ("listen", ...). Returns 0, 1 when `name` is not a
 * setting, or -1 with a message in `err` when the value is bad. */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);

/* Writes the settings table for --help. */
void config_print_help(FILE *out);

/* The long options of every setting, for getopt_long; `first_index` numbers their values. */
struct option;
size_t config_options(struct option *out, size_t max, int first_index);
const char *config_option_name(int index, int first_index);

#endif
