/* The PostgreSQL connection pool: one per connection string, shared by every thread.
 *
 * An operation takes a connection and gives it back at its end, so that a few connections serve
 * all the server threads: up to `pool_size` kept open, up to `max_overflow` more under load,
 * and a wait of at most `pool_timeout` seconds for one to come free.
 *
 * When the server goes away (restart, failover), the connections that saw it go are closed
 * instead of going back to the pool; an idle connection is checked for that before reuse, at
 * no cost of a round trip. Meanwhile connecting fails at once, and the first operation after
 * the server is back opens a fresh connection: no restart needed. */
#include "store/pg_pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* How long a writer waits for a row another writer holds before the request gets 503: the
 * same as SQLite's busy timeout. */
#define LOCK_TIMEOUT "5s"

/* Seconds to wait for the server to accept a connection; the URL may say otherwise. */
#define CONNECT_TIMEOUT "5"

struct pg_pool {
    struct pg_pool *next; /* in `pools` */
    char *conninfo;       /* may hold a password: never logged */
    int users;            /* stores open on this pool */
    struct store_options limits;
    pthread_mutex_t lock;
    pthread_cond_t returned; /* a connection or a slot came free */
    struct pg_conn *idle;
    int n_idle;
    int n_open; /* idle, in use, or being made */
    bool down;  /* the last attempt to connect failed */
};

/* Every pool of the process, one per connection string. */
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pg_pool *pools;

/* ---- Connections ---- */

static void
on_notice(void *arg, const char *message)
{
    (void)arg;
    log_debug("postgres", "server notice: %.*s", (int)strcspn(message, "\n"), message);
}

void
pg_conn_close(struct pg_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->conn);
    free(c);
}

/* Opens a connection, or returns NULL with the first line of libpq's reason in `why`. */
struct pg_conn *
pg_conn_open(const char *conninfo, char *why, size_t whylen)
{
    /* Ours come first: what the URL says about the same keys wins. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {CONNECT_TIMEOUT, "rotator", conninfo, NULL};
    struct pg_conn *c = calloc(1, sizeof(*c));
    PGresult *res = NULL;

    if (c == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(c->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(c->conn, on_notice, NULL);
        res = PQexec(c->conn, "SET lock_timeout = '" LOCK_TIMEOUT "'");
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            return c;
        }
    }
    snprintf(why, whylen, "%.*s", (int)strcspn(PQerrorMessage(c->conn), "\n"),
             PQerrorMessage(c->conn));
    PQclear(res);
    pg_conn_close(c);
    return NULL;
}

/* An idle connection has nothing to read: input means the server is ending it (shutdown,
 * restart) or sent a notice. Either way a fresh connection is the safe choice, and finding
 * out costs no round trip. */
static bool
conn_alive(const struct pg_conn *c)
{
    struct pollfd p = {.fd = PQsocket(c->conn), .events = POLLIN};

    return PQstatus(c->conn) == CONNECTION_OK && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* ---- The pool ---- */

static struct pg_pool *
pool_new(const char *conninfo, const struct store_options *limits)
{
    struct pg_pool *p = calloc(1, sizeof(*p));
    pthread_condattr_t attr;

    if (p == NULL || (p->conninfo = strdup(conninfo)) == NULL) {
        free(p);
        return NULL;
    }
    p->limits = *limits;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->returned, &attr);
    pthread_condattr_destroy(&attr);
    return p;
}

static void
pool_free(struct pg_pool *p)
{
    struct pg_conn *c;

    while ((c = p->idle) != NULL) {
        p->idle = c->next;
        pg_conn_close(c);
    }
    pthread_cond_destroy(&p->returned);
    pthread_mutex_destroy(&p->lock);
    free(p->conninfo);
    free(p);
}

/* Finds the pool of `conninfo`, or makes it with `limits`; the caller becomes one of its
 * users. A pool keeps the limits it was made with. */
struct pg_pool *
pg_pool_attach(const char *conninfo, const struct store_options *limits)
{
    struct pg_pool *p;

    pthread_mutex_lock(&pools_lock);
    for (p = pools; p != NULL && strcmp(p->conninfo, conninfo) != 0; p = p->next)
        ;
    if (p == NULL && (p = pool_new(conninfo, limits)) != NULL) {
        p->next = pools;
        pools = p;
    }
    if (p != NULL)
        p->users++;
    pthread_mutex_unlock(&pools_lock);
    return p;
}

/* The last user out closes the pool's connections. */
void
pg_pool_detach(struct pg_pool *p)
{
    struct pg_pool **link;
    bool last;

    pthread_mutex_lock(&pools_lock);
    last = --p->users == 0;
    if (last) {
        for (link = &pools; *link != p; link = &(*link)->next)
            ;
        *link = p->next;
    }
    pthread_mutex_unlock(&pools_lock);
    if (last)
        pool_free(p);
}

/* Pops an idle connection that is still usable, closing those the server has ended. Called
 * with the pool locked. */
static struct pg_conn *
take_idle(struct pg_pool *pool)
{
    struct pg_conn *c;

    while ((c = pool->idle) != NULL) {
        pool->idle = c->next;
        pool->n_idle--;
        if (conn_alive(c))
            return c;
        log_debug("postgres", "dropping a pooled connection that the server closed");
        pg_conn_close(c);
        pool->n_open--;
    }
    return NULL;
}

/* Waits until an idle connection or a free slot turns up, for at most the pool timeout.
 * Returns with `*c` set, or with `*c` NULL and a slot reserved for a new connection. */
static enum store_result
wait_for_connection(struct pg_pool *pool, struct pg_conn **c)
{
    int capacity = pool->limits.pool_size + pool->limits.max_overflow;
    enum store_result r = STORE_OK;
    struct timespec deadline;
    int rc = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += pool->limits.pool_timeout;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if ((*c = take_idle(pool)) != NULL)
            break;
        if (pool->n_open < capacity) {
            pool->n_open++;
            break;
        }
        if (rc == ETIMEDOUT) {
            r = STORE_UNAVAILABLE;
            break;
        }
        rc = pthread_cond_timedwait(&pool->returned, &pool->lock, &deadline);
    }
    pthread_mutex_unlock(&pool->lock);
    if (r != STORE_OK)
        log_warning("postgres",
                    "no database connection came free within %d s (pool of %d, overflow %d)",
                    pool->limits.pool_timeout, pool->limits.pool_size, pool->limits.max_overflow);
    return r;
}

