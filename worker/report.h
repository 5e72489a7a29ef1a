/* The run report: a table for people, one JSON document for programs. */
#ifndef PJ_WORKER_REPORT_H
#define PJ_WORKER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/uuid.h"
#include "config/config.h"
#include "worker/batch_times.h"

#define PJ_MAX_PASSES 16
/* --provider and --consumer entries, together, at most. */
#define PJ_MAX_SCOPE 100
/* A scope uuid's length at most: Placement's uuid columns are 36 wide. */
#define PJ_SCOPE_ID_MAX 36
/* Version of the JSON field contract; bump on any incompatible change. */
#define PJ_REPORT_SCHEMA_VERSION 1

struct pj_pass_report {
	const char *name; /* the pass's name (static) */
	enum pj_mode mode;
	bool ran;         /* false: skipped because an earlier pass stopped */
	size_t found;     /* damaged records seen */
	size_t repaired;  /* records repaired and committed */
	size_t failed;    /* records in batches that failed after retries */
	size_t remaining; /* damage known to remain when the pass ended */
	size_t batches;   /* batch transactions committed */
	size_t retries;   /* batch redos after a retryable error */
	size_t conflicts; /* of those, generation conflicts */
	/* of those, Galera certification failures (deadlock at COMMIT) */
	size_t certification_failures;
	/* committed batch transactions: their times, and how many took
	 * longer than worker.batch_target_ms */
	struct pj_batch_times batch_times;
	size_t batches_over_target;
	double seconds;
	char error[256]; /* the first failure, or "" */
	/* A scoped run: the kinds of entries the pass ran for, "providers",
	 * "consumers" or "providers_and_consumers", or "not_applicable"
	 * (it can find nothing of them, and did not run); NULL unscoped. */
	const char *scope;
};

/* One --provider or --consumer entry, in command-line order. */
struct pj_scope_entry {
	bool consumer;                  /* --consumer, else --provider */
	char uuid[PJ_SCOPE_ID_MAX + 1]; /* as given */
	bool found;                     /* the database holds it */
	/* Resolved by the engine: the provider's id; the consumer's id as
	 * the database spells it (its consumers row, else its allocations). */
	int64_t provider_id;
	char consumer_uuid[PJ_SCOPE_ID_MAX + 1];
	/* The same provider or consumer as an earlier entry: runs once. */
	bool duplicate;
};

struct pj_run_report {
	char run_id[PJ_UUID_LEN];
	const char *command; /* "check", "repair", "run" */
	bool dry_run;
	char started_at[32]; /* ISO 8601, UTC */
	double seconds;
	int exit_code;
	/* NULL, "max_rows", "max_runtime", "signal", "replication" */
	const char *stopped_by;
	char error[256]; /* a failure that ended the run, or "" */
	size_t n_passes;
	struct pj_pass_report passes[PJ_MAX_PASSES];
	/* --provider/--consumer (README: Scope); none: the whole database. */
	size_t n_scope;
	struct pj_scope_entry scope[PJ_MAX_SCOPE];
};

/* Scope entries the database does not hold (they make exit 1). */
size_t pj_report_scope_missing(const struct pj_run_report *r);

/* Aligned columns with a header, then one line on how the run ended. */
void pj_report_table(const struct pj_run_report *r, FILE *out);
/* One JSON document (README: "JSON report"), then a newline. */
void pj_report_json(const struct pj_run_report *r, FILE *out);

#endif
