/* placement-janitor: the command line, the run, and the exit codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "common/db.h"
#include "common/error.h"
#include "common/log.h"
#include "common/runlock.h"
#include "common/schema.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/uuid.h"
#include "config/config.h"
#include "worker/archive.h"
#include "worker/archive_cmd.h"
#include "worker/cli.h"
#include "worker/exitcode.h"
#include "worker/grants.h"
#include "worker/report.h"
#include "worker/restore.h"
#include "worker/run.h"
#include "worker/signals.h"

static int
load_config(const struct pj_cli *cli, struct pj_config *cfg)
{
	struct pj_cfg_diag diag;
	struct pj_error err;
	const char *path = pj_cli_config_path(cli);
	size_t i;

	memset(&diag, 0, sizeof(diag));
	memset(&err, 0, sizeof(err));
	if (pj_cfg_defaults(cfg, &err) != PJ_OK) {
		fprintf(stderr, "placement-janitor: defaults: %s\n", err.msg);
		return PJ_EXIT_INTERNAL;
	}
	if (pj_cfg_load(path, cfg, &diag, &err) == PJ_OK)
		return PJ_EXIT_CLEAN;
	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "placement-janitor: %s\n", diag.msg[i]);
	if (diag.dropped > 0)
		fprintf(stderr, "placement-janitor: (%zu more problems)\n",
		    diag.dropped);
	if (diag.n == 0)
		fprintf(stderr, "placement-janitor: %s\n", err.msg);
	return PJ_EXIT_CONFIG;
}

/*
 * Connects for restore and archive: the schema, then the archive table.
 * A command that writes takes the run locks first, as repair does (the
 * host's lock file, then GET_LOCK on the server; worker.lock), so it never
 * runs beside a repair; *file holds the lock file, the connection the
 * server lock (released when it closes).
 */
static int
open_archive(const struct pj_config *cfg, bool writes, struct pj_db **out,
    struct pj_runlock **file, struct pj_error *err)
{
	const char *dir = cfg->worker.lock_run_dir;
	struct pj_db *db = NULL;
	char alembic[64];
	int rc = PJ_OK;

	writes = writes && cfg->worker.lock_enabled;
	if (writes && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return pj_error_set(err, PJ_ECONFIG,
		    "worker.lock.run_dir %s: %s", dir, strerror(errno));
	if (writes)
		rc = pj_runlock_acquire_file(dir, file, err);
	if (rc == PJ_OK)
		rc = pj_db_connect(&cfg->db, &db, err);
	if (rc == PJ_OK && writes)
		rc = pj_runlock_acquire_db(db, cfg->worker.lock_name,
		    cfg->worker.lock_timeout_ms, err);
	if (rc == PJ_OK)
		rc = pj_schema_verify(db, alembic, sizeof(alembic), err);
	if (rc == PJ_OK)
		rc = pj_archive_check(db, err);
	if (rc == PJ_OK) {
		*out = db;
		db = NULL;
	}
	pj_db_close(db);
	return rc;
}

/* A failure that ended restore or purge: another run's lock is news, not
 * an error (as for repair). */
static void
log_failure(const char *event, int rc, const struct pj_error *err)
{
	if (rc == PJ_ELOCKED)
		pj_log_info("locked", "%s; nothing was done", err->msg);
	else
		pj_log_error(
		    event, "status=%s %s", pj_status_name(rc), err->msg);
}

static int
restore_exit(int status, const struct pj_restore_report *r)
{
	size_t i;

	if (status != PJ_OK)
		return pj_exit_for_status(status);
	if (r->archived == 0)
		return PJ_EXIT_USAGE;
	for (i = 0; i < PJ_RESTORE_STEPS; i++) {
		if (r->steps[i].failed > 0)
			return PJ_EXIT_REPAIRS_FAILED;
	}
	return r->remaining > 0 || r->stopped ? PJ_EXIT_DAMAGE_REMAINS
	                                      : PJ_EXIT_CLEAN;
}

static int
restore_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_restore_report *r = calloc(1, sizeof(*r));
	struct pj_restore_opts opts = { cli->run_id,
		cli->n_passes > 0 ? cli->passes[0] : NULL, cli->dry_run,
		pj_signals_stop_flag() };
	struct pj_error err = { 0 };
	struct pj_runlock *file = NULL;
	struct pj_db *db = NULL;
	int64_t t0 = pj_time_mono_us();
	int rc, code;

