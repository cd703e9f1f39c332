/* Identifiers: random (version 4) UUIDs, written in lowercase. */
#ifndef ROTATOR_IDS_H
#define ROTATOR_IDS_H

#include <stdint.h>

#define IDS_TEXT_LEN 37

void ids_new(char out[IDS_TEXT_LEN]);

/* Parses a 36-character UUID, in either case. Returns 0, or -1 for anything else. */
int ids_parse(const char *text, uint8_t out[16]);

/* Writes the lowercase text form of a parsed UUID. */
void ids_format(const uint8_t id[16], char out[IDS_TEXT_LEN]);

/* Writes the lowercase form of a UUID given in either case. Returns 0, or -1 if not a UUID. */
int ids_canonical(const char *text, char out[IDS_TEXT_LEN]);

#endif
