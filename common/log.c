/* Leveled one-line-per-event logging to stderr (text, JSON or journal). */
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/json.h"
#include "common/time.h"

/*
 * A whole line, newline included, is at most this long minus one byte. On
 * Linux a write of up to PIPE_BUF (4096) bytes to a pipe is atomic, so
 * lines from several processes sharing stderr never interleave.
 */
#define LINE_SIZE 4096
/* Room kept after the message for the line's end and a truncation mark. */
#define TAIL_RESERVE 64
#define REDACTED_LEN 8

/* The program's only mutable globals: the logger's settings. */
static struct {
	enum pj_log_level level;
	enum pj_log_format format;
	bool redact_uuids;
	bool journal;       /* stderr is the systemd journal */
	bool journal_known; /* journal has been checked */
	char run_id[64];    /* "" until set */
} state = { .level = PJ_LOG_INFO, .format = PJ_LOG_TEXT };

static const char *const level_names[] = {
	[PJ_LOG_ERROR] = "error",
	[PJ_LOG_WARN] = "warn",
	[PJ_LOG_INFO] = "info",
	[PJ_LOG_DEBUG] = "debug",
};

/* syslog priorities, which journald reads from a "<N>" line prefix. */
static const int level_priorities[] = {
	[PJ_LOG_ERROR] = 3,
	[PJ_LOG_WARN] = 4,
	[PJ_LOG_INFO] = 6,
	[PJ_LOG_DEBUG] = 7,
};

/* A line being built: len bytes used, never more than limit. */
struct line {
	char buf[LINE_SIZE];
	size_t len, limit;
	bool truncated;
};

/*
 * systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected
 * to stderr; it only counts if stderr is still that stream (not redirected
 * by a wrapper since).
 */
static bool
stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char *end;

	if (env == NULL || *env == '\0')
		return false;
	errno = 0;
	dev = strtoumax(env, &end, 10);
	if (errno != 0 || end == env || *end != ':')
		return false;
	env = end + 1;
	ino = strtoumax(env, &end, 10);
	if (errno != 0 || end == env || *end != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) != 0)
		return false;
	return dev == (uintmax_t)st.st_dev && ino == (uintmax_t)st.st_ino;
}

void
pj_log_setup(
    enum pj_log_level level, enum pj_log_format format, bool redact_uuids)
{
	state.level = level;
	state.format = format;
	state.redact_uuids = redact_uuids;
	state.journal = stderr_is_journal();
	state.journal_known = true;
}

void
pj_log_set_run_id(const char *run_id)
{
	snprintf(state.run_id, sizeof(state.run_id), "%s",
	    run_id != NULL ? run_id : "");
}

bool
pj_log_enabled(enum pj_log_level level)
{
	return level >= PJ_LOG_ERROR && level <= state.level;
}

int
pj_log_level_parse(const char *name, enum pj_log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum pj_log_level)i;
			return PJ_OK;
		}
	}
	return PJ_EINVAL;
}

const char *
pj_log_uuid(const char *id, char *buf, size_t size)
{
	size_t n;

	if (size == 0)
		return buf;
	if (id == NULL)
		id = "";
	n = strlen(id);
	if (state.redact_uuids && n > REDACTED_LEN)
		n = REDACTED_LEN;
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, id, n);
	buf[n] = '\0';
	return buf;
}

