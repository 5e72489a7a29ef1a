/* Operating the worker: signals, a server that stays down, SIGHUP reload
 * in `run` mode, and the metrics file, against the sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define DB "pj_it_operations"

struct proc {
	pid_t pid;
	char out[64], err[64]; /* temp files holding its output */
};

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

/* Starts the worker in the background, its output in two temp files. */
static void
spawn(struct proc *p, const char *config, const char *const *args)
{
	const char *argv[16] = { PJ_BINARY, "--config", config, "--format",
		"json", "--pass", "incomplete_consumers" };
	size_t n = 7;
	int fd;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(p->out, sizeof(p->out), "/tmp/pj-ops-out-XXXXXX");
	snprintf(p->err, sizeof(p->err), "/tmp/pj-ops-err-XXXXXX");
	fd = mkstemp(p->out);
	assert_true(fd >= 0);
	close(fd);
	fd = mkstemp(p->err);
	assert_true(fd >= 0);
	close(fd);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		if (freopen(p->out, "w", stdout) == NULL ||
		    freopen(p->err, "w", stderr) == NULL)
			_exit(126);
		execv(PJ_BINARY, (char *const *)argv);
		_exit(127);
	}
}

/* Waits at most limit_ms for the worker; its exit code, or -1 if it is
 * still running then. */
static int
wait_for(struct proc *p, long long limit_ms)
{
	long long deadline = h_now_ms() + limit_ms;
	int status;

	while (h_now_ms() < deadline) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status)
			                         : 128 + WTERMSIG(status);
		usleep(20 * 1000);
	}
	return -1;
}

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

static void
proc_cleanup(struct proc *p)
{
	unlink(p->out);
	unlink(p->err);
}

/* SIGTERM mid-run: the batch in flight finishes or rolls back, the report
 * says "signal", the process is gone within 3 s, and every consumer made
 * is counted; a second run finishes the job. */
static void
operations_sigterm_stops_cleanly(void **state)
{
	char *cfg = h_config(DB, "worker:\n  sleep_between_batches: 20ms\n");
	const char *args[] = { "--batch-size", "50", "repair", NULL };
	const char *again[] = { "repair", NULL };
	long long t0, repaired, made;
	struct proc p;
	char *out;
	int code;

	(void)state;
	seed(20000);
	spawn(&p, cfg, args);
	usleep(1500 * 1000);
	t0 = h_now_ms();
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	code = wait_for(&p, 3000);
	if (code < 0) {
		kill(p.pid, SIGKILL);
		fail_msg("still running 3 s after SIGTERM");
	}
	print_message(
	    "exited %d in %lld ms after SIGTERM\n", code, h_now_ms() - t0);
	assert_int_equal(code, 1);
	out = slurp(p.out);
	assert_non_null(strstr(out, "\"stopped_by\":\"signal\""));
	repaired = atoll(strstr(out, "\"repaired\":") + 11);
	made = h_query_int(DB, "SELECT COUNT(*) FROM consumers");
	/* No half batch: what exists is exactly what was reported. */
	assert_int_equal(made, repaired);
	assert_true(repaired > 0 && repaired < 20000);
	free(out);
	proc_cleanup(&p);
	spawn(&p, cfg, again);
	assert_int_equal(wait_for(&p, 120000), 0);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 20000);
	proc_cleanup(&p);
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
	const char *args[] = { "--batch-size", "20", "repair", NULL };
	struct proc p;
	char *err;
	int code, rc;

	(void)state;
	seed(3000);
	spawn(&p, cfg, args);
	usleep(700 * 1000);
	rc = system("bash " PJ_SOURCE_DIR "/scripts/sandbox-db.sh stop");
	code = wait_for(&p, 30000);
	if (code < 0)
		kill(p.pid, SIGKILL);
	/* The server comes back before any assertion can end the test. */
	assert_int_equal(
	    system("bash " PJ_SOURCE_DIR "/scripts/sandbox-db.sh start"), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(code, 69);
	err = slurp(p.err);
	assert_non_null(strstr(err, "event=reconnect_failed"));
	free(err);
	proc_cleanup(&p);
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
	const char *args[] = { "run", NULL };
	char *good, *err;
	struct proc p;
	FILE *f;
	size_t n;

	(void)state;
	seed(10);
	f = fopen(cfg, "r");
	assert_non_null(f);
	good = calloc(1, 4096);
	assert_non_null(good);
	n = fread(good, 1, 4095, f);
	good[n] = '\0';
	fclose(f);
	spawn(&p, cfg, args);
	usleep(1200 * 1000);
	write_config(cfg, "worker:\n  interval: [\n");
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	usleep(1500 * 1000);
	assert_int_equal(wait_for(&p, 10), -1); /* still running */
	write_config(cfg, good);
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	usleep(1500 * 1000);
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_true(wait_for(&p, 3000) >= 0);
	err = slurp(p.err);
	assert_non_null(strstr(err, "event=config_reload_failed"));
	assert_non_null(strstr(err, "event=config_reloaded"));
	free(err);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 10);
	free(good);
	proc_cleanup(&p);
	free(cfg);
}

/* report.metrics_file: written after the run, mode 0644. */
static void
operations_metrics_file(void **state)
{
	char yaml[256], path[64] = "/tmp/pj-ops-metrics-XXXXXX";
	const char *args[] = { "repair", NULL };
	char *cfg, *text, file[96];
	struct proc p;

	(void)state;
	assert_non_null(mkdtemp(path));
	snprintf(file, sizeof(file), "%s/janitor.prom", path);
	snprintf(yaml, sizeof(yaml), "report:\n  metrics_file: %s\n", file);
	cfg = h_config(DB, yaml);
	seed(7);
	spawn(&p, cfg, args);
	assert_int_equal(wait_for(&p, 30000), 0);
	text = slurp(file);
	assert_non_null(strstr(text,
	    "placement_janitor_pass_repaired{pass=\"incomplete_consumers\"} 7"));
	assert_non_null(strstr(text, "placement_janitor_exit_code 0"));
	free(text);
	unlink(file);
	rmdir(path);
	proc_cleanup(&p);
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
