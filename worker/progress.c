/* The self-updating progress line of a long pass on a terminal. */
#include "worker/progress.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/time.h"

#define LINE_MAX_COLUMNS 200
#define CLEAR_TO_EOL "\033[K"

void
pj_progress_init(struct pj_progress *p, int fd, bool enabled)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->delay_ms = PJ_PROGRESS_DELAY_MS;
	p->interval_ms = PJ_PROGRESS_INTERVAL_MS;
	p->now_ms = pj_time_mono_ms;
	p->total = -1;
	if (enabled && fd >= 0 && isatty(fd) &&
	    (term == NULL || strcmp(term, "dumb") != 0))
		p->fd = fd;
}

void
pj_progress_start(struct pj_progress *p, const char *pass, int64_t total)
{
	size_t i;

	if (p->fd < 0)
		return;
	/* A pass name is ours, but a control character must not reach the
	 * terminal whatever it holds. */
	snprintf(p->pass, sizeof(p->pass), "%s", pass != NULL ? pass : "");
	for (i = 0; p->pass[i] != '\0'; i++) {
		if ((unsigned char)p->pass[i] < 0x20 || p->pass[i] == 0x7f)
			p->pass[i] = '?';
	}
	p->total = total;
	p->done = 0;
	p->started_ms = p->now_ms();
	p->drawn_ms = 0;
	p->active = true;
	p->drawn = false;
}

/* "4.2s", "3m07s", "2h05m". */
static void
format_elapsed(int64_t ms, char *buf, size_t size)
{
	int64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s,
		    (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(
		    buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600,
		    (s % 3600) / 60);
}

/* The terminal's width less one (no wrap at the last column), or 79. */
static size_t
columns(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col < 2)
		return 79;
	if (ws.ws_col > LINE_MAX_COLUMNS)
		return LINE_MAX_COLUMNS - 1;
	return (size_t)ws.ws_col - 1;
}

static void
format_line(const struct pj_progress *p, int64_t now, char *buf, size_t size)
{
	int64_t elapsed = now - p->started_ms;
	int64_t rate = elapsed > 0 ? p->done * 1000 / elapsed : 0;
	int64_t percent;
	char took[32];
	int n;

	format_elapsed(elapsed, took, sizeof(took));
	if (p->total >= 0) {
		percent = p->total > 0 ? p->done * 100 / p->total : 100;
		if (percent > 100)
			percent = 100;
		n = snprintf(buf, size,
		    "%s: %" PRId64 "/%" PRId64 " rows (%" PRId64 "%%)", p->pass,
		    p->done, p->total, percent);
	} else {
		n = snprintf(
		    buf, size, "%s: %" PRId64 " rows", p->pass, p->done);
	}
	if (n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", %" PRId64 " rows/s, %s",
		    rate, took);
}

static void
write_all(int fd, const char *text, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		text += n;
		len -= (size_t)n;
	}
}

/* One write per draw, so a draw is never split by another writer. */
static void
draw(struct pj_progress *p, int64_t now, const char *end)
{
	char text[LINE_MAX_COLUMNS + 1];
	char out[LINE_MAX_COLUMNS + 16];
	size_t width = columns(p->fd);
	int n;

	format_line(p, now, text, sizeof(text));
	if (strlen(text) > width)
		text[width] = '\0';
	n = snprintf(out, sizeof(out), "\r%s" CLEAR_TO_EOL "%s", text, end);
	if (n > 0 && (size_t)n < sizeof(out))
		write_all(p->fd, out, (size_t)n);
	p->drawn = true;
	p->drawn_ms = now;
}

void
pj_progress_update(struct pj_progress *p, int64_t done)
{
	int64_t now;

	if (p->fd < 0 || !p->active)
		return;
	p->done = done;
	now = p->now_ms();
	if (now - p->started_ms < p->delay_ms)
		return;
	if (p->drawn && now - p->drawn_ms < p->interval_ms)
		return;
	draw(p, now, "\r");
}

void
pj_progress_end(struct pj_progress *p)
{
	if (p->fd < 0 || !p->active)
		return;
	if (p->drawn)
		draw(p, p->now_ms(), "\n");
	p->active = false;
	p->drawn = false;
}
