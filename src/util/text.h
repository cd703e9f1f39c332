/* Small checks on client-supplied text. */
#ifndef ROTATOR_TEXT_H
#define ROTATOR_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Characters in a valid UTF-8 string (not bytes). */
size_t text_utf8_length(const char *s);

/* A deliberately loose check: one '@' with text on both sides, no spaces or controls. Mail
 * delivery is the only real proof of an address, and that is not rotator's job. */
bool text_email_plausible(const char *email);

#endif
