/* placement-janitor: the command line, the run, and the exit codes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "common/db.h"
#include "common/error.h"
#include "common/log.h"
#include "common/schema.h"
#include "common/strings.h"
#include "common/time.h"
#include "common/uuid.h"
#include "config/config.h"
#include "worker/archive.h"
#include "worker/archive_cmd.h"
#include "worker/cli.h"
#include "worker/engine.h"
#include "worker/grants.h"
#include "worker/report.h"
#include "worker/restore.h"

/* Exit codes: documented in --help and the README, stable forever. */
enum exit_code {
	EXIT_CLEAN = 0,
	EXIT_DAMAGE_REMAINS = 1,
	EXIT_REPAIRS_FAILED = 2,
	EXIT_LOCKED = 3,
	EXIT_USAGE = 64,
	EXIT_SCHEMA = 65,
	EXIT_UNREACHABLE = 69,
	EXIT_INTERNAL = 70,
	EXIT_ACCESS = 77,
	EXIT_CONFIG = 78,
};

/* The one piece of state a signal handler may touch. */
static volatile sig_atomic_t stop_requested;

static void
on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* First SIGINT/SIGTERM: finish or roll back the batch and stop. The
 * handler is then reset, so a second one ends the process at once; the
 * server rolls back the open transaction when the connection drops. */
static void
install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESETHAND; /* no SA_RESTART: sleeps end early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The exit code of a failure that ended a command (not PJ_OK). */
static int
failure_exit(int status)
{
	switch (status) {
	case PJ_ELOCKED:
		return EXIT_LOCKED;
	case PJ_ESCHEMA:
		return EXIT_SCHEMA;
	case PJ_ECONN:
		return EXIT_UNREACHABLE;
	case PJ_EACCESS:
		return EXIT_ACCESS;
	case PJ_ECONFIG:
		return EXIT_CONFIG;
	default:
		return EXIT_INTERNAL;
	}
}

static int
exit_code(int status, const struct pj_run_report *r)
{
	size_t i;
	bool failed = false, remains = r->stopped_by != NULL;

	if (status != PJ_OK)
		return failure_exit(status);
	for (i = 0; i < r->n_passes; i++) {
		failed = failed || r->passes[i].failed > 0;
		remains = remains || r->passes[i].remaining > 0;
	}
	if (failed)
		return EXIT_REPAIRS_FAILED;
	return remains ? EXIT_DAMAGE_REMAINS : EXIT_CLEAN;
}

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
		return EXIT_INTERNAL;
	}
	if (pj_cfg_load(path, cfg, &diag, &err) == PJ_OK)
		return EXIT_CLEAN;
	for (i = 0; i < diag.n; i++)
		fprintf(stderr, "placement-janitor: %s\n", diag.msg[i]);
	if (diag.dropped > 0)
		fprintf(stderr, "placement-janitor: (%zu more problems)\n",
		    diag.dropped);
	if (diag.n == 0)
		fprintf(stderr, "placement-janitor: %s\n", err.msg);
	return EXIT_CONFIG;
}

/* Connects, checks the schema and runs the passes once. */
static int
run_once(const struct pj_cli *cli, const struct pj_config *cfg, bool repair,
    struct pj_run_report *report, struct pj_error *err)
{
	struct pj_run_opts opts;
	struct pj_db *db = NULL;
	char alembic[64];
	int64_t t0 = pj_time_mono_us();
	int rc;

	memset(report, 0, sizeof(*report));
	pj_uuid_generate(report->run_id);
	pj_time_iso8601(report->started_at, sizeof(report->started_at));
	report->command = cli->command_name;
	report->dry_run = !repair || cli->dry_run;
	pj_log_set_run_id(report->run_id);
	pj_log_info("run_start", "command=%s dry_run=%s version=%s",
	    cli->command_name, report->dry_run ? "true" : "false", PJ_VERSION);

	rc = pj_db_connect(&cfg->db, &db, err);
	if (rc)
		goto out;
	rc = pj_schema_verify(db, alembic, sizeof(alembic), err);
	if (rc)
		goto out;
	pj_log_info("connected", "server=\"%s\" alembic=%s",
	    pj_db_server_version(db), alembic);

	memset(&opts, 0, sizeof(opts));
	opts.command = cli->command_name;
	opts.dry_run = report->dry_run;
	opts.only = cli->passes;
	opts.n_only = cli->n_passes;
	opts.stop = &stop_requested;
	rc = pj_engine_run(db, cfg, &opts, report, err);
out:
	if (rc) {
		pj_strlcpy(report->error, err->msg, sizeof(report->error));
		pj_log_error(
		    "run_failed", "status=%s %s", pj_status_name(rc), err->msg);
	}
	pj_db_close(db);
	report->seconds = (double)(pj_time_mono_us() - t0) / 1e6;
	report->exit_code = exit_code(rc, report);
	pj_log_info("run_done", "exit_code=%d seconds=%.3f", report->exit_code,
	    report->seconds);
	return report->exit_code;
}

static void
print_report(const struct pj_config *cfg, const struct pj_run_report *r)
{
	if (cfg->report.format == PJ_REPORT_JSON)
		pj_report_json(r, stdout);
	else
		pj_report_table(r, stdout);
	fflush(stdout);
}

