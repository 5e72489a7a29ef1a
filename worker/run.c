/* check / repair / run: locks, one run of the passes, report, metrics. */
#include "worker/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/db.h"
#include "common/log.h"
#include "common/runlock.h"
#include "common/schema.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/uuid.h"
#include "worker/engine.h"
#include "worker/exitcode.h"
#include "worker/metrics.h"
#include "worker/progress.h"
#include "worker/report.h"
#include "worker/signals.h"

struct runner {
	const struct pj_cli *cli;
	struct pj_config *cfg;
	struct pj_run_report report;
	struct pj_progress progress;
	struct pj_runlock *file_lock;
};

/* Only runs that may write take the run locks; check never waits. */
static bool
writes(const struct runner *r)
{
	return r->cli->command != PJ_CMD_CHECK && !r->cli->dry_run;
}

/* The host's lock file, in a run directory made private if missing. */
static int
lock_host(struct runner *r, struct pj_error *err)
{
	const char *dir = r->cfg->worker.lock_run_dir;

	if (!r->cfg->worker.lock_enabled || !writes(r))
		return PJ_OK;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pj_error_set(err, PJ_ECONFIG,
		    "worker.lock.run_dir %s: %s", dir, strerror(errno));
	return pj_runlock_acquire_file(dir, &r->file_lock, err);
}

static int
run_passes(struct runner *r, struct pj_db *db, struct pj_error *err)
{
	const struct pj_config *cfg = r->cfg;
	struct pj_run_opts opts;
	char alembic[64];
	int rc;

	rc = pj_schema_verify(db, alembic, sizeof(alembic), err);
	if (rc)
		return rc;
	pj_log_info("connected",
	    "server=\"%s\" endpoint=\"%s\" alembic=%s tls=%s",
	    pj_db_server_version(db), pj_db_endpoint(db), alembic,
	    pj_db_tls_cipher(db)[0] != '\0' ? pj_db_tls_cipher(db) : "none");
	memset(&opts, 0, sizeof(opts));
	if (cfg->worker.lock_enabled && writes(r)) {
		rc = pj_runlock_acquire_db(db, cfg->worker.lock_name,
		    cfg->worker.lock_timeout_ms, err);
		if (rc)
			return rc;
		opts.db_lock_name = cfg->worker.lock_name;
	}
	opts.command = r->cli->command_name;
	opts.dry_run = r->report.dry_run;
	opts.only = r->cli->passes;
	opts.n_only = r->cli->n_passes;
	opts.stop = pj_signals_stop_flag();
	opts.progress = &r->progress;
	rc = pj_engine_run(db, cfg, &opts, &r->report, err);
	if (opts.db_lock_name != NULL)
		pj_runlock_release_db(db, opts.db_lock_name);
	return rc;
}

/* --provider and --consumer into the report; the engine looks them up. */
static void
copy_scope(const struct pj_cli *cli, struct pj_run_report *report)
{
	size_t i;

	for (i = 0; i < cli->n_scope && i < PJ_MAX_SCOPE; i++) {
		report->scope[i].consumer = cli->scope[i].consumer;
		pj_strlcpy(report->scope[i].uuid, cli->scope[i].uuid,
		    sizeof(report->scope[i].uuid));
	}
	report->n_scope = i;
}

/* One round: connect, run the passes, fill the report. */
static int
run_once(struct runner *r)
{
	struct pj_run_report *report = &r->report;
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	int64_t t0 = pj_time_mono_us();
	int rc;

	memset(report, 0, sizeof(*report));
	copy_scope(r->cli, report);
	pj_uuid_generate(report->run_id);
	pj_time_iso8601(report->started_at, sizeof(report->started_at));
	report->command = r->cli->command_name;
	report->dry_run = !writes(r);
	pj_log_set_run_id(report->run_id);
	pj_log_info("run_start", "command=%s dry_run=%s version=%s",
	    r->cli->command_name, report->dry_run ? "true" : "false",
	    PJ_VERSION);
	rc = pj_db_connect(&r->cfg->db, &db, &err);
	if (rc == PJ_OK)
		rc = run_passes(r, db, &err);
	pj_db_close(db);
	if (rc == PJ_ELOCKED) {
		pj_log_info("locked", "%s; nothing was done", err.msg);
	} else if (rc) {
		pj_strlcpy(report->error, err.msg, sizeof(report->error));
		pj_log_error(
		    "run_failed", "status=%s %s", pj_status_name(rc), err.msg);
	}
	report->seconds = (double)(pj_time_mono_us() - t0) / 1e6;
	report->exit_code = pj_exit_for_run(rc, report);
	pj_log_info("run_done", "exit_code=%d seconds=%.3f", report->exit_code,
	    report->seconds);
	return rc;
}

