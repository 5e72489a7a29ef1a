/*
 * The batch engine: runs the enabled passes one after another, each as a
 * loop of short transactions (find, then BEGIN, repair_batch, COMMIT),
 * with retries, limits, dry run and counting in this one place.
 */
#ifndef PJ_WORKER_ENGINE_H
#define PJ_WORKER_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"
#include "common/error.h"
#include "config/config.h"
#include "worker/progress.h"
#include "worker/report.h"

struct pj_run_opts {
	const char *command; /* "check", "repair" or "run": for the report */
	bool dry_run;        /* find and count only: no write, no lock */
	/* Only these passes (names given with --pass), or all when n_only
	 * is 0. Names were checked against the registry by the caller. */
	const char *const *only;
	size_t n_only;
	/* Set by a signal handler: finish or roll back the batch, stop. */
	volatile sig_atomic_t *stop;
	/* The GET_LOCK run lock this run holds, taken again after every
	 * reconnect (a lock dies with its connection), or NULL. */
	const char *db_lock_name;
	/* A terminal progress line, or NULL. */
	struct pj_progress *progress;
};

/*
 * Runs every selected pass whose mode is not off on db, filling report
 * (run_id and started_at must be set by the caller). Returns PJ_OK when
 * every pass ran to its end or to a limit, even if batches failed (they
 * are counted); otherwise the status of the failure that stopped the run
 * (connection gone past retries, access denied, schema), with err set and
 * the report holding what was done until then.
 */
int pj_engine_run(struct pj_db *db, const struct pj_config *cfg,
    const struct pj_run_opts *opts, struct pj_run_report *report,
    struct pj_error *err) PJ_MUSTCHECK;

#endif
