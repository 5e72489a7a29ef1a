/*
 * Unit tests for worker/progress.c on a pseudo-terminal (exact bytes drawn,
 * delay, rate limit, width) and on a pipe, off, and TERM=dumb (nothing
 * drawn). A fake clock makes every line exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "worker/progress.h"

#define EL "\033[K"

static int64_t fake_now;

static int64_t
fake_clock(void)
{
	return fake_now;
}

struct term {
	int master, slave;
};

/* A raw pseudo-terminal cols wide (no "\n" to "\r\n" translation). */
static struct term
open_term(unsigned short cols)
{
	struct winsize ws = { .ws_row = 24, .ws_col = cols };
	struct termios tio;
	struct term t;

	assert_int_equal(openpty(&t.master, &t.slave, NULL, NULL, &ws), 0);
	assert_int_equal(tcgetattr(t.slave, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(t.slave, TCSANOW, &tio), 0);
	assert_int_equal(fcntl(t.master, F_SETFL, O_NONBLOCK), 0);
	/* A full terminal buffer fails a write instead of hanging a test. */
	assert_int_equal(fcntl(t.slave, F_SETFL, O_NONBLOCK), 0);
	return t;
}

/* Everything written to fd's other end so far (caller frees). */
static char *
drain(int fd)
{
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);
	ssize_t n;

	assert_non_null(buf);
	for (;;) {
		n = read(fd, buf + used, cap - 1 - used);
		if (n > 0) {
			used += (size_t)n;
			assert_true(used < cap - 1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* EAGAIN: nothing more; EIO: a pty with no slave left. */
		assert_true(n == 0 || errno == EAGAIN || errno == EIO);
		break;
	}
	buf[used] = '\0';
	return buf;
}

static void
close_term(struct term t)
{
	close(t.slave);
	close(t.master);
}

static void
init_on(struct pj_progress *p, int fd, bool enabled)
{
	pj_progress_init(p, fd, enabled);
	p->now_ms = fake_clock;
}

/* One pass at a time: the bytes it draws, step by step. */
static void
test_long_pass_draws_exact_lines(void **state)
{
	struct pj_progress p;
	struct term t;
	char *got;

	(void)state;
	setenv("TERM", "xterm", 1);
	t = open_term(100);
	init_on(&p, t.slave, true);
	fake_now = 10000;
	pj_progress_start(&p, "incomplete_consumers", 5000);
	fake_now = 11000;
	pj_progress_update(&p, 100); /* 1 s: too early */
	got = drain(t.master);
	assert_string_equal(got, "");
	free(got);
	fake_now = 12500;
	pj_progress_update(&p, 2500);
	fake_now = 12600;
	pj_progress_update(&p, 2600); /* 100 ms after a draw: skipped */
	fake_now = 12750;
	pj_progress_update(&p, 3000);
	fake_now = 15000;
	pj_progress_end(&p);
	got = drain(t.master);
	assert_string_equal(got,
	    "\rincomplete_consumers: 2500/5000 rows (50%), 1000 rows/s, "
	    "2.5s" EL
	    "\r"
	    "\rincomplete_consumers: 3000/5000 rows (60%), 1090 rows/s, "
	    "2.7s" EL
	    "\r"
	    "\rincomplete_consumers: 3000/5000 rows (60%), 600 rows/s, "
	    "5.0s" EL "\n");
	free(got);
	/* Updates after the end draw nothing. */
	pj_progress_update(&p, 4000);
	got = drain(t.master);
	assert_string_equal(got, "");
	free(got);
	close_term(t);
}

struct line_case {
	const char *pass;
	int64_t total;
	int64_t done;
	int64_t elapsed_ms;
	unsigned short cols;
	const char *line; /* between "\r" and the clear to end of line */
};

static const struct line_case line_cases[] = {
	{ "p", -1, 1200, 2000, 80, "p: 1200 rows, 600 rows/s, 2.0s" },
	{ "p", 0, 0, 2000, 80, "p: 0/0 rows (100%), 0 rows/s, 2.0s" },
	{ "p", 10, 25, 2000, 80, "p: 25/10 rows (100%), 12 rows/s, 2.0s" },
	{ "p", -1, 6500, 65000, 80, "p: 6500 rows, 100 rows/s, 1m05s" },
	{ "p", -1, 7500, 7500000, 80, "p: 7500 rows, 1 rows/s, 2h05m" },
	{ "p", -1, 0, 59999, 80, "p: 0 rows, 0 rows/s, 59.9s" },
	{ "root_provider_ids", 1000000, 250000, 2000, 21,
	    "root_provider_ids: 2" },
	{ "a\033]0;x\007b\nc", -1, 1, 2000, 80,
	    "a?]0;x?b?c: 1 rows, 0 rows/s, 2.0s" },
	{ "", -1, 3, 3000, 80, ": 3 rows, 1 rows/s, 3.0s" },
};

/* Counts, rates, times, the width and hostile names, one draw each. */
static void
test_line_contents(void **state)
{
	size_t i;

	(void)state;
	setenv("TERM", "xterm", 1);
	for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];
		struct term t = open_term(c->cols);
		struct pj_progress p;
		char want[512];
		char *got;

		init_on(&p, t.slave, true);
		fake_now = 0;
		pj_progress_start(&p, c->pass, c->total);
		fake_now = c->elapsed_ms;
		pj_progress_update(&p, c->done);
		got = drain(t.master);
		snprintf(want, sizeof(want), "\r%s" EL "\r", c->line);
		if (strcmp(got, want) != 0)
			fail_msg("case %zu (%s): drew \"%s\", want \"%s\"", i,
			    c->pass, got, want);
		free(got);
		close_term(t);
	}
}