/* Prints the round's report; returns the exit code, 70 if it was lost. */
static int
print_report(const struct runner *r)
{
	if (r->cfg->report.format == PJ_REPORT_JSON)
		pj_report_json(&r->report, stdout);
	else
		pj_report_table(&r->report, stdout);
	return pj_exit_after_report(r->report.exit_code);
}

static void
write_metrics(const struct runner *r)
{
	struct pj_error err = { 0 };

	if (r->cfg->report.metrics_file[0] == '\0' ||
	    r->report.exit_code == PJ_EXIT_LOCKED)
		return;
	if (pj_metrics_write(r->cfg->report.metrics_file, &r->report,
	        pj_time_wall_s(), &err) != PJ_OK)
		pj_log_warn("metrics_failed", "%s", err.msg);
}

/* SIGHUP in `run`: the new file replaces the config only if it is good. */
static void
reload(struct runner *r)
{
	struct pj_config *next = calloc(1, sizeof(*next));
	struct pj_cfg_diag *diag = calloc(1, sizeof(*diag));
	struct pj_error err = { 0 };
	size_t i;

	if (next == NULL || diag == NULL) {
		pj_log_error("config_reload_failed", "out of memory");
		goto out;
	}
	if (pj_cfg_defaults(next, &err) != PJ_OK ||
	    pj_cfg_load(r->cfg->path, next, diag, &err) != PJ_OK) {
		for (i = 0; i < diag->n; i++)
			pj_log_error("config_reload_failed", "problem=\"%s\"",
			    diag->msg[i]);
		pj_log_error("config_reload_failed",
		    "keeping the running config: %s", err.msg);
		goto out;
	}
	pj_cli_apply(r->cli, next);
	memcpy(r->cfg, next, sizeof(*next));
	pj_log_setup(r->cfg->logging.level, r->cfg->logging.format,
	    r->cfg->logging.redact_uuids);
	pj_log_info("config_reloaded", "file=\"%s\"", r->cfg->path);
out:
	if (next != NULL)
		pj_wipe(next, sizeof(*next));
	free(next);
	free(diag);
}

int
pj_run_command(const struct pj_cli *cli, struct pj_config *cfg)
{
	struct runner *r = calloc(1, sizeof(*r));
	volatile sig_atomic_t *stop = pj_signals_stop_flag();
	struct pj_error err = { 0 };
	int rc, code;

	if (r == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return PJ_EXIT_INTERNAL;
	}
	r->cli = cli;
	r->cfg = cfg;
	pj_signals_install();
	rc = lock_host(r, &err);
	if (rc) {
		if (rc == PJ_ELOCKED)
			pj_log_info("locked", "%s; nothing was done", err.msg);
		else
			pj_log_error("lock_failed", "%s", err.msg);
		free(r);
		return pj_exit_for_status(rc);
	}
	for (;;) {
		pj_progress_init(&r->progress, STDERR_FILENO,
		    cfg->report.format == PJ_REPORT_TABLE &&
		        cfg->logging.level < PJ_LOG_DEBUG);
		rc = run_once(r);
		code = r->report.exit_code;
		if (rc != PJ_ELOCKED || cfg->report.format == PJ_REPORT_JSON)
			code = print_report(r);
		write_metrics(r);
		if (cli->command != PJ_CMD_RUN || *stop)
			break;
		pj_time_sleep_ms(cfg->worker.interval_ms);
		if (*stop)
			break;
		if (pj_signals_take_reload())
			reload(r);
	}
	pj_runlock_release_file(r->file_lock);
	free(r);
	return code;
}