/* Makes a connection in the slot wait_for_connection() reserved, or frees the slot. */
static struct pg_conn *
connect_in_slot(struct pg_pool *pool)
{
    char why[256];
    struct pg_conn *c = pg_conn_open(pool->conninfo, why, sizeof(why));
    bool was_down;

    pthread_mutex_lock(&pool->lock);
    was_down = pool->down;
    pool->down = c == NULL;
    if (c == NULL) {
        pool->n_open--;
        pthread_cond_signal(&pool->returned);
    }
    pthread_mutex_unlock(&pool->lock);

    /* One line when the database goes away and one when it is back, not one per request. */
    if (c == NULL && !was_down)
        log_error("postgres", "cannot connect to the database: %s", why);
    else if (c != NULL && was_down)
        log_info("postgres", "connected to the database again");
    return c;
}

enum store_result
pg_pool_acquire(struct pg_pool *pool, struct pg_conn **out)
{
    enum store_result r = wait_for_connection(pool, out);

    if (r == STORE_OK && *out == NULL && (*out = connect_in_slot(pool)) == NULL)
        r = STORE_UNAVAILABLE;
    return r;
}

void
pg_pool_release(struct pg_pool *pool, struct pg_conn *c)
{
    bool reusable =
        PQstatus(c->conn) == CONNECTION_OK && PQtransactionStatus(c->conn) == PQTRANS_IDLE;

    pthread_mutex_lock(&pool->lock);
    if (reusable && pool->n_idle < pool->limits.pool_size) {
        c->next = pool->idle;
        pool->idle = c;
        pool->n_idle++;
        c = NULL;
    } else {
        pool->n_open--;
    }
    pthread_cond_signal(&pool->returned);
    pthread_mutex_unlock(&pool->lock);
    pg_conn_close(c);
}
