/* The archive for its operator: `archive list` and `archive purge`. */
#ifndef PJ_WORKER_ARCHIVE_CMD_H
#define PJ_WORKER_ARCHIVE_CMD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/db.h"
#include "common/error.h"
#include "config/config.h"

/* Version of the list and purge JSON documents. */
#define PJ_ARCHIVE_SCHEMA_VERSION 1

/*
 * Writes the archived runs (only run_id's when not NULL), oldest first:
 * each run's time span, rows and rows restored, then its counts per pass,
 * table and action; a table, or one JSON document. The whole listing is
 * read before anything is written. *runs counts the runs listed.
 */
int pj_archive_list(struct pj_db *db, const char *run_id,
    enum pj_report_format format, FILE *out, size_t *runs,
    struct pj_error *err) PJ_MUSTCHECK;

struct pj_purge_report {
	bool dry_run;
	int64_t older_than_ms;
	char cutoff[40]; /* rows archived before this (UTC) go; "" if none */
	size_t purged;   /* deleted (dry run: would be) */
	size_t failed;   /* rows in batches that failed after retries */
	size_t batches, retries;
	bool stopped; /* a signal ended it early */
	double seconds;
	int exit_code;
	char error[256];
};

/*
 * Deletes the archive rows archived more than older_than_ms ago, in
 * keyset batches over the id (worker.batch_size rows, one transaction
 * each, retried as restore's are); with dry_run only counts them. Fills r
 * (the caller sets dry_run, older_than_ms). PJ_OK unless a failure ended
 * it (connection lost past retries, access denied): err says why.
 */
int pj_archive_purge(struct pj_db *db, const struct pj_config *cfg,
    const volatile sig_atomic_t *stop, struct pj_purge_report *r,
    struct pj_error *err) PJ_MUSTCHECK;

void pj_purge_report_table(const struct pj_purge_report *r, FILE *out);
void pj_purge_report_json(const struct pj_purge_report *r, FILE *out);

#endif
