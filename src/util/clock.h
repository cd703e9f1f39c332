/* The service's notion of "now", in whole seconds since the epoch.
 *
 * Every rule that depends on time (token expiry, refresh expiry, grace windows) asks this module,
 * so that tests can move time forward instead of sleeping. Moving the clock is only possible when
 * the operator started the server with the test clock enabled. */
#ifndef ROTATOR_CLOCK_H
#define ROTATOR_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_now(void);

/* Moves the clock forward by `seconds` (never backwards: expiry must stay monotonic). */
void clock_advance(int64_t seconds);

/* Formats `t` as "2025-10-30T14:30:00Z" into `out`. */
#define CLOCK_ISO_LEN 32
const char *clock_format(int64_t t, char out[CLOCK_ISO_LEN]);

#endif
