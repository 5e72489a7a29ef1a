/*
 * Metrics of a finished run for node_exporter's textfile collector: one
 * .prom file replaced atomically after each run, so Prometheus can alert on
 * a run that failed, found damage, or has not succeeded for too long.
 */
#ifndef PJ_WORKER_METRICS_H
#define PJ_WORKER_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/attr.h"
#include "common/error.h"
#include "worker/report.h"

/* node_exporter reads only files with this suffix. */
#define PJ_METRICS_SUFFIX ".prom"

/* True for the exit codes of a run that did its work (0 and 1: clean, or
 * damage remains); such a run moves last_success_timestamp_seconds. */
bool pj_metrics_run_succeeded(int exit_code);

/*
 * Writes the metrics of run r in the Prometheus text exposition format:
 * for each metric a HELP and a TYPE line (all gauges: the values are this
 * run's, not running totals), then its samples; per-pass metrics carry a
 * pass label. finished_at_s and last_success_s are Unix times in seconds
 * (last_success_s 0: never). Cannot fail beyond out's own error state.
 */
void pj_metrics_format(const struct pj_run_report *r, int64_t finished_at_s,
    int64_t last_success_s, FILE *out);

/*
 * The placement_janitor_last_success_timestamp_seconds value in the
 * metrics file at path, or 0 when there is no such file, no such line, or
 * the file is not a regular file (never followed through a symlink).
 */
int64_t pj_metrics_last_success(const char *path);

/*
 * Replaces the file at path (which must end in PJ_METRICS_SUFFIX) with the
 * metrics of run r: writes "<path>.<pid>.tmp" in the same directory
 * (created with O_EXCL and O_NOFOLLOW, so nothing planted there is
 * followed or reused), mode 0644 whatever the umask, fsyncs it and renames
 * it over path, so readers see the old file or the new one, never a part.
 * last_success_timestamp_seconds is finished_at_s when the run succeeded
 * (pj_metrics_run_succeeded), else the value kept in the old file.
 * Do not call it from a run that found the run lock held (exit 3): the
 * holder writes the file.
 *
 * PJ_EINVAL for a bad path; PJ_EIO when a file operation fails (the
 * message names the file; the temporary file is removed and the old file
 * left as it was); PJ_ENOMEM.
 */
int pj_metrics_write(const char *path, const struct pj_run_report *r,
    int64_t finished_at_s, struct pj_error *err) PJ_MUSTCHECK;

#endif