/* 1000 updates over one second draw 4 times a second, no more. */
static void
test_redraws_are_rate_limited(void **state)
{
	struct pj_progress p;
	struct term t;
	size_t draws = 0;
	char *got, *s;
	int64_t i;

	(void)state;
	setenv("TERM", "xterm", 1);
	t = open_term(80);
	init_on(&p, t.slave, true);
	fake_now = 0;
	pj_progress_start(&p, "p", -1);
	for (i = 0; i <= 1000; i++) {
		fake_now = 2000 + i;
		pj_progress_update(&p, i);
	}
	got = drain(t.master);
	for (s = got; (s = strstr(s, EL)) != NULL; s++)
		draws++;
	/* At 2000, 2250, 2500, 2750 and 3000 ms. */
	if (draws != 5)
		fail_msg("%zu draws, want 5: \"%s\"", draws, got);
	free(got);
	close_term(t);
}

/* A pass shorter than the delay leaves no trace, not even a newline. */
static void
test_short_pass_draws_nothing(void **state)
{
	struct pj_progress p;
	struct term t;
	char *got;

	(void)state;
	setenv("TERM", "xterm", 1);
	t = open_term(80);
	pj_progress_init(&p, t.slave, true); /* the real clock */
	assert_int_equal(p.delay_ms, PJ_PROGRESS_DELAY_MS);
	assert_int_equal(p.interval_ms, PJ_PROGRESS_INTERVAL_MS);
	pj_progress_start(&p, "p", 10);
	pj_progress_update(&p, 5);
	pj_progress_update(&p, 10);
	pj_progress_end(&p);
	got = drain(t.master);
	assert_string_equal(got, "");
	free(got);
	close_term(t);
}

enum target { TARGET_PIPE, TARGET_PTY_OFF, TARGET_PTY_DUMB, TARGET_BAD_FD };

struct quiet_case {
	const char *what;
	enum target target;
};

static const struct quiet_case quiet_cases[] = {
	{ "a pipe", TARGET_PIPE },
	{ "a terminal, turned off (JSON report)", TARGET_PTY_OFF },
	{ "a terminal with TERM=dumb", TARGET_PTY_DUMB },
	{ "no descriptor", TARGET_BAD_FD },
};

/* Never a byte where a line is not wanted, however long the pass. */
static void
test_quiet_targets_get_nothing(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(quiet_cases) / sizeof(quiet_cases[0]); i++) {
		const struct quiet_case *c = &quiet_cases[i];
		struct pj_progress p;
		int fds[2] = { -1, -1 };
		int read_fd, write_fd;
		struct term t;
		char *got;

		setenv(
		    "TERM", c->target == TARGET_PTY_DUMB ? "dumb" : "xterm", 1);
		if (c->target == TARGET_PIPE) {
			assert_int_equal(pipe(fds), 0);
			assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
			read_fd = fds[0];
			write_fd = fds[1];
		} else {
			t = open_term(80);
			read_fd = t.master;
			write_fd = c->target == TARGET_BAD_FD ? -1 : t.slave;
		}
		init_on(&p, write_fd, c->target != TARGET_PTY_OFF);
		fake_now = 0;
		pj_progress_start(&p, "p", 100);
		fake_now = 5000;
		pj_progress_update(&p, 50);
		fake_now = 9000;
		pj_progress_update(&p, 90);
		pj_progress_end(&p);
		got = drain(read_fd);
		if (got[0] != '\0')
			fail_msg("%s: drew \"%s\"", c->what, got);
		free(got);
		if (c->target == TARGET_PIPE) {
			close(fds[0]);
			close(fds[1]);
		} else {
			close_term(t);
		}
	}
	setenv("TERM", "xterm", 1);
}

/* Two passes in a row: each its own line, state reset at start. */
static void
test_second_pass_starts_fresh(void **state)
{
	struct pj_progress p;
	struct term t;
	char *got;

	(void)state;
	setenv("TERM", "xterm", 1);
	t = open_term(80);
	init_on(&p, t.slave, true);
	fake_now = 0;
	pj_progress_start(&p, "one", 10);
	fake_now = 3000;
	pj_progress_update(&p, 9);
	pj_progress_end(&p);
	pj_progress_start(&p, "two", -1);
	fake_now = 4000; /* 1 s into pass two: too early */
	pj_progress_update(&p, 1);
	pj_progress_end(&p);
	got = drain(t.master);
	assert_string_equal(got,
	    "\rone: 9/10 rows (90%), 3 rows/s, 3.0s" EL
	    "\r"
	    "\rone: 9/10 rows (90%), 3 rows/s, 3.0s" EL "\n");
	free(got);
	close_term(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_pass_draws_exact_lines),
		cmocka_unit_test(test_line_contents),
		cmocka_unit_test(test_redraws_are_rate_limited),
		cmocka_unit_test(test_short_pass_draws_nothing),
		cmocka_unit_test(test_quiet_targets_get_nothing),
		cmocka_unit_test(test_second_pass_starts_fresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
