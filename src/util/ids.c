#include "util/ids.h"

#include <string.h>

#include <uuid/uuid.h>

void
ids_new(char out[IDS_TEXT_LEN])
{
    uuid_t id;

    uuid_generate_random(id);
    ids_format(id, out);
}

void
ids_format(const uint8_t id[16], char out[IDS_TEXT_LEN])
{
    uuid_unparse_lower(id, out);
}

int
ids_canonical(const char *text, char out[IDS_TEXT_LEN])
{
    uuid_t id;

    if (ids_parse(text, id) != 0)
        return -1;
    ids_format(id, out);
    return 0;
}

int
ids_parse(const char *text, uint8_t out[16])
{
    if (strnlen(text, IDS_TEXT_LEN) != IDS_TEXT_LEN - 1)
        return -1;
    return uuid_parse(text, out) == 0 ? 0 : -1;
}
