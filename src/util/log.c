#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

int
log_set_level(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            log_threshold = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void
log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    char stamp[32], line[2048];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    /* Log stamps use the real clock, never the test clock: they say when things happened. */
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    /* One fprintf per line so that lines from two threads never interleave. */
    fprintf(stderr, "%s.%03ldZ %s: [%s] %s\n", stamp, ts.tv_nsec / 1000000, level_names[level],
            module, line);
}

const char *
log_clip(const char *s, char out[LOG_CLIP_BUF])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    size_t i;

    if (s == NULL)
        return "(null)";
    for (i = 0; s[i] != '\0' && i < LOG_CLIP_MAX; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 0xf];
        } else if (c == '\'' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else {
            out[n++] = (char)c;
        }
    }
    if (s[i] != '\0') {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}
