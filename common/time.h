/* Clocks, sleeping and duration parsing. */
#ifndef PJ_COMMON_TIME_H
#define PJ_COMMON_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/error.h"

/* Milliseconds on a monotonic clock (for intervals only). */
int64_t pj_time_mono_ms(void);
/* Microseconds on a monotonic clock. */
int64_t pj_time_mono_us(void);
/* Seconds since the epoch, wall clock. */
int64_t pj_time_wall_s(void);
/* The wall clock as "2026-11-26T06:16:33Z" into buf (at least 21 bytes). */
void pj_time_iso8601(char *buf, size_t size);
/* Sleeps ms milliseconds; returns early when a signal arrives. */
void pj_time_sleep_ms(int64_t ms);
/* As pj_time_sleep_ms, but waking at until_ms (pj_time_mono_ms) at the
 * latest; until_ms 0: no bound. */
void pj_time_sleep_ms_until(int64_t ms, int64_t until_ms);

/*
 * Parses a duration: a whole number followed by "ms", "s", "m", "h" or "d"
 * ("500ms", "10s", "5m", "1h", "90d"); "0" alone means zero. Stores
 * milliseconds in *ms. PJ_EINVAL on anything else or on overflow; *ms is
 * untouched then.
 */
int pj_time_parse_duration(
    const char *text, int64_t *ms, struct pj_error *err) PJ_MUSTCHECK;

/* Formats ms as the shortest exact duration text ("90s" -> "90s",
 * 3600000 -> "1h"). */
void pj_time_format_duration(int64_t ms, char *buf, size_t size);

#endif
