#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/offload.h"
#include "util/limits.h"
#include "util/log.h"

/* How often an idle loop looks at the stop flag, in milliseconds. */
enum { LOOP_WAKE_MS = 200 };

struct worker {
    h2o_context_t ctx; /* first, so that a request's ctx leads back to its worker */
    h2o_accept_ctx_t accept;
    struct store *store;
    int listen_fd;
    pthread_t thread;
    int index;
};

static struct {
    h2o_globalconf_t config;
    server_dispatch_fn dispatch;
    const struct server_settings *settings;
    atomic_bool stopping;
} server;

static int
on_request(h2o_handler_t *self, h2o_req_t *req)
{
    struct worker *w = (struct worker *)req->conn->ctx;

    (void)self;
    server.dispatch(req, w->store);
    return 0;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
    struct worker *w = listener->data;
    h2o_socket_t *sock;

    if (err != NULL)
        return;
    if ((sock = h2o_evloop_socket_accept(listener)) != NULL)
        h2o_accept(&w->accept, sock);
}

static bool
valid_port(const char *port)
{
    char *end;
    long n = strtol(port, &end, 10);

    return port[0] != '\0' && *end == '\0' && n >= 1 && n <= 65535;
}

/* Splits "host:port" or "[v6]:port". */
static int
split_listen(const char *address, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;

    if (address[0] == '[') {
        const char *close = strchr(address, ']');

        if (close == NULL || close[1] != ':')
            return -1;
        snprintf(host, hostlen, "%.*s", (int)(close - address - 1), address + 1);
        snprintf(port, portlen, "%s", close + 2);
        return valid_port(port) ? 0 : -1;
    }
    colon = strrchr(address, ':');
    if (colon == NULL || colon == address)
        return -1;
    snprintf(host, hostlen, "%.*s", (int)(colon - address), address);
    snprintf(port, portlen, "%s", colon + 1);
    return valid_port(port) ? 0 : -1;
}

static int
open_listener(const char *address)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char host[256], port[16];
    int fd = -1, on = 1, rc;

    if (split_listen(address, host, sizeof(host), port, sizeof(port)) != 0) {
        log_error("server", "listen address '%s' is not HOST:PORT with a port from 1 to 65535",
                  address);
        return -1;
    }
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        log_error("server", "cannot resolve listen address '%s': %s", address, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* No SO_REUSEPORT: a second rotator on the same address must fail to start, not share
     * the port while holding a revocation state of its own. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        log_error("server", "cannot listen on %s: %s", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_socket_t *sock;

    h2o_context_init(&w->ctx, loop, &server.config);
    offload_attach(&w->ctx);
    w->accept.ctx = &w->ctx;
    w->accept.hosts = server.config.hosts;
    sock = h2o_evloop_socket_create(loop, w->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    sock->data = w;
    h2o_socket_read_start(sock, on_accept);

    while (!atomic_load(&server.stopping))
        h2o_evloop_run(loop, LOOP_WAKE_MS);

    /* Connections still open are dropped with the process; requests are short and the
     * clients of an auth service retry. */
    h2o_socket_read_stop(sock);
    offload_detach(&w->ctx);
    return NULL;
}

static void
configure_h2o(void)
{
    h2o_hostconf_t *host;
    h2o_pathconf_t *path;
    h2o_handler_t *handler;

    h2o_config_init(&server.config);
    server.config.server_name = h2o_iovec_init(H2O_STRLIT("rotator"));
    server.config.max_request_entity_size = LIMIT_BODY_BYTES_HARD;
    host = h2o_config_register_host(&server.config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    path = h2o_config_register_path(host, "/", 0);
    handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = on_request;
}

/* Opens each worker's socket and database; any failure stops the start. */
static int
prepare_workers(struct worker *workers, int n)
{
    char err[512];
    int fd = open_listener(server.settings->listen);

    if (fd < 0)
        return -1;
    /* Every thread watches the one listening socket, each through its own descriptor; the
     * kernel hands each connection to the thread whose accept() comes first. */
    for (int i = 0; i < n; i++) {
        workers[i].index = i;
        workers[i].listen_fd = i == 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (workers[i].listen_fd < 0) {
            log_error("server", "cannot share the listening socket: %s", strerror(errno));
            return -1;
        }
        workers[i].store = store_open(server.settings->database_url, err, sizeof(err));
        if (workers[i].store == NULL) {
            log_error("server", "%s", err);
            return -1;
        }
    }
    return 0;
}

static void
release_workers(struct worker *workers, int n)
{
    for (int i = 0; i < n; i++) {
        store_close(workers[i].store);
        if (workers[i].listen_fd >= 0)
            close(workers[i].listen_fd);
    }
}

static void
handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* Waits for SIGINT or SIGTERM. SIGHUP, which asks daemons to reload, is logged and ignored:
 * rotator reads its settings once, and a stray hangup must not take authentication down. */
static void
wait_for_stop_signal(void)
{
    sigset_t set;
    int sig = 0;

    handled_signals(&set);
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
        log_warning("server", "received SIGHUP: ignored, rotator has nothing to reload; "
                              "restart it to change settings");
    log_info("server", "received %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    atomic_store(&server.stopping, true);
}

int
server_run(const struct server_settings *settings, server_dispatch_fn dispatch)
{
    struct worker *workers = calloc((size_t)settings->threads, sizeof(*workers));
    sigset_t set;
    int started = 0, rc = -1;

    if (workers == NULL)
        return -1;
    for (int i = 0; i < settings->threads; i++)
        workers[i].listen_fd = -1;
    server.dispatch = dispatch;
    server.settings = settings;
    configure_h2o();

    /* Signals go to the main thread only, which waits for them below. */
    signal(SIGPIPE, SIG_IGN);
    handled_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (prepare_workers(workers, settings->threads) != 0)
        goto out;
    if (offload_start((int)sysconf(_SC_NPROCESSORS_ONLN)) != 0) {
        log_error("server", "cannot start the password hashing threads");
        goto out;
    }
    for (; started < settings->threads; started++) {
        if (pthread_create(&workers[started].thread, NULL, worker_main, &workers[started]) != 0)
            goto out;
    }
    log_info("server", "listening on http://%s with %d threads", settings->listen,
             settings->threads);
    wait_for_stop_signal();
    rc = 0;
out:
    atomic_store(&server.stopping, true);
    for (int i = 0; i < started; i++)
        pthread_join(workers[i].thread, NULL);
    offload_stop();
    release_workers(workers, settings->threads);
    free(workers);
    return rc;
}
