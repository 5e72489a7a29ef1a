/*
 * A progress line for people watching a long pass on a terminal: one
 * self-updating line on stderr with the rows done (of how many, when
 * known), the rate and the time taken. Never drawn on a pipe, a file or
 * the journal, nor when the caller turns it off (JSON report, debug logs).
 */
#ifndef PJ_WORKER_PROGRESS_H
#define PJ_WORKER_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#define PJ_PROGRESS_DELAY_MS 2000   /* passes shorter than this: no line */
#define PJ_PROGRESS_INTERVAL_MS 250 /* at most 4 redraws a second */

/*
 * The caller owns it (on the stack is fine); its fields are public so
 * tests can set the clock and the timings, and are otherwise read only.
 */
struct pj_progress {
	int fd;              /* the terminal, or -1: every call is a no-op */
	int64_t delay_ms;    /* PJ_PROGRESS_DELAY_MS */
	int64_t interval_ms; /* PJ_PROGRESS_INTERVAL_MS */
	int64_t (*now_ms)(void); /* monotonic clock, pj_time_mono_ms */
	char pass[64];           /* the current pass */
	int64_t total;           /* rows expected, or -1: unknown */
	int64_t done;            /* rows done so far */
	int64_t started_ms;      /* when the pass started */
	int64_t drawn_ms;        /* when the line was last drawn */
	bool active;             /* between start and end */
	bool drawn;              /* the line is on the screen */
};

/*
 * Sets p up to draw on fd when enabled is true, fd is a terminal (isatty)
 * and $TERM is not "dumb"; otherwise every later call does nothing.
 */
void pj_progress_init(struct pj_progress *p, int fd, bool enabled);

/* A pass begins: total rows expected, or -1 when unknown. Draws nothing
 * yet. */
void pj_progress_start(struct pj_progress *p, const char *pass, int64_t total);

/*
 * done rows so far (a running count, not an increment). Redraws the line
 * once the pass has run delay_ms and the last draw is interval_ms old:
 * "\r", the text cut to the terminal's width, clear to end of line, and
 * "\r" again, so that a log line written meanwhile starts at column 0 and
 * overwrites it. Write errors are ignored: progress is a courtesy.
 */
void pj_progress_update(struct pj_progress *p, int64_t done);

/* The pass ended: if the line was drawn, draws it a last time and ends it
 * with a newline; a pass that never drew leaves no trace. */
void pj_progress_end(struct pj_progress *p);

#endif
