#include "util/clock.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t offset_seconds;

int64_t
clock_now(void)
{
    return (int64_t)time(NULL) + atomic_load_explicit(&offset_seconds, memory_order_relaxed);
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
