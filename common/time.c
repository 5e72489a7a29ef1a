/* Clocks, sleeping, and the strict duration syntax of the config file. */
#include "common/time.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	/* Only fails for an unknown clock id; ours are fixed. */
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

int64_t
pj_time_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t
pj_time_mono_us(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000;
}

int64_t
pj_time_wall_s(void)
{
	return (int64_t)time(NULL);
}

void
pj_time_iso8601(char *buf, size_t size)
{
	struct tm tm;
	time_t now = time(NULL);

	if (size == 0)
		return;
	buf[0] = '\0';
	if (gmtime_r(&now, &tm) == NULL)
		return;
	/* snprintf, not strftime: a short buffer gets a truncated string
	 * rather than undefined contents. */
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void
pj_time_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	/* No loop on EINTR: a signal (SIGTERM, SIGHUP) must cut the wait. */
	nanosleep(&ts, NULL);
}

void
pj_time_sleep_ms_until(int64_t ms, int64_t until_ms)
{
	int64_t left = until_ms - pj_time_mono_ms();

	if (until_ms > 0 && ms > left)
		ms = left;
	pj_time_sleep_ms(ms);
}

struct unit {
	const char *name;
	int64_t ms;
};

/* Largest first: pj_time_format_duration picks the first exact one. */
static const struct unit units[] = {
	{ "d", 86400000 },
	{ "h", 3600000 },
	{ "m", 60000 },
	{ "s", 1000 },
	{ "ms", 1 },
};

#define N_UNITS (sizeof(units) / sizeof(units[0]))

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Strict on purpose: digits then one unit, nothing else. No sign, no
 * fraction, no space, no unit combinations ("1h30m"), and no leading zero
 * ("05m" could be read as octal by a YAML 1.1 tool), except "0" itself.
 */
int
pj_time_parse_duration(const char *text, int64_t *ms, struct pj_error *err)
{
	const char *p = text;
	int64_t value = 0;
	size_t i;

	if (text == NULL || *text == '\0')
		return pj_error_set(err, PJ_EINVAL, "empty duration");
	if (strcmp(text, "0") == 0) {
		*ms = 0;
		return PJ_OK;
	}
	if (!is_digit(*p))
		return pj_error_set(
		    err, PJ_EINVAL, "duration must start with a digit");
	if (p[0] == '0' && is_digit(p[1]))
		return pj_error_set(
		    err, PJ_EINVAL, "duration has a leading zero");
	for (; is_digit(*p); p++) {
		int digit = *p - '0';

		if (value > (INT64_MAX - digit) / 10)
			return pj_error_set(
			    err, PJ_EINVAL, "duration too large");
		value = value * 10 + digit;
	}
	if (*p == '\0')
		return pj_error_set(
		    err, PJ_EINVAL, "duration needs a unit (ms, s, m, h or d)");
	for (i = 0; i < N_UNITS; i++) {
		if (strcmp(p, units[i].name) != 0)
			continue;
		if (value > INT64_MAX / units[i].ms)
			return pj_error_set(
			    err, PJ_EINVAL, "duration too large");
		*ms = value * units[i].ms;
		return PJ_OK;
	}
	return pj_error_set(err, PJ_EINVAL,
	    "duration has an unknown unit (use ms, s, m, h or d)");
}

void
pj_time_format_duration(int64_t ms, char *buf, size_t size)
{
	size_t i;

	if (size == 0)
		return;
	if (ms == 0) {
		snprintf(buf, size, "0");
		return;
	}
	/* Negative values never come from the parser; print them exactly. */
	for (i = 0; ms > 0 && i < N_UNITS; i++) {
		if (ms % units[i].ms == 0) {
			snprintf(buf, size, "%" PRId64 "%s", ms / units[i].ms,
			    units[i].name);
			return;
		}
	}
	snprintf(buf, size, "%" PRId64 "ms", ms);
}
