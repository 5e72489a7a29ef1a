/*
 * The incomplete_consumers pass next to live writers: Placement's own
 * allocation write (placement_writer) and a second worker, on the sandbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/time.h"
#include "tests/integration/harness.h"

#ifndef PJ_WRITER
#error "PJ_WRITER must name the placement_writer binary"
#endif

#define DB "pj_it_concurrency"
#define HEALTHY 1000
#define INCOMPLETE 4000
#define WRITER_SECONDS "8"

static void
temp_path(char *path, size_t size, const char *kind)
{
	int fd;

	snprintf(path, size, "/tmp/pj-conc-%s-XXXXXX", kind);
	fd = mkstemp(path);
	if (fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	close(fd);
}

/* Placement writes (2 clients) on healthy, incomplete and new consumers
 * while one worker repairs: both finish cleanly and nothing is lost. */
static void
concurrency_writer_and_worker(void **state)
{
	char *cfg = h_config(DB, NULL);
	char pool[64];
	const char *jargv[16];
	const char *wargv[] = { "--socket", getenv("PJ_TEST_SOCKET"),
		"--database", DB, "--seconds", WRITER_SECONDS, "--clients", "2",
		"--seed", "7", "--prefix", "gone-", "--pool-size", "4400",
		"--pool-file", pool, NULL };
	struct h_proc writer_p, worker_p;
	struct h_result writer, worker;
	long long committed, repaired;
	bool overlapped;
	FILE *f;
	size_t i;

	(void)state;
	h_seed_consumers(DB, HEALTHY, INCOMPLETE);
	/* The writer also rewrites the healthy consumers. */
	temp_path(pool, sizeof(pool), "pool");
	f = fopen(pool, "w");
	assert_non_null(f);
	for (i = 1; i <= HEALTHY; i += 2)
		fprintf(f, "healthy-%08zu\n", i);
	fclose(f);
	writer_p = h_start_program(PJ_WRITER, wargv, NULL);
	pj_time_sleep_ms(300);
	h_janitor_argv(jargv, cfg, "50");
	worker_p = h_start(jargv, NULL, (uid_t)-1);
	worker = h_finish(&worker_p);
	overlapped = h_proc_running(&writer_p);
	writer = h_finish(&writer_p);
	unlink(pool);
	print_message("writer: %s%s", writer.out, writer.err);
	print_message(
	    "worker: exit %d repaired=%lld batches=%lld retries=%lld"
	    " conflicts=%lld failed=%lld\n",
	    worker.exit_code, h_json_field(worker.out, "repaired"),
	    h_json_field(worker.out, "batches"),
	    h_json_field(worker.out, "retries"),
	    h_json_field(worker.out, "conflicts"),
	    h_json_field(worker.out, "failed"));
	if (worker.exit_code != 0)
		fail_msg("worker exited %d: %s", worker.exit_code, worker.err);
	if (writer.exit_code != 0)
		fail_msg("writer exited %d: %s%s", writer.exit_code, writer.out,
		    writer.err);
	/* The worker ran entirely while the writer wrote. */
	assert_true(overlapped);
	assert_int_equal(h_writer_field(writer.out, "errors"), 0);
	committed = h_writer_field(writer.out, "committed");
	assert_true(committed > 0);
	repaired = h_json_field(worker.out, "repaired");
	assert_true(repaired > 0 && repaired <= INCOMPLETE);
	assert_int_equal(h_json_field(worker.out, "failed"), 0);
	h_assert_writer_invariants(DB, HEALTHY, committed);
	h_result_free(&writer);
	h_result_free(&worker);
	free(cfg);
}

/* Two workers repair the same database at once. */
static void
concurrency_two_workers(void **state)
{
	/* Without the run lock, which would make the second one wait out:
	 * this is about the passes being safe side by side. */
	char *cfg = h_config(DB, "worker:\n  lock:\n    enabled: false\n");
	const char *argv[16];
	struct h_proc p[2];
	struct h_result w[2];
	long long repaired = 0, missing;
	size_t i;

	(void)state;
	h_seed_consumers(DB, 500, 3000);
	missing = h_incomplete_left(DB);
	assert_int_equal(missing, 3000);
	h_janitor_argv(argv, cfg, "50");
	for (i = 0; i < 2; i++)
		p[i] = h_start(argv, NULL, (uid_t)-1);
	for (i = 0; i < 2; i++) {
		w[i] = h_finish(&p[i]);
		print_message(
		    "worker %zu: exit %d found=%lld repaired=%lld"
		    " retries=%lld failed=%lld\n",
		    i, w[i].exit_code, h_json_field(w[i].out, "found"),
		    h_json_field(w[i].out, "repaired"),
		    h_json_field(w[i].out, "retries"),
		    h_json_field(w[i].out, "failed"));
	}
	for (i = 0; i < 2; i++) {
		if (w[i].exit_code != 0)
			fail_msg("worker %zu exited %d: %s", i, w[i].exit_code,
			    w[i].err);
		assert_int_equal(h_json_field(w[i].out, "failed"), 0);
		/* Retried batches log at info; nothing else went wrong. */
		if (strstr(w[i].err, "level=error") != NULL)
			fail_msg("worker %zu logged an error: %s", i, w[i].err);
		repaired += h_json_field(w[i].out, "repaired");
	}
	/* Each missing consumer was made once, by one of the two. */
	assert_int_equal(repaired, missing);
	assert_int_equal(h_incomplete_left(DB), 0);
	h_assert_consistent(DB);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 500 + missing);
	for (i = 0; i < 2; i++)
		h_result_free(&w[i]);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(concurrency_writer_and_worker),
		cmocka_unit_test(concurrency_two_workers),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
