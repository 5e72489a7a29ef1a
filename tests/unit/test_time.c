/* Unit tests for common/time.c: duration syntax, formatting and clocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/time.h"

struct parse_case {
	const char *text;
	int rc;
	int64_t ms;
};

static const struct parse_case parse_cases[] = {
	{ "0", PJ_OK, 0 },
	{ "0ms", PJ_OK, 0 },
	{ "0s", PJ_OK, 0 },
	{ "0d", PJ_OK, 0 },
	{ "1ms", PJ_OK, 1 },
	{ "500ms", PJ_OK, 500 },
	{ "10s", PJ_OK, 10000 },
	{ "5m", PJ_OK, 300000 },
	{ "1h", PJ_OK, 3600000 },
	{ "90d", PJ_OK, 7776000000 },
	{ "1000ms", PJ_OK, 1000 },
	{ "9223372036854775807ms", PJ_OK, INT64_MAX },
	{ "9223372036854775s", PJ_OK, 9223372036854775000 },
	{ "106751991167d", PJ_OK, 106751991167 * 86400000 },
	/* Overflow: of the digits, and of the unit multiplication. */
	{ "9223372036854775808ms", PJ_EINVAL, 0 },
	{ "99999999999999999999999999s", PJ_EINVAL, 0 },
	{ "9223372036854776s", PJ_EINVAL, 0 },
	{ "106751991168d", PJ_EINVAL, 0 },
	{ "2562047788016h", PJ_EINVAL, 0 },
	/* Not the strict syntax. */
	{ "", PJ_EINVAL, 0 },
	{ "s", PJ_EINVAL, 0 },
	{ "ms", PJ_EINVAL, 0 },
	{ "10", PJ_EINVAL, 0 },
	{ "1", PJ_EINVAL, 0 },
	{ "00", PJ_EINVAL, 0 },
	{ "10x", PJ_EINVAL, 0 },
	{ "10S", PJ_EINVAL, 0 },
	{ "10sec", PJ_EINVAL, 0 },
	{ "10 s", PJ_EINVAL, 0 },
	{ " 10s", PJ_EINVAL, 0 },
	{ "10s ", PJ_EINVAL, 0 },
	{ "-1s", PJ_EINVAL, 0 },
	{ "+1s", PJ_EINVAL, 0 },
	{ "1.5s", PJ_EINVAL, 0 },
	{ ".5s", PJ_EINVAL, 0 },
	{ "1h1m", PJ_EINVAL, 0 },
	{ "1h30m", PJ_EINVAL, 0 },
	{ "05m", PJ_EINVAL, 0 },
	{ "0x10s", PJ_EINVAL, 0 },
	{ "1e3ms", PJ_EINVAL, 0 },
	{ "1w", PJ_EINVAL, 0 },
	{ "1us", PJ_EINVAL, 0 },
	{ "1ss", PJ_EINVAL, 0 },
	{ "-0", PJ_EINVAL, 0 },
	{ "0 ", PJ_EINVAL, 0 },
};

static void
test_parse_duration(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct pj_error err = { 0 };
		int64_t ms = -42;
		int rc;

		rc = pj_time_parse_duration(c->text, &ms, &err);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d (%s)", c->text, rc,
			    c->rc, err.msg);
		if (rc == PJ_OK && ms != c->ms)
			fail_msg("\"%s\": %" PRId64 " ms, want %" PRId64,
			    c->text, ms, c->ms);
		/* On failure *ms is untouched and the error says why. */
		if (rc != PJ_OK && ms != -42)
			fail_msg("\"%s\": *ms changed on failure", c->text);
		if (rc != PJ_OK &&
		    (err.code != PJ_EINVAL || err.msg[0] == '\0'))
			fail_msg("\"%s\": no error message", c->text);
	}
}

static void
test_parse_null_text(void **state)
{
	struct pj_error err = { 0 };
	int64_t ms = 7;

	(void)state;
	assert_int_equal(pj_time_parse_duration(NULL, &ms, &err), PJ_EINVAL);
	assert_int_equal(ms, 7);
}

struct format_case {
	int64_t ms;
	const char *text;
};

