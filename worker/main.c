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
#include "worker/cli.h"
#include "worker/engine.h"
#include "worker/grants.h"
#include "worker/report.h"

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

static int
exit_code(int status, const struct pj_run_report *r)
{
	size_t i;
	bool failed = false, remains = r->stopped_by != NULL;

	switch (status) {
	case PJ_OK:
		break;
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
	default:
		code = run_command(&cli, cfg);
		break;
	}
out:
	pj_wipe(cfg, sizeof(*cfg));
	free(cfg);
	return code;
}
