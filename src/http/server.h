/* The HTTP server: h2o's event loop, one per thread, each with its own listening socket
 * (SO_REUSEPORT lets the kernel spread connections) and its own database handle. */
#ifndef ROTATOR_SERVER_H
#define ROTATOR_SERVER_H

#include <h2o.h>

#include "store/store.h"

struct server_settings {
    const char *listen; /* "HOST:PORT" or "[V6HOST]:PORT" */
    const char *database_url;
    int threads;
};

/* Called for every request; must answer it before returning. */
typedef void (*server_dispatch_fn)(h2o_req_t *req, struct store *st);

/* Serves until SIGINT or SIGTERM. Returns 0 after a clean stop, -1 if it could not start. */
int server_run(const struct server_settings *settings, server_dispatch_fn dispatch);

#endif
