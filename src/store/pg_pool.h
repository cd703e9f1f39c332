/* The PostgreSQL connection pool; see pg_pool.c. */
#ifndef ROTATOR_PG_POOL_H
#define ROTATOR_PG_POOL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "store/store.h"

struct pg_conn {
    PGconn *conn;
    uint64_t prepared;    /* one bit per statement of postgres.c, prepared on this connection */
    struct pg_conn *next; /* in the pool's idle list */
};

struct pg_pool;

/* Opens a connection, or returns NULL with the first line of libpq's reason in `why`. */
struct pg_conn *pg_conn_open(const char *conninfo, char *why, size_t whylen);
void pg_conn_close(struct pg_conn *c);

/* Finds the pool of `conninfo`, or makes it with `limits`; the caller becomes one of its
 * users. A pool keeps the limits it was made with. The last user to detach closes it. */
struct pg_pool *pg_pool_attach(const char *conninfo, const struct store_options *limits);
void pg_pool_detach(struct pg_pool *pool);

/* Takes a connection for one operation: an idle one, or a new one while the pool has room,
 * waiting at most the pool timeout. STORE_UNAVAILABLE when none could be had. */
enum store_result pg_pool_acquire(struct pg_pool *pool, struct pg_conn **out);

/* Gives a connection back. One that broke, or that is still inside a transaction, is closed
 * instead, and so are those beyond the pool size. */
void pg_pool_release(struct pg_pool *pool, struct pg_conn *c);

#endif
