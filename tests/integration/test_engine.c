/* The engine's retries, limits, verbosity and fatal errors, end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define DB "pj_it_engine"

/* Locks every 'gone-%' allocation, as a slow API request would. */
static const char SQL_HOLD[] =
    "SELECT COUNT(*) FROM allocations WHERE consumer_id LIKE 'gone-%'"
    " FOR UPDATE";

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

/* Holds SQL_HOLD's locks for hold_ms, then rolls back. */
static pid_t
hold_lock(int hold_ms)
{
	static const char *const sql[] = { SQL_HOLD, NULL };

	return h_hold(DB, sql, NULL, 0, hold_ms, false);
}

static struct h_result
janitor(const char *config, const char *const *args)
{
	const char *argv[16] = { "--config", config, "--format", "json",
		"--pass", "incomplete_consumers" };
	size_t n = 6;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	return h_run(argv, NULL);
}

/* A lock released while the worker backs off: redone, then repaired. */
static void
engine_lock_wait_is_retried(void **state)
{
	char *cfg =
	    h_config(DB, "worker:\n  retries: 8\n  retry_backoff: 200ms\n");
	const char *args[] = { "repair", NULL };
	struct h_result r;
	pid_t holder;

	(void)state;
	seed(5);
	holder = hold_lock(2500);
	r = janitor(cfg, args);
	h_reap(holder);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_true(h_json_field(r.out, "retries") >= 1);
	assert_int_equal(h_json_field(r.out, "repaired"), 5);
	assert_non_null(strstr(r.err, "event=batch_retry"));
	h_result_free(&r);
	free(cfg);
}

/* A lock held past every retry: the batch fails (exit 2), nothing of it
 * is applied, and a later run repairs it. */
static void
engine_lock_held_too_long_fails_batch(void **state)
{
	char *cfg = h_config(DB,
	    "worker:\n  retries: 1\n"
	    "  retry_backoff: 10ms\n");
	const char *args[] = { "repair", NULL };
	struct h_result r;
	pid_t holder;

	(void)state;
	seed(5);
	holder = hold_lock(5000);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 2);
	assert_int_equal(h_json_field(r.out, "failed"), 5);
	assert_int_equal(h_json_field(r.out, "remaining"), 5);
	assert_non_null(strstr(r.out, "Lock wait timeout"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM projects"), 0);
	h_reap(holder);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 5);
	h_result_free(&r);
	free(cfg);
}

/* max_runtime ends the run between batches; the rest is counted. */
static void
engine_max_runtime_stops(void **state)
{
	char *cfg = h_config(DB, "worker:\n  sleep_between_batches: 100ms\n");
	const char *args[] = { "--batch-size", "1", "--max-runtime", "500ms",
		"repair", NULL };
	long long repaired;
	struct h_result r;

	(void)state;
	seed(30);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.out, "\"stopped_by\":\"max_runtime\""));
	repaired = h_json_field(r.out, "repaired");
	if (repaired < 1 || repaired > 10)
		fail_msg("repaired %lld in 500 ms at 100 ms a batch", repaired);
	assert_int_equal(h_json_field(r.out, "remaining"), 30 - repaired);
	h_result_free(&r);
	free(cfg);
}

/* -v lists every record found; redaction shortens the ids to 8. */
static void
engine_verbose_lists_found_records(void **state)
{
	char *cfg = h_config(DB, "logging:\n  redact_uuids: true\n");
	const char *args[] = { "-v", "check", NULL };
	struct h_result r;

	(void)state;
	seed(3);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.err, "event=found"));
	assert_non_null(strstr(r.err, "consumer=\"gone-000\""));
	assert_null(strstr(r.err, "gone-00000001"));
	h_result_free(&r);
	free(cfg);
}

/* A table missing: exit 65 naming it, before any pass runs. */
static void
engine_schema_missing_table(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *args[] = { "check", NULL };
	struct h_result r;

	(void)state;
	seed(1);
	h_sql(DB, "DROP TABLE consumers;");
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 65);
	assert_non_null(strstr(r.err, "consumers"));
	h_result_free(&r);
	free(cfg);
}

/* An id column in another collation than the key lists the passes bind:
 * exit 65 naming the column, before any pass runs. */
static void
engine_schema_key_collation(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *args[] = { "check", NULL };
	struct h_result r;

	(void)state;
	seed(1);
	h_sql(DB,
	    "ALTER TABLE allocations MODIFY consumer_id VARCHAR(36)"
	    " CHARACTER SET utf8mb3 COLLATE utf8mb3_unicode_ci NOT NULL;");
	r = janitor(cfg, args);
	h_expect_exit(&r, 65, "check with a unicode_ci consumer_id");
	assert_non_null(strstr(
	    r.err, "allocations.consumer_id has collation utf8mb3_unicode_ci"));
	h_result_free(&r);
	free(cfg);
}

