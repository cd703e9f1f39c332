/* Housekeeping: a thread of its own that takes expired sessions out of the live counts every
 * second, in bounded batches, so that a rotation or a count never meets a large backlog. */
#ifndef ROTATOR_HOUSEKEEPING_H
#define ROTATOR_HOUSEKEEPING_H

/* Opens its own database handle on `database_url`. Returns 0, or -1 if it could not start. */
int housekeeping_start(const char *database_url);
void housekeeping_stop(void);

#endif
