/* Schema migrations compiled into the binary from src/store/migrations/<backend>/NNN_name.sql.
 * Each array ends with a {0, NULL, NULL} entry; versions ascend without gaps. */
#ifndef ROTATOR_MIGRATIONS_H
#define ROTATOR_MIGRATIONS_H

#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration sqlite_migrations[];
extern const struct migration postgres_migrations[];

#endif
