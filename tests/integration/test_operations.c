/* Operating the worker: signals, a server that stays down, SIGHUP reload
 * in `run` mode, and the metrics file, against the sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define DB "pj_it_operations"

static void
seed(int incomplete)
{
	char sql[512];

	h_reset_db(DB);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1,"
	    " CONCAT('gone-', LPAD(seq, 8, '0')), 0, 1 FROM seq_1_to_%d;",
	    incomplete);
	h_sql(DB, sql);
}

/* The worker in the background with --config config --format json and
 * args (NULL-ended). */
static struct h_proc
spawn(const char *config, const char *const *args)
{
	const char *argv[16];

	h_json_argv(argv, config, args);
	return h_start(argv, NULL, (uid_t)-1);
}

/* A file's text (caller frees). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, (1 << 20) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* SIGTERM mid-run: the batch in flight finishes or rolls back, the report
 * says "signal", the process is gone within 3 s, and every consumer made
 * is counted; a second run finishes the job. */
static void
operations_sigterm_stops_cleanly(void **state)
{
	char *cfg = h_config(DB, "worker:\n  sleep_between_batches: 20ms\n");
	const char *args[] = { "--pass", "incomplete_consumers", "--batch-size",
		"50", "repair", NULL };
	const char *again[] = { "--pass", "incomplete_consumers", "repair",
		NULL };
	long long t0, repaired, made;
	struct h_proc p;
	struct h_result r;

	(void)state;
	seed(20000);
	p = spawn(cfg, args);
	h_proc_read(&p, 1500);
	t0 = h_now_ms();
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	if (!h_proc_wait_exit(&p, 3000)) {
		kill(p.pid, SIGKILL);
		fail_msg("still running 3 s after SIGTERM");
	}
	r = h_finish(&p);
	print_message("exited %d in %lld ms after SIGTERM\n", r.exit_code,
	    h_now_ms() - t0);
	h_expect_exit(&r, 1, "repair stopped by SIGTERM");
	assert_non_null(strstr(r.out, "\"stopped_by\":\"signal\""));
	repaired = h_json_field(r.out, "repaired");
	made = h_query_int(DB, "SELECT COUNT(*) FROM consumers");
	/* No half batch: what exists is exactly what was reported. */
	assert_int_equal(made, repaired);
	assert_true(repaired > 0 && repaired < 20000);
	h_result_free(&r);
	r = h_run_json(cfg, again);
	h_expect_exit(&r, 0, "the second repair");
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 20000);
	free(cfg);
}

/* The server goes away and stays away past worker.reconnect_deadline:
 * exit 69 with the reason, nothing half-done. */
static void
operations_server_down_past_deadline(void **state)
{
	char *cfg = h_config_db(DB, "  connect_timeout: 1s\n",
	    "worker:\n  sleep_between_batches: 50ms\n"
	    "  retry_backoff: 100ms\n  reconnect_deadline: 2s\n");
	const char *args[] = { "--pass", "incomplete_consumers", "--batch-size",
		"20", "repair", NULL };
	struct h_proc p;
	struct h_result r;
	int rc;

	(void)state;
	seed(3000);
	p = spawn(cfg, args);
	h_proc_read(&p, 700);
	rc = system("bash " PJ_SOURCE_DIR "/scripts/sandbox-db.sh stop");
	if (!h_proc_wait_exit(&p, 30000))
		kill(p.pid, SIGKILL);
	r = h_finish(&p);
	/* The server comes back before any assertion can end the test. */
	assert_int_equal(
	    system("bash " PJ_SOURCE_DIR "/scripts/sandbox-db.sh start"), 0);
	assert_int_equal(rc, 0);
	h_expect_exit(&r, 69, "repair with the server down");
	h_expect_log(&r, "event=reconnect_failed", true);
	h_result_free(&r);
	free(cfg);
}

static void
write_config(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* `run` with a broken config on SIGHUP keeps the old one and goes on; a
 * good one is taken; SIGTERM ends it. */
static void
operations_sighup_reload(void **state)
{
	char *cfg = h_config(DB, "worker:\n  interval: 1s\n");
	const char *args[] = { "--pass", "incomplete_consumers", "run", NULL };
	struct h_proc p;
	struct h_result r;
	char *good;

	(void)state;
	seed(10);
	good = slurp(cfg);
	p = spawn(cfg, args);
	h_proc_read(&p, 1200);
	write_config(cfg, "worker:\n  interval: [\n");
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	assert_false(h_proc_wait_exit(&p, 1500)); /* still running */
	write_config(cfg, good);
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	h_proc_read(&p, 1500);
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_true(h_proc_wait_exit(&p, 3000));
	r = h_finish(&p);
	h_expect_log(&r, "event=config_reload_failed", true);
	h_expect_log(&r, "event=config_reloaded", true);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 10);
	free(good);
	free(cfg);
}

/* report.metrics_file: written after the run, mode 0644. */
static void
operations_metrics_file(void **state)
{
	char yaml[256], path[64] = "/tmp/pj-ops-metrics-XXXXXX";
	const char *args[] = { "--pass", "incomplete_consumers", "repair",
		NULL };
	char *cfg, *text, file[96];
	struct h_result r;

	(void)state;
	assert_non_null(mkdtemp(path));
	snprintf(file, sizeof(file), "%s/janitor.prom", path);
	snprintf(yaml, sizeof(yaml), "report:\n  metrics_file: %s\n", file);
	cfg = h_config(DB, yaml);
	seed(7);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair writing metrics");
	h_result_free(&r);
	text = slurp(file);
	assert_non_null(strstr(text,
	    "placement_janitor_pass_repaired{pass=\"incomplete_consumers\"} 7"));
	assert_non_null(strstr(text, "placement_janitor_exit_code 0"));
	free(text);
	unlink(file);
	rmdir(path);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(operations_sigterm_stops_cleanly),
		cmocka_unit_test(operations_server_down_past_deadline),
		cmocka_unit_test(operations_sighup_reload),
		cmocka_unit_test(operations_metrics_file),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
