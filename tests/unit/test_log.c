/* Unit tests for common/log.c: line formats, escaping, levels, journal. */
#include "common/log.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/error.h"

#define RUN_ID "4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5f"
#define CAPTURE_MAX 65536

/* stderr redirected to a temporary file while a test logs. */
struct capture {
	FILE *file;
	int saved_fd;
	char text[CAPTURE_MAX];
};

static void
capture_begin(struct capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved_fd = dup(STDERR_FILENO);
	assert_true(c->saved_fd >= 0);
	assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Restores stderr; c->text holds what was written. */
static const char *
capture_end(struct capture *c)
{
	size_t n;

	fflush(stderr);
	assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
	close(c->saved_fd);
	rewind(c->file);
	n = fread(c->text, 1, sizeof(c->text) - 1, c->file);
	c->text[n] = '\0';
	fclose(c->file);
	return c->text;
}

static size_t
count_char(const char *s, char ch)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == ch;
	return n;
}

/* "2026-11-26T06:16:33Z": the timestamp every non-journal line starts with. */
static bool
is_timestamp(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
		                    : s[i] != shape[i])
			return false;
	}
	return true;
}

static int
reset(void **state)
{
	(void)state;
	unsetenv("JOURNAL_STREAM");
	pj_log_setup(PJ_LOG_INFO, PJ_LOG_TEXT, false);
	pj_log_set_run_id(NULL);
	return 0;
}

struct line_case {
	enum pj_log_level level;
	const char *run_id; /* NULL: none set */
	const char *event;
	const char *text;
	const char *want; /* after "<timestamp> " (text) or the time member */
};

static const struct line_case text_cases[] = {
	{ PJ_LOG_INFO, NULL, "pass_done", "pass=x found=12",
	    "level=info event=pass_done pass=x found=12\n" },
	{ PJ_LOG_INFO, RUN_ID, "pass_done", "pass=x found=12",
	    "level=info run=" RUN_ID " event=pass_done pass=x found=12\n" },
	{ PJ_LOG_ERROR, RUN_ID, "run_failed", "",
	    "level=error run=" RUN_ID " event=run_failed\n" },
	{ PJ_LOG_WARN, NULL, "batch_retry", "name=\"a\nb\"",
	    "level=warn event=batch_retry name=\"a\\nb\"\n" },
	{ PJ_LOG_INFO, NULL, "e",
	    "v=\"x\n2026-11-26T06:16:33Z level=error event=forged\"",
	    "level=info event=e v=\"x\\n2026-11-26T06:16:33Z level=error "
	    "event=forged\"\n" },
	{ PJ_LOG_INFO, NULL, "e", "a=\r\t\x01\x1b[0m\x7f",
	    "level=info event=e a=\\r\\t\\x01\\x1b[0m\\x7f\n" },
	{ PJ_LOG_INFO, NULL, "e", "path=C:\\n",
	    "level=info event=e path=C:\\\\n\n" },
	{ PJ_LOG_INFO, NULL, "e", "name=caf\xc3\xa9",
	    "level=info event=e name=caf\xc3\xa9\n" },
	/* cut in a character, a stray byte, a surrogate, an overlong '/' */
	{ PJ_LOG_INFO, NULL, "e", "v=\xe2\x82 \xff \xed\xa0\x80 \xc0\xaf",
	    "level=info event=e v=\\xe2\\x82 \\xff \\xed\\xa0\\x80 "
	    "\\xc0\\xaf\n" },
	{ PJ_LOG_DEBUG, NULL, "ev\nil", "", "level=debug event=ev\\nil\n" },
};

static void
test_text_lines(void **state)
{
	size_t i;

	(void)state;
	pj_log_setup(PJ_LOG_DEBUG, PJ_LOG_TEXT, false);
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		const struct line_case *tc = &text_cases[i];
		struct capture c;
		const char *out;

		pj_log_set_run_id(tc->run_id);
		capture_begin(&c);
		pj_log_write(tc->level, tc->event, "%s", tc->text);
		out = capture_end(&c);
		if (!is_timestamp(out) || out[20] != ' ')
			fail_msg("case %zu: no timestamp: %s", i, out);
		if (strcmp(out + 21, tc->want) != 0)
			fail_msg(
			    "case %zu: got %s want %s", i, out + 21, tc->want);
		if (count_char(out, '\n') != 1)
			fail_msg(
			    "case %zu: %zu lines", i, count_char(out, '\n'));
	}
}

static const struct line_case json_cases[] = {
	{ PJ_LOG_INFO, NULL, "pass_done", "pass=x found=12",
	    "\"level\":\"info\",\"event\":\"pass_done\","
	    "\"msg\":\"pass=x found=12\"}\n" },
	{ PJ_LOG_WARN, RUN_ID, "batch_retry", "name=\"a\nb\" p=C:\\",
	    "\"level\":\"warn\",\"run\":\"" RUN_ID
	    "\",\"event\":\"batch_retry\","
	    "\"msg\":\"name=\\\"a\\nb\\\" p=C:\\\\\"}\n" },
	{ PJ_LOG_ERROR, NULL, "e", "x=\x01\x7f\xff\xe2\x80\xa8",
	    "\"level\":\"error\",\"event\":\"e\","
	    "\"msg\":\"x=\\u0001\\u007f\\ufffd\\u2028\"}\n" },
	{ PJ_LOG_DEBUG, NULL, "e", "",
	    "\"level\":\"debug\",\"event\":\"e\",\"msg\":\"\"}\n" },
};

