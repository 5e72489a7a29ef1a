/* Leveled one-line-per-event logging to stderr (text, JSON or journal). */
#ifndef PJ_COMMON_LOG_H
#define PJ_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/attr.h"

enum pj_log_level { PJ_LOG_ERROR, PJ_LOG_WARN, PJ_LOG_INFO, PJ_LOG_DEBUG };
enum pj_log_format { PJ_LOG_TEXT, PJ_LOG_JSON };

/*
 * Sets the level, the line format and whether UUIDs are shortened
 * (pj_log_uuid). Lines get a "<N>" priority prefix when stderr is the
 * systemd journal (JOURNAL_STREAM names it).
 */
void pj_log_setup(
    enum pj_log_level level, enum pj_log_format format, bool redact_uuids);
/* The run id put on every line from now on; copied. */
void pj_log_set_run_id(const char *run_id);
bool pj_log_enabled(enum pj_log_level level);

/*
 * One event, one line: an event name, then key=value facts. Control
 * characters in the formatted text are escaped, so data cannot forge a line.
 */
void pj_log_write(enum pj_log_level level, const char *event, const char *fmt,
    ...) PJ_PRINTF(3, 4);

/* A UUID (or any id) for a log line: its first 8 characters when redaction
 * is on, else the whole of it. Writes into buf and returns it. */
const char *pj_log_uuid(const char *id, char *buf, size_t size);

#define pj_log_error(...) pj_log_write(PJ_LOG_ERROR, __VA_ARGS__)
#define pj_log_warn(...) pj_log_write(PJ_LOG_WARN, __VA_ARGS__)
#define pj_log_info(...) pj_log_write(PJ_LOG_INFO, __VA_ARGS__)
/* Arguments are evaluated only when debug logging is on. */
#define pj_log_debug(...) \
	do { \
		if (pj_log_enabled(PJ_LOG_DEBUG)) \
			pj_log_write(PJ_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* Parses "error", "warn", "info", "debug"; PJ_OK or PJ_EINVAL. */
int pj_log_level_parse(const char *name, enum pj_log_level *out) PJ_MUSTCHECK;

#endif
