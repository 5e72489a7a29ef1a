/* The run report: a table for people, one JSON document for programs. */
#ifndef PJ_WORKER_REPORT_H
#define PJ_WORKER_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/uuid.h"
#include "config/config.h"

#define PJ_MAX_PASSES 16
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
	double seconds;
	char error[256]; /* the first failure, or "" */
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
};

/* Aligned columns with a header, then one line on how the run ended. */
void pj_report_table(const struct pj_run_report *r, FILE *out);
/* One JSON document (README: "JSON report"), then a newline. */
void pj_report_json(const struct pj_run_report *r, FILE *out);

#endif