static void
test_json_lines(void **state)
{
	static const char head[] = "{\"time\":\"";
	size_t i, h = strlen(head);

	(void)state;
	pj_log_setup(PJ_LOG_DEBUG, PJ_LOG_JSON, false);
	for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		const struct line_case *tc = &json_cases[i];
		struct capture c;
		const char *out;

		pj_log_set_run_id(tc->run_id);
		capture_begin(&c);
		pj_log_write(tc->level, tc->event, "%s", tc->text);
		out = capture_end(&c);
		if (strncmp(out, head, h) != 0 || !is_timestamp(out + h) ||
		    strncmp(out + h + 20, "\",", 2) != 0)
			fail_msg("case %zu: no time member: %s", i, out);
		if (strcmp(out + h + 22, tc->want) != 0)
			fail_msg("case %zu: got %s want %s", i, out + h + 22,
			    tc->want);
	}
}

static int calls;

static int
counted(void)
{
	return ++calls;
}

static void
test_levels(void **state)
{
	static const struct {
		enum pj_log_level setting;
		bool error, warn, info, debug;
	} cases[] = {
		{ PJ_LOG_ERROR, true, false, false, false },
		{ PJ_LOG_WARN, true, true, false, false },
		{ PJ_LOG_INFO, true, true, true, false },
		{ PJ_LOG_DEBUG, true, true, true, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capture c;
		const char *out;
		bool want[4];

		want[PJ_LOG_ERROR] = cases[i].error;
		want[PJ_LOG_WARN] = cases[i].warn;
		want[PJ_LOG_INFO] = cases[i].info;
		want[PJ_LOG_DEBUG] = cases[i].debug;
		pj_log_setup(cases[i].setting, PJ_LOG_TEXT, false);
		calls = 0;
		capture_begin(&c);
		pj_log_error("e1", "n=1");
		pj_log_warn("e2", "n=2");
		pj_log_info("e3", "n=3");
		pj_log_debug("e4", "n=%d", counted());
		out = capture_end(&c);
		if ((strstr(out, "level=error event=e1 n=1\n") != NULL) !=
		        want[PJ_LOG_ERROR] ||
		    (strstr(out, "level=warn event=e2 n=2\n") != NULL) !=
		        want[PJ_LOG_WARN] ||
		    (strstr(out, "level=info event=e3 n=3\n") != NULL) !=
		        want[PJ_LOG_INFO] ||
		    (strstr(out, "level=debug event=e4 n=1\n") != NULL) !=
		        want[PJ_LOG_DEBUG])
			fail_msg("level %d: wrong lines:\n%s", cases[i].setting,
			    out);
		/* A disabled pj_log_debug does not evaluate its arguments. */
		if (calls != (want[PJ_LOG_DEBUG] ? 1 : 0))
			fail_msg("level %d: argument evaluated %d times",
			    cases[i].setting, calls);
		if (pj_log_enabled(PJ_LOG_DEBUG) != want[PJ_LOG_DEBUG])
			fail_msg("level %d: pj_log_enabled", cases[i].setting);
	}
}

static void
test_uuid_redaction(void **state)
{
	static const struct {
		bool redact;
		const char *id;
		size_t size;
		const char *want;
	} cases[] = {
		{ false, RUN_ID, 64, RUN_ID },
		{ true, RUN_ID, 64, "4b1f0c2e" },
		{ true, "short", 64, "short" },
		{ true, "", 64, "" },
		{ true, NULL, 64, "" },
		{ true, RUN_ID, 5, "4b1f" },
		{ false, RUN_ID, 9, "4b1f0c2e" },
		{ true, RUN_ID, 9, "4b1f0c2e" },
		{ true, RUN_ID, 1, "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		const char *got;

		memset(buf, '#', sizeof(buf));
		pj_log_setup(PJ_LOG_INFO, PJ_LOG_TEXT, cases[i].redact);
		got = pj_log_uuid(cases[i].id, buf, cases[i].size);
		if (got != buf || strcmp(got, cases[i].want) != 0)
			fail_msg(
			    "case %zu: got %s want %s", i, got, cases[i].want);
		if (cases[i].size < sizeof(buf) && buf[cases[i].size] != '#')
			fail_msg("case %zu: wrote past %zu", i, cases[i].size);
	}
}

/* JOURNAL_STREAM naming the file stderr now is, as systemd would set it. */
static void
set_journal_stream(bool matching)
{
	struct stat st;
	char env[64];

	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%ju:%ju", (uintmax_t)st.st_dev,
	    (uintmax_t)st.st_ino + (matching ? 0 : 1));
	assert_int_equal(setenv("JOURNAL_STREAM", env, 1), 0);
}

static void
test_journal(void **state)
{
	static const struct {
		enum pj_log_format format;
		enum pj_log_level level;
		bool matching;
		const char *want;
	} cases[] = {
		{ PJ_LOG_TEXT, PJ_LOG_INFO, true,
		    "<6>level=info run=" RUN_ID " event=e a=1\n" },
		{ PJ_LOG_TEXT, PJ_LOG_ERROR, true,
		    "<3>level=error run=" RUN_ID " event=e a=1\n" },
		{ PJ_LOG_TEXT, PJ_LOG_WARN, true,
		    "<4>level=warn run=" RUN_ID " event=e a=1\n" },
		{ PJ_LOG_TEXT, PJ_LOG_DEBUG, true,
		    "<7>level=debug run=" RUN_ID " event=e a=1\n" },
		{ PJ_LOG_JSON, PJ_LOG_WARN, true,
		    "<4>{\"level\":\"warn\",\"run\":\"" RUN_ID "\","
		    "\"event\":\"e\",\"msg\":\"a=1\"}\n" },
		{ PJ_LOG_TEXT, PJ_LOG_INFO, false, NULL },
	};
	size_t i;

	(void)state;
	pj_log_set_run_id(RUN_ID);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capture c;
		const char *out;

		capture_begin(&c);
		set_journal_stream(cases[i].matching);
		pj_log_setup(PJ_LOG_DEBUG, cases[i].format, false);
		pj_log_write(cases[i].level, "e", "a=%d", 1);
		out = capture_end(&c);
		unsetenv("JOURNAL_STREAM");
		if (cases[i].want == NULL) {
			/* Another stream's id: stderr was redirected since. */
			if (!is_timestamp(out) || strchr(out, '<') != NULL)
				fail_msg(
				    "case %zu: journal prefix: %s", i, out);
		} else if (strcmp(out, cases[i].want) != 0) {
			fail_msg(
			    "case %zu: got %s want %s", i, out, cases[i].want);
		}
	}
}