	if (r == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return PJ_EXIT_INTERNAL;
	}
	pj_signals_install();
	pj_uuid_generate(r->run_id);
	pj_time_iso8601(r->started_at, sizeof(r->started_at));
	pj_log_set_run_id(r->run_id);
	pj_log_info("restore_start", "target=\"%s\" pass=%s dry_run=%s",
	    cli->run_id, opts.pass != NULL ? opts.pass : "all",
	    cli->dry_run ? "true" : "false");
	rc = open_archive(cfg, !cli->dry_run, &db, &file, &err);
	if (rc == PJ_OK)
		rc = pj_restore_run(db, cfg, &opts, r, &err);
	pj_db_close(db);
	pj_runlock_release_file(file);
	if (rc) {
		pj_strlcpy(r->error, err.msg, sizeof(r->error));
		log_failure("restore_failed", rc, &err);
	} else if (r->archived == 0) {
		fprintf(stderr,
		    "placement-janitor: run %s archived nothing%s%s "
		    "(see archive list)\n",
		    cli->run_id, opts.pass != NULL ? " for pass " : "",
		    opts.pass != NULL ? opts.pass : "");
	}
	r->seconds = (double)(pj_time_mono_us() - t0) / 1e6;
	code = r->exit_code = restore_exit(rc, r);
	pj_log_info(
	    "restore_done", "exit_code=%d seconds=%.3f", code, r->seconds);
	if (cfg->report.format == PJ_REPORT_JSON)
		pj_restore_report_json(r, stdout);
	else
		pj_restore_report_table(r, stdout);
	free(r);
	return pj_exit_after_report(code);
}

static int
archive_list_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	size_t runs = 0;
	int rc;

	rc = open_archive(cfg, false, &db, NULL, &err);
	if (rc == PJ_OK)
		rc = pj_archive_list(
		    db, cli->run_id, cfg->report.format, stdout, &runs, &err);
	pj_db_close(db);
	if (rc == PJ_OK)
		return pj_exit_after_report(PJ_EXIT_CLEAN);
	fprintf(stderr, "placement-janitor: archive list: %s\n", err.msg);
	return pj_exit_for_status(rc);
}

static int
archive_purge_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_purge_report r;
	struct pj_error err = { 0 };
	struct pj_runlock *file = NULL;
	struct pj_db *db = NULL;
	char run_id[PJ_UUID_LEN];
	int64_t t0 = pj_time_mono_us();
	int rc;

	memset(&r, 0, sizeof(r));
	r.dry_run = cli->dry_run;
	r.older_than_ms = cli->older_than_ms;
	pj_signals_install();
	pj_uuid_generate(run_id);
	pj_log_set_run_id(run_id);
	rc = open_archive(cfg, !cli->dry_run, &db, &file, &err);
	if (rc == PJ_OK)
		rc =
		    pj_archive_purge(db, cfg, pj_signals_stop_flag(), &r, &err);
	pj_db_close(db);
	pj_runlock_release_file(file);
	if (rc) {
		pj_strlcpy(r.error, err.msg, sizeof(r.error));
		log_failure("purge_failed", rc, &err);
		r.exit_code = pj_exit_for_status(rc);
	} else if (r.failed > 0) {
		r.exit_code = PJ_EXIT_REPAIRS_FAILED;
	} else {
		r.exit_code =
		    r.stopped ? PJ_EXIT_DAMAGE_REMAINS : PJ_EXIT_CLEAN;
	}
	r.seconds = (double)(pj_time_mono_us() - t0) / 1e6;
	pj_log_info("purge_done", "purged=%zu exit_code=%d seconds=%.3f",
	    r.purged, r.exit_code, r.seconds);
	if (cfg->report.format == PJ_REPORT_JSON)
		pj_purge_report_json(&r, stdout);
	else
		pj_purge_report_table(&r, stdout);
	return pj_exit_after_report(r.exit_code);
}

int
main(int argc, char **argv)
{
	struct pj_config *cfg = NULL;
	struct pj_error err;
	struct pj_cli cli;
	int code;

	/* No core dump may hold the password this process will read. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	memset(&err, 0, sizeof(err));
	if (pj_cli_parse(argc, argv, &cli, &err) != PJ_OK) {
		fprintf(stderr, "placement-janitor: %s\n", err.msg);
		return PJ_EXIT_USAGE;
	}
	if (cli.command == PJ_CMD_HELP) {
		pj_cli_usage(stdout);
		return PJ_EXIT_CLEAN;
	}
	if (cli.command == PJ_CMD_VERSION) {
		printf("placement-janitor %s\n", PJ_VERSION);
		return PJ_EXIT_CLEAN;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return PJ_EXIT_INTERNAL;
	}
	code = load_config(&cli, cfg);
	if (code != PJ_EXIT_CLEAN)
		goto out;
	pj_cli_apply(&cli, cfg);
	pj_log_setup(
	    cfg->logging.level, cfg->logging.format, cfg->logging.redact_uuids);
	switch (cli.command) {
	case PJ_CMD_CONFIG_CHECK:
		pj_cfg_print(cfg, stdout);
		break;
	case PJ_CMD_GRANTS:
		pj_grants_print(cfg, stdout);
		break;
	case PJ_CMD_RESTORE:
		code = restore_command(&cli, cfg);
		break;
	case PJ_CMD_ARCHIVE_LIST:
		code = archive_list_command(&cli, cfg);
		break;
	case PJ_CMD_ARCHIVE_PURGE:
		code = archive_purge_command(&cli, cfg);
		break;
	default:
		code = pj_run_command(&cli, cfg);
		break;
	}
out:
	pj_wipe(cfg, sizeof(*cfg));
	free(cfg);
	return code;
}
