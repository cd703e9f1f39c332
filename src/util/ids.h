/* Identifiers: random (version 4) UUIDs, written in lowercase. */
#ifndef ROTATOR_IDS_H
#define ROTATOR_IDS_H

#include <stdint.h>

#define IDS_TEXT_LEN 37

void ids_new(char out[IDS_TEXT_LEN]);

/* Parses a canonical 36-character UUID. Returns 0, or -1 for anything else. */
int ids_parse(const char *text, uint8_t out[16]);

#endif