/* Over-long messages are cut, marked, and still end in one newline. */
static void
test_truncation(void **state)
{
	static const struct {
		enum pj_log_format format;
		char fill;
		const char *end;
	} cases[] = {
		{ PJ_LOG_TEXT, 'a', "a truncated=true\n" },
		{ PJ_LOG_TEXT, '\n', "\\n truncated=true\n" },
		{ PJ_LOG_JSON, 'a', "a\",\"truncated\":true}\n" },
		{ PJ_LOG_JSON, '"', "\\\"\",\"truncated\":true}\n" },
		{ PJ_LOG_JSON, '\x01', "\\u0001\",\"truncated\":true}\n" },
	};
	static char big[10000];
	size_t i, k, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct capture c;
		const char *out;

		for (k = 0; k < sizeof(big) - 1; k++)
			big[k] = cases[i].fill;
		pj_log_setup(PJ_LOG_INFO, cases[i].format, false);
		capture_begin(&c);
		pj_log_info("e", "%s", big);
		out = capture_end(&c);
		len = strlen(out);
		if (len >= 4096 || len < 3000)
			fail_msg("case %zu: line of %zu bytes", i, len);
		if (count_char(out, '\n') != 1)
			fail_msg(
			    "case %zu: %zu newlines", i, count_char(out, '\n'));
		if (len < strlen(cases[i].end) ||
		    strcmp(out + len - strlen(cases[i].end), cases[i].end) != 0)
			fail_msg("case %zu: ends %s", i, out + len - 40);
	}
}

static void
test_level_parse(void **state)
{
	static const struct {
		const char *name;
		int rc;
		enum pj_log_level level;
	} cases[] = {
		{ "error", PJ_OK, PJ_LOG_ERROR },
		{ "warn", PJ_OK, PJ_LOG_WARN },
		{ "info", PJ_OK, PJ_LOG_INFO },
		{ "debug", PJ_OK, PJ_LOG_DEBUG },
		{ "", PJ_EINVAL, PJ_LOG_INFO },
		{ "INFO", PJ_EINVAL, PJ_LOG_INFO },
		{ "warning", PJ_EINVAL, PJ_LOG_INFO },
		{ "info ", PJ_EINVAL, PJ_LOG_INFO },
		{ "trace", PJ_EINVAL, PJ_LOG_INFO },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum pj_log_level got = PJ_LOG_INFO;
		int rc = pj_log_level_parse(cases[i].name, &got);

		if (rc != cases[i].rc || got != cases[i].level)
			fail_msg(
			    "\"%s\": rc %d level %d", cases[i].name, rc, got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_text_lines, reset),
		cmocka_unit_test_setup(test_json_lines, reset),
		cmocka_unit_test_setup(test_levels, reset),
		cmocka_unit_test_setup(test_uuid_redaction, reset),
		cmocka_unit_test_setup(test_journal, reset),
		cmocka_unit_test_setup(test_truncation, reset),
		cmocka_unit_test_setup(test_level_parse, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
