#include "core/housekeeping.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"

/* Batches per tick: enough for a million expiries a minute, small enough to yield the write
 * lock between batches. */
enum { TICK_SECONDS = 1, BATCHES_PER_TICK = 20 };

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool running;
    bool stopping;
    bool failing; /* the last sweep failed: log the next failure quietly, and the recovery */
    struct store *store;
} hk = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static void
sweep_expired(void)
{
    int64_t swept = 0, total = 0;

    for (int i = 0; i < BATCHES_PER_TICK; i++) {
        enum store_result r = hk.store->ops->sweep(hk.store, clock_now(), &swept);

        if (r != STORE_OK) {
            /* Once per outage, not once a second: the request errors tell the rest. */
            if (!hk.failing)
                log_warning("housekeeping",
                            "sweeping expired sessions failed (%s); retrying "
                            "every second",
                            store_result_text(r));
            hk.failing = true;
            return;
        }
        if (hk.failing)
            log_info("housekeeping", "sweeping expired sessions works again");
        hk.failing = false;
        total += swept;
        if (swept == 0)
            break;
    }
    if (total > 0)
        log_debug("housekeeping", "%lld expired sessions left the live counts", (long long)total);
}

/* Sleeps one tick, or less when told to stop. Returns false when stopping. */
static bool
wait_tick(void)
{
    struct timespec until;
    bool go_on;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += TICK_SECONDS;
    pthread_mutex_lock(&hk.lock);
    while (!hk.stopping && pthread_cond_timedwait(&hk.wake, &hk.lock, &until) != ETIMEDOUT)
        ;
    go_on = !hk.stopping;
    pthread_mutex_unlock(&hk.lock);
    return go_on;
}

static void *
housekeeping_main(void *unused)
{
    (void)unused;
    while (wait_tick())
        sweep_expired();
    return NULL;
}

int
housekeeping_start(const char *database_url)
{
    char err[512];

    if ((hk.store = store_open(database_url, err, sizeof(err))) == NULL) {
        log_error("housekeeping", "%s", err);
        return -1;
    }
    if (pthread_create(&hk.thread, NULL, housekeeping_main, NULL) != 0) {
        store_close(hk.store);
        return -1;
    }
    hk.running = true;
    return 0;
}

void
housekeeping_stop(void)
{
    if (!hk.running)
        return;
    pthread_mutex_lock(&hk.lock);
    hk.stopping = true;
    pthread_cond_signal(&hk.wake);
    pthread_mutex_unlock(&hk.lock);
    pthread_join(hk.thread, NULL);
    store_close(hk.store);
    hk.running = false;
}
