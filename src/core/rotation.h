/* The rotation service: a user's or every token, revoked on demand.
 *
 * A rotation is one database transaction (the version bump and its audit event), then a
 * change to the in-memory revocation state, then a log line. The order matters: the state
 * changes only once the database says the rotation happened. */
#ifndef ROTATOR_ROTATION_H
#define ROTATOR_ROTATION_H

#include "store/store.h"

enum store_result rotation_rotate(struct store *st, const struct rotation_request *rq,
                                  struct rotation_event *out);

/* Fills the revocation state from the database; call once at start, before serving.
 * `horizon`: how long a revoked session must be remembered, the longest lifetime any access
 * token of it can have had. */
enum store_result rotation_load_state(struct store *st, int64_t horizon);

#endif