static void
put(struct line *l, const char *s, size_t n)
{
	if (l->truncated || l->len + n > l->limit) {
		l->truncated = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
puts_raw(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/*
 * Text mode: control characters, DEL and bytes that are not well-formed
 * UTF-8 (a value cut short in the middle of a character, say) become \n,
 * \r, \t or \xNN, and a backslash is doubled, so the text stays one line
 * of valid UTF-8 and reads back exactly.
 */
static void
puts_text(struct line *l, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];
	size_t n;

	for (; *s != '\0' && !l->truncated; s++) {
		if (*s >= 0x80 && pj_utf8_seq(s, &n)) {
			put(l, (const char *)s, n);
			s += n - 1;
		} else if (*s == '\n')
			put(l, "\\n", 2);
		else if (*s == '\r')
			put(l, "\\r", 2);
		else if (*s == '\t')
			put(l, "\\t", 2);
		else if (*s == '\\')
			put(l, "\\\\", 2);
		else if (*s < 0x20 || *s >= 0x7f) /* and ill-formed bytes */
			put(l, esc,
			    (size_t)snprintf(esc, sizeof(esc), "\\x%02x", *s));
		else
			put(l, (const char *)s, 1);
	}
}

/*
 * JSON mode: a quoted, escaped string, its text cut short to fit. The
 * quotes go in even past the limit (into TAIL_RESERVE) so a member whose
 * name was written always has a value; after a cut nothing more is added.
 */
static void
puts_json(struct line *l, const char *s)
{
	size_t room;

	if (l->truncated)
		return;
	l->buf[l->len++] = '"';
	room = l->len < l->limit ? l->limit - l->len : 0;
	if (!pj_json_escape(l->buf + l->len, room + 1, s))
		l->truncated = true;
	l->len += strlen(l->buf + l->len);
	l->buf[l->len++] = '"';
}

static void
format_text(struct line *l, enum pj_log_level level, const char *event,
    const char *text)
{
	puts_raw(l, "level=");
	puts_raw(l, level_names[level]);
	if (state.run_id[0] != '\0') {
		puts_raw(l, " run=");
		puts_text(l, state.run_id);
	}
	puts_raw(l, " event=");
	puts_text(l, event);
	if (text[0] != '\0') {
		puts_raw(l, " ");
		puts_text(l, text);
	}
}

static void
format_json(struct line *l, const char *time, enum pj_log_level level,
    const char *event, const char *text)
{
	puts_raw(l, "{");
	if (time != NULL) {
		puts_raw(l, "\"time\":");
		puts_json(l, time);
		puts_raw(l, ",");
	}
	puts_raw(l, "\"level\":");
	puts_json(l, level_names[level]);
	if (state.run_id[0] != '\0') {
		puts_raw(l, ",\"run\":");
		puts_json(l, state.run_id);
	}
	puts_raw(l, ",\"event\":");
	puts_json(l, event);
	puts_raw(l, ",\"msg\":");
	puts_json(l, text);
}

/* One write for the whole line; retried only if interrupted or short. */
static void
write_line(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to report it */
		buf += n;
		len -= (size_t)n;
	}
}

void
pj_log_write(enum pj_log_level level, const char *event, const char *fmt, ...)
{
	struct line l;
	char text[LINE_SIZE], time[32], prio[8];
	bool cut;
	va_list ap;
	int n;

	if (!pj_log_enabled(level))
		return;
	if (!state.journal_known) {
		state.journal = stderr_is_journal();
		state.journal_known = true;
	}
	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		text[0] = '\0';
	cut = n < 0 || (size_t)n >= sizeof(text);

	l.len = 0;
	l.limit = sizeof(l.buf) - TAIL_RESERVE;
	l.truncated = false;
	if (state.journal) {
		snprintf(prio, sizeof(prio), "<%d>", level_priorities[level]);
		puts_raw(&l, prio);
	} else {
		pj_time_iso8601(time, sizeof(time));
	}
	if (state.format == PJ_LOG_JSON) {
		format_json(&l, state.journal ? NULL : time, level,
		    event != NULL ? event : "", text);
	} else {
		if (!state.journal) {
			puts_raw(&l, time);
			puts_raw(&l, " ");
		}
		format_text(&l, level, event != NULL ? event : "", text);
	}

	/* The tail always fits: it has TAIL_RESERVE bytes of its own. */
	cut = cut || l.truncated;
	l.truncated = false;
	l.limit = sizeof(l.buf) - 1;
	if (state.format == PJ_LOG_JSON)
		puts_raw(&l, cut ? ",\"truncated\":true}\n" : "}\n");
	else
		puts_raw(&l, cut ? " truncated=true\n" : "\n");
	write_line(l.buf, l.len);
}