/* No server behind the socket: exit 69. */
static void
engine_unreachable_server(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *broken = h_config(DB, NULL);
	const char *args[] = { "check", NULL };
	struct h_result r;
	FILE *f;

	(void)state;
	f = fopen(broken, "w");
	assert_non_null(f);
	fputs(
	    "database:\n  socket: /nonexistent/mysqld.sock\n"
	    "  user: root\n  connect_timeout: 2s\n",
	    f);
	fclose(f);
	r = janitor(broken, args);
	assert_int_equal(r.exit_code, 69);
	h_result_free(&r);
	free(broken);
	free(cfg);
}

/* A slow batch halves the next one (worker.batch_target). */
static void
engine_adaptive_pacing_shrinks_batches(void **state)
{
	char *cfg = h_config(DB, "worker:\n  batch_target: 1ms\n");
	const char *args[] = { "-v", "--batch-size", "64", "repair", NULL };
	struct h_result r;

	(void)state;
	seed(300);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 300);
	assert_non_null(strstr(r.err, "event=batch_shrink"));
	assert_true(h_json_field(r.out, "batches") > 300 / 64 + 1);
	/* Each shrink followed a batch over the target; the report counts
	 * them and gives the batch times. */
	assert_true(h_json_field(r.out, "batches_over_target") >= 1);
	assert_true(h_json_field(r.out, "batches_over_target") <=
	    h_json_field(r.out, "batches"));
	assert_non_null(strstr(r.out, "\"batch_ms\":{\"p50\":"));
	h_result_free(&r);
	free(cfg);
}

/* The server restarts mid-run: the worker reconnects, redoes the batch
 * it lost, and finishes. */
static void
engine_server_restart_reconnects(void **state)
{
	char *cfg = h_config(DB,
	    "worker:\n  sleep_between_batches: 100ms\n"
	    "  retry_backoff: 200ms\n  reconnect_deadline: 60s\n");
	const char *args[] = { "--batch-size", "20", "repair", NULL };
	struct h_result r;
	pid_t restarter;

	(void)state;
	seed(600);
	restarter = fork();
	assert_true(restarter >= 0);
	if (restarter == 0) {
		usleep(700 * 1000);
		execlp("bash", "bash", PJ_SOURCE_DIR "/scripts/sandbox-db.sh",
		    "restart", (char *)NULL);
		_exit(127);
	}
	r = janitor(cfg, args);
	h_reap(restarter);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "repaired"), 600);
	assert_true(h_json_field(r.out, "retries") >= 1);
	assert_non_null(strstr(r.err, "event=reconnected"));
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 600);
	free(cfg);
}

static const char SQL_TAKE_RUN_LOCK[] =
    "SELECT GET_LOCK('placement_janitor', 0)";

/* Another host's run holds the server lock: a writing run exits 3 at
 * once, with one info line and nothing done; check still runs. */
static void
engine_db_run_lock_held(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *repair[] = { "repair", NULL };
	const char *check[] = { "check", NULL };
	struct pj_error err = { 0 };
	struct pj_db *holder;
	struct h_result r;

	(void)state;
	seed(4);
	holder = h_connect(DB);
	assert_int_equal(
	    pj_db_exec(holder, SQL_TAKE_RUN_LOCK, NULL, 0, NULL, &err), PJ_OK);
	r = janitor(cfg, repair);
	assert_int_equal(r.exit_code, 3);
	assert_non_null(strstr(r.err, "level=info"));
	assert_non_null(strstr(r.err, "event=locked"));
	assert_null(strstr(r.err, "level=error"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	r = janitor(cfg, check);
	assert_int_equal(r.exit_code, 1);
	h_result_free(&r);
	pj_db_close(holder);
	r = janitor(cfg, repair);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	free(cfg);
}

/* Another run on this host holds the lock file: exit 3. */
static void
engine_file_run_lock_held(void **state)
{
	char dir[] = "/tmp/pj-runlock-XXXXXX";
	char yaml[256], path[300];
	const char *repair[] = { "repair", NULL };
	struct h_result r;
	char *cfg;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(
	    yaml, sizeof(yaml), "worker:\n  lock:\n    run_dir: %s\n", dir);
	cfg = h_config(DB, yaml);
	snprintf(path, sizeof(path), "%s/placement-janitor.lock", dir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	seed(2);
	r = janitor(cfg, repair);
	assert_int_equal(r.exit_code, 3);
	assert_non_null(strstr(r.err, "event=locked"));
	h_result_free(&r);
	close(fd);
	r = janitor(cfg, repair);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	unlink(path);
	rmdir(dir);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(engine_lock_wait_is_retried),
		cmocka_unit_test(engine_lock_held_too_long_fails_batch),
		cmocka_unit_test(engine_max_runtime_stops),
		cmocka_unit_test(engine_verbose_lists_found_records),
		cmocka_unit_test(engine_schema_missing_table),
		cmocka_unit_test(engine_schema_key_collation),
		cmocka_unit_test(engine_unreachable_server),
		cmocka_unit_test(engine_adaptive_pacing_shrinks_batches),
		cmocka_unit_test(engine_server_restart_reconnects),
		cmocka_unit_test(engine_db_run_lock_held),
		cmocka_unit_test(engine_file_run_lock_held),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
