#include "util/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t offset_seconds;
static _Atomic int64_t latest; /* the largest value ever returned */

/* Never earlier than a value already returned: a system clock stepped back must not reopen a
 * grace window that has closed, nor make an expired token valid again. */
int64_t
clock_now(void)
{
    int64_t now = (int64_t)time(NULL) + atomic_load_explicit(&offset_seconds, memory_order_relaxed);
    int64_t seen = atomic_load_explicit(&latest, memory_order_relaxed);

    if (now <= seen)
        return seen;
    /* A lost race means another thread stored a value at least as recent: fine either way. */
    atomic_compare_exchange_strong(&latest, &seen, now);
    return now;
}

void
clock_advance(int64_t seconds)
{
    if (seconds > 0)
        atomic_fetch_add(&offset_seconds, seconds);
}

const char *
clock_format(int64_t t, char out[CLOCK_ISO_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, CLOCK_ISO_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}
