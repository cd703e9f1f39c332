/* Leveled logging to stderr, one line per event, for operators reading at 3 a.m.
 *
 * The level is checked before any formatting, so a disabled DEBUG line costs one comparison.
 * Client-supplied strings must go through log_clip() so that a hostile value can neither
 * flood the log nor forge a line (control characters are escaped). Secrets never get here. */
#ifndef ROTATOR_LOG_H
#define ROTATOR_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL };

extern enum log_level log_threshold;

/* Parses "debug", "info", "warning", "error" or "critical". Returns 0, or -1 when unknown. */
int log_set_level(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((level) >= log_threshold)                                                              \
            log_write((level), (module), __VA_ARGS__);                                             \
    } while (0)

#define log_debug(module, ...)    LOG_AT(LOG_DEBUG, module, __VA_ARGS__)
#define log_info(module, ...)     LOG_AT(LOG_INFO, module, __VA_ARGS__)
#define log_warning(module, ...)  LOG_AT(LOG_WARNING, module, __VA_ARGS__)
#define log_error(module, ...)    LOG_AT(LOG_ERROR, module, __VA_ARGS__)
#define log_critical(module, ...) LOG_AT(LOG_CRITICAL, module, __VA_ARGS__)

/* Longest client-supplied value a log line carries, before "...". */
#define LOG_CLIP_MAX 200

/* Copies at most LOG_CLIP_MAX bytes of `s` into `out` (LOG_CLIP_MAX * 4 + 4 bytes), escaping
 * control characters, quotes and backslashes. Returns `out`, so it can sit in an argument list. */
#define LOG_CLIP_BUF (LOG_CLIP_MAX * 4 + 4)
const char *log_clip(const char *s, char out[LOG_CLIP_BUF]);

#endif