static const struct format_case format_cases[] = {
	{ 0, "0" },
	{ 1, "1ms" },
	{ 500, "500ms" },
	{ 1000, "1s" },
	{ 1500, "1500ms" },
	{ 90000, "90s" },
	{ 60000, "1m" },
	{ 3600000, "1h" },
	{ 5400000, "90m" },
	{ 86400000, "1d" },
	{ 7776000000, "90d" },
	{ 90061001, "90061001ms" },
	{ INT64_MAX, "9223372036854775807ms" },
	{ -5, "-5ms" },
	{ -1000, "-1000ms" },
};

static void
test_format_duration(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		const struct format_case *c = &format_cases[i];
		char buf[32];

		pj_time_format_duration(c->ms, buf, sizeof(buf));
		if (strcmp(buf, c->text) != 0)
			fail_msg("%" PRId64 ": \"%s\", want \"%s\"", c->ms, buf,
			    c->text);
	}
}

/* Whatever format writes, parse reads back to the same value. */
static void
test_format_round_trip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		struct pj_error err = { 0 };
		char buf[32];
		int64_t back = -1;

		if (parse_cases[i].rc != PJ_OK)
			continue;
		pj_time_format_duration(parse_cases[i].ms, buf, sizeof(buf));
		if (pj_time_parse_duration(buf, &back, &err) != PJ_OK ||
		    back != parse_cases[i].ms)
			fail_msg("%" PRId64 " -> \"%s\" -> %" PRId64 " (%s)",
			    parse_cases[i].ms, buf, back, err.msg);
	}
}

static void
test_format_small_buffer(void **state)
{
	char buf[4] = "xyz";

	(void)state;
	pj_time_format_duration(3600000 * 100, buf, 0);
	assert_string_equal(buf, "xyz");
	pj_time_format_duration(123456, buf, sizeof(buf));
	assert_string_equal(buf, "123");
}

static void
test_iso8601(void **state)
{
	char buf[32];
	char small[8];
	size_t i;

	(void)state;
	pj_time_iso8601(buf, sizeof(buf));
	assert_int_equal(strlen(buf), 20);
	/* "2026-11-26T06:16:33Z" */
	for (i = 0; i < 20; i++) {
		const char *shape = "dddd-dd-ddTdd:dd:ddZ";

		if (shape[i] == 'd' && (buf[i] < '0' || buf[i] > '9'))
			fail_msg("\"%s\": not a digit at %zu", buf, i);
		if (shape[i] != 'd' && buf[i] != shape[i])
			fail_msg("\"%s\": want '%c' at %zu", buf, shape[i], i);
	}
	assert_true(strncmp(buf, "20", 2) == 0);
	pj_time_iso8601(small, sizeof(small));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	pj_time_iso8601(small, 0);
}

static void
test_clocks_and_sleep(void **state)
{
	int64_t ms0, us0, ms1, us1, wall;

	(void)state;
	ms0 = pj_time_mono_ms();
	us0 = pj_time_mono_us();
	pj_time_sleep_ms(30);
	ms1 = pj_time_mono_ms();
	us1 = pj_time_mono_us();
	assert_true(ms1 - ms0 >= 30);
	assert_true(us1 - us0 >= 30000);
	/* Generous upper bound: a loaded machine may be slow to wake us. */
	assert_true(ms1 - ms0 < 5000);
	pj_time_sleep_ms(0);
	pj_time_sleep_ms(-5);
	assert_true(pj_time_mono_ms() - ms1 < 1000);
	wall = pj_time_wall_s();
	assert_true(wall > 1700000000); /* after November 2023 */
}

/* A wait ends at its bound; with no bound (0) it runs its length. */
static void
test_sleep_until(void **state)
{
	int64_t t0;

	(void)state;
	t0 = pj_time_mono_ms();
	pj_time_sleep_ms_until(20000, t0 + 30);
	assert_true(pj_time_mono_ms() - t0 >= 29);
	assert_true(pj_time_mono_ms() - t0 < 5000);
	t0 = pj_time_mono_ms();
	pj_time_sleep_ms_until(20000, t0 - 10); /* already past */
	assert_true(pj_time_mono_ms() - t0 < 1000);
	t0 = pj_time_mono_ms();
	pj_time_sleep_ms_until(30, 0);
	assert_true(pj_time_mono_ms() - t0 >= 30);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_null_text),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_small_buffer),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_sleep_until),
		cmocka_unit_test(test_clocks_and_sleep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
