/* Slow work off the event loop.
 *
 * Argon2id takes tens of milliseconds on purpose. Run on an event loop, every login would stall
 * every other request of that thread, and the wave of logins that follows a global rotation
 * would stall them all. So a handler hands the slow step to a small pool of hashing threads
 * and returns; the result comes back to the loop that owns the request, which then answers.
 *
 * If the client goes away meanwhile, `done` is not called; `release` always is. */
#ifndef ROTATOR_OFFLOAD_H
#define ROTATOR_OFFLOAD_H

#include <stdbool.h>

#include <h2o.h>

#include "http/call.h"

typedef void (*offload_work_fn)(void *arg);                 /* on a hashing thread */
typedef void (*offload_done_fn)(struct call *c, void *arg); /* on the loop; must answer */
typedef void (*offload_release_fn)(void *arg);              /* on the loop; frees `arg` */

/* Starts `threads` hashing threads. Returns 0, or -1 if none could be started. */
int offload_start(int threads);
void offload_stop(void);

/* Called by each server thread once, after its context exists. */
void offload_attach(h2o_context_t *ctx);
void offload_detach(h2o_context_t *ctx);

/* Queues `work`. Returns false when the queue is full: the caller answers 503. On false,
 * nothing was taken: the caller still owns `arg`. */
bool offload_submit(struct call *c, offload_work_fn work, offload_done_fn done,
                    offload_release_fn release, void *arg);

#endif
