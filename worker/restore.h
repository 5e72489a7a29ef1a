/*
 * Restore: puts back the rows one run archived (worker/archive.h) in short
 * locked batches, never overwriting a row that is in use or changed since.
 */
#ifndef PJ_WORKER_RESTORE_H
#define PJ_WORKER_RESTORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/db.h"
#include "common/error.h"
#include "common/uuid.h"
#include "config/config.h"

/* The (table, action) pairs restore knows, in the order it takes them. */
#define PJ_RESTORE_STEPS 7
/* Version of the restore JSON document; bump on an incompatible change. */
#define PJ_RESTORE_SCHEMA_VERSION 1

struct pj_restore_opts {
	const char *run_id; /* the run whose archived rows to put back */
	const char *pass;   /* only rows this pass archived, or NULL: all */
	bool dry_run;       /* count only: no write, no lock */
	/* Set by a signal handler: finish or roll back the batch, stop. */
	volatile sig_atomic_t *stop;
};

struct pj_restore_step {
	const char *table;  /* static */
	const char *action; /* "delete" (insert it again) or "update" */
	size_t found;       /* archive rows not restored yet, seen */
	size_t restored;    /* put back (with dry_run: would be) */
	size_t key_taken;   /* delete rows whose key is in use now */
	size_t changed;     /* update rows whose row is gone or moved on */
	size_t failed;      /* rows in batches that failed after retries */
	size_t bumped;      /* consumer and provider generations moved */
	size_t batches;     /* batch transactions committed */
	size_t retries;     /* batch redos */
};

struct pj_restore_report {
	char run_id[PJ_UUID_LEN]; /* this restore's own id, as in its logs */
	char target[PJ_UUID_LEN]; /* the run being restored */
	const char *pass;         /* the filter, or NULL */
	bool dry_run;
	char started_at[32]; /* ISO 8601, UTC */
	double seconds;
	int exit_code;
	bool stopped;     /* a signal ended it early */
	size_t archived;  /* archive rows of the run (and pass) */
	size_t already;   /* of those, restored before this restore */
	size_t other;     /* rows of a table or action restore cannot take */
	size_t remaining; /* not restored at the end (dry run: would not be) */
	struct pj_restore_step steps[PJ_RESTORE_STEPS];
	char error[256]; /* a failure that ended the restore, or "" */
};

/*
 * Restores the archived rows of opts->run_id on db (schema and archive
 * table checked by the caller), filling r (run_id, started_at set by the
 * caller). Per step and pass, batches of worker.batch_size archive rows,
 * each one transaction: lock the archive rows and the target keys, put
 * back the rows that can be (a free key for "delete", the same generation
 * for "update"), mark them restored, bump the generation of surviving
 * consumers and providers whose allocations, inventories or links came
 * back. r->archived is 0 when the run archived nothing (for the pass).
 * Returns PJ_OK when every batch ran (some may have failed: counted);
 * otherwise the status that ended it (connection lost past retries,
 * access denied), with err set and r holding what was done.
 */
int pj_restore_run(struct pj_db *db, const struct pj_config *cfg,
    const struct pj_restore_opts *opts, struct pj_restore_report *r,
    struct pj_error *err) PJ_MUSTCHECK;

/* The restore report: aligned table, or one JSON document. */
void pj_restore_report_table(const struct pj_restore_report *r, FILE *out);
void pj_restore_report_json(const struct pj_restore_report *r, FILE *out);

#endif