static int
run_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_run_report *report;
	struct pj_error err;
	int code;

	report = calloc(1, sizeof(*report));
	if (report == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return EXIT_INTERNAL;
	}
	install_signals();
	for (;;) {
		memset(&err, 0, sizeof(err));
		code = run_once(
		    cli, cfg, cli->command != PJ_CMD_CHECK, report, &err);
		print_report(cfg, report);
		if (cli->command != PJ_CMD_RUN || stop_requested)
			break;
		pj_time_sleep_ms(cfg->worker.interval_ms);
		if (stop_requested)
			break;
	}
	free(report);
	return code;
}

/* Connects for restore and archive: the schema, then the archive table. */
static int
open_archive(
    const struct pj_config *cfg, struct pj_db **out, struct pj_error *err)
{
	struct pj_db *db = NULL;
	char alembic[64];
	int rc;

	rc = pj_db_connect(&cfg->db, &db, err);
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

static int
restore_exit(int status, const struct pj_restore_report *r)
{
	size_t i;

	if (status != PJ_OK)
		return failure_exit(status);
	if (r->archived == 0)
		return EXIT_USAGE;
	for (i = 0; i < PJ_RESTORE_STEPS; i++) {
		if (r->steps[i].failed > 0)
			return EXIT_REPAIRS_FAILED;
	}
	return r->remaining > 0 || r->stopped ? EXIT_DAMAGE_REMAINS
	                                      : EXIT_CLEAN;
}

static int
restore_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_restore_report *r = calloc(1, sizeof(*r));
	struct pj_restore_opts opts = { cli->run_id,
		cli->n_passes > 0 ? cli->passes[0] : NULL, cli->dry_run,
		&stop_requested };
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	int64_t t0 = pj_time_mono_us();
	int rc, code;

	if (r == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return EXIT_INTERNAL;
	}
	install_signals();
	pj_uuid_generate(r->run_id);
	pj_time_iso8601(r->started_at, sizeof(r->started_at));
	pj_log_set_run_id(r->run_id);
	pj_log_info("restore_start", "target=\"%s\" pass=%s dry_run=%s",
	    cli->run_id, opts.pass != NULL ? opts.pass : "all",
	    cli->dry_run ? "true" : "false");
	rc = open_archive(cfg, &db, &err);
	if (rc == PJ_OK)
		rc = pj_restore_run(db, cfg, &opts, r, &err);
	pj_db_close(db);
	if (rc) {
		pj_strlcpy(r->error, err.msg, sizeof(r->error));
		pj_log_error("restore_failed", "status=%s %s",
		    pj_status_name(rc), err.msg);
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
	fflush(stdout);
	free(r);
	return code;
}

static int
archive_list_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	size_t runs = 0;
	int rc;

	rc = open_archive(cfg, &db, &err);
	if (rc == PJ_OK)
		rc = pj_archive_list(
		    db, cli->run_id, cfg->report.format, stdout, &runs, &err);
	pj_db_close(db);
	fflush(stdout);
	if (rc == PJ_OK)
		return EXIT_CLEAN;
	fprintf(stderr, "placement-janitor: archive list: %s\n", err.msg);
	return failure_exit(rc);
}

static int
archive_purge_command(const struct pj_cli *cli, const struct pj_config *cfg)
{
	struct pj_purge_report r;
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	char run_id[PJ_UUID_LEN];
	int64_t t0 = pj_time_mono_us();
	int rc;

	memset(&r, 0, sizeof(r));
	r.dry_run = cli->dry_run;
	r.older_than_ms = cli->older_than_ms;
	install_signals();
	pj_uuid_generate(run_id);
	pj_log_set_run_id(run_id);
	rc = open_archive(cfg, &db, &err);
	if (rc == PJ_OK)
		rc = pj_archive_purge(db, cfg, &stop_requested, &r, &err);
	pj_db_close(db);
	if (rc) {
		pj_strlcpy(r.error, err.msg, sizeof(r.error));
		pj_log_error("purge_failed", "status=%s %s", pj_status_name(rc),
		    err.msg);
		r.exit_code = failure_exit(rc);
	} else if (r.failed > 0) {
		r.exit_code = EXIT_REPAIRS_FAILED;
	} else {
		r.exit_code = r.stopped ? EXIT_DAMAGE_REMAINS : EXIT_CLEAN;
	}
	r.seconds = (double)(pj_time_mono_us() - t0) / 1e6;
	pj_log_info("purge_done", "purged=%zu exit_code=%d seconds=%.3f",
	    r.purged, r.exit_code, r.seconds);
	if (cfg->report.format == PJ_REPORT_JSON)
		pj_purge_report_json(&r, stdout);
	else
		pj_purge_report_table(&r, stdout);
	fflush(stdout);
	return r.exit_code;
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
		return EXIT_USAGE;
	}
	if (cli.command == PJ_CMD_HELP) {
		pj_cli_usage(stdout);
		return EXIT_CLEAN;
	}
	if (cli.command == PJ_CMD_VERSION) {
		printf("placement-janitor %s\n", PJ_VERSION);
		return EXIT_CLEAN;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fputs("placement-janitor: out of memory\n", stderr);
		return EXIT_INTERNAL;
	}
	code = load_config(&cli, cfg);
	if (code != EXIT_CLEAN)
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
		code = run_command(&cli, cfg);
		break;
	}
out:
	pj_wipe(cfg, sizeof(*cfg));
	free(cfg);
	return code;
}
