/* `rotator export-state`: the security state as one JSON document, for incident records. */
#ifndef ROTATOR_EXPORT_STATE_H
#define ROTATOR_EXPORT_STATE_H

#include <stdio.h>

#include "store/store.h"

/* Writes the document to `out`. Returns 0, or -1 after logging why. */
int export_state(struct store *st, FILE *out);

#endif
