/*
 * Faults through the binary, on a seeded Placement database with damage
 * for every destructive pass: the worker SIGKILLed at random moments of a
 * long repair, its server killed mid-transaction (a private mariadbd, never
 * the shared sandbox), lock waits and deadlocks provoked by the test. After
 * each, check_invariants() compares the database with a snapshot taken
 * before the repair: no batch is half applied, every row gone or changed
 * is in the archive as it was, generations never went backwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "tests/integration/harness.h"

/* The fixtures faults_*.sql name it, and its snapshot pj_it_faults_snap. */
#define DB "pj_it_faults"
#define BATCH "20"
#define ROUNDS 20

/* Every destructive pass and incomplete_consumers repair; the two
 * report-only passes are off, so `check` is clean once all is done. */
#define PASSES \
	"passes:\n" \
	"  incomplete_consumers:\n    mode: repair\n" \
	"  orphaned_allocations:\n    mode: repair\n" \
	"  orphaned_inventories:\n    mode: repair\n" \
	"  orphaned_provider_links:\n    mode: repair\n" \
	"  dangling_consumer_refs:\n    mode: repair\n" \
	"  root_provider_ids:\n    mode: repair\n" \
	"  orphaned_consumers:\n    mode: repair\n" \
	"  unused_projects_users:\n    mode: \"off\"\n" \
	"  dangling_resource_classes:\n    mode: \"off\"\n"

static const char *const pass_names[] = { "incomplete_consumers",
	"orphaned_allocations", "orphaned_inventories",
	"orphaned_provider_links", "dangling_consumer_refs",
	"root_provider_ids", "orphaned_consumers", NULL };

static uint64_t rng = 1;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Fails the test listing every broken invariant. */
static void
check_invariants(const char *when)
{
	static const char *const files[] = {
		"tests/integration/fixtures/faults_invariants.sql", NULL
	};
	char *broken = h_sql_files(DB, "", files);

	if (broken[0] != '\0')
		fail_msg("%s: invariants broken:\n%s", when, broken);
	free(broken);
}

/* A fresh database of about rows allocations with damage for every pass,
 * the archive table, and its snapshot. */
static void
seed(int rows)
{
	static const char *const files[] = { "tests/bench/dataset.sql",
		"tests/integration/fixtures/faults_damage.sql", NULL };
	char prefix[128];

	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	snprintf(prefix, sizeof(prefix),
	    "SET @seed = 'faults', @rows = %d, @incomplete_pct = 8;", rows);
	free(h_sql_files(DB, prefix, files));
	h_sql_file(NULL, "tests/integration/fixtures/faults_snapshot.sql");
}

/* The pass a log was in at its end ("-" before the first). */
static void
last_pass(const char *log, char *name, size_t size)
{
	static const char mark[] = "event=pass_start pass=";
	const char *at = NULL, *p = log;

	while ((p = strstr(p, mark)) != NULL) {
		at = p + strlen(mark);
		p = at;
	}
	snprintf(name, size, "%.*s", at != NULL ? (int)strcspn(at, " \n") : 1,
	    at != NULL ? at : "-");
}

/* Sums a field over every pass of a JSON report. */
static long long
sum_passes(const char *json, const char *field)
{
	long long total = 0;
	size_t i;

	for (i = 0; pass_names[i] != NULL; i++) {
		long long v = h_pass_field(pass_names[i], json, field);

		total += v > 0 ? v : 0;
	}
	return total;
}

/* A second, clean `check` finds nothing. */
static void
expect_clean(const char *cfg)
{
	const char *check[] = { "check", NULL };
	struct h_result r = h_run_json(cfg, check);

	h_expect_exit(&r, 0, "check after the repair");
	assert_int_equal(sum_passes(r.out, "found"), 0);
	h_result_free(&r);
}

static uint64_t
test_seed(void)
{
	const char *env = getenv("PJ_FAULTS_SEED");
	struct timespec ts;

	if (env != NULL && env[0] != '\0')
		return strtoull(env, NULL, 10);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec ^
	           (uint64_t)getpid() << 20) %
	    1000000000u;
}

/*
 * kill -9 at ROUNDS random moments of one repair: the kill targets are
 * spread over the run's batches (one random point in each twentieth),
 * plus a random 0..20 ms, so they land inside transactions, between them,
 * in finds and at start-up. Each rerun continues where the last one was
 * killed. After each kill every invariant holds; a last rerun finishes
 * with exit 0 and `check` finds nothing.
 */
static void
crash_safety_sigkill_at_random_moments(void **state)
{
	char *cfg = h_config(DB, "worker:\n  batch_size: " BATCH "\n" PASSES);
	const char *check[] = { "check", NULL };
	const char *repair[] = { "--config", cfg, "-v", "repair", NULL };
	const char *again[] = { "repair", NULL };
	uint64_t seed_value = test_seed();
	size_t done = 0, planned = 0, i;
	char when[64], pass[64];
	struct h_result r;
	struct h_proc p;
	int round;

	(void)state;
	rng = seed_value * 2654435761u + 1;
	print_message(
	    "crash safety: seed %llu (rerun with PJ_FAULTS_SEED=%llu)"
	    "\n",
	    (unsigned long long)seed_value, (unsigned long long)seed_value);
	seed(20000);
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check before the repair");
	for (i = 0; pass_names[i] != NULL; i++)
		planned +=
		    ((size_t)h_pass_field(pass_names[i], r.out, "found") + 19) /
		    20;
	h_result_free(&r);
	assert_true(planned > 100);
	for (round = 0; round < ROUNDS; round++) {
		size_t target = (size_t)((double)planned * 0.9 *
		    (round + (double)(next_random() % 1000) / 1000.0) / ROUNDS);
		useconds_t delay_us = (useconds_t)(next_random() % 20000);
		size_t batches;

		p = h_start(repair, NULL, (uid_t)-1);
		if (target > done &&
		    h_proc_wait_log(&p, "event=batch_done", target - done,
		        60000) < target - done &&
		    p.err_fd >= 0) {
			kill(p.pid, SIGKILL);
			fail_msg(
			    "round %d: batch %zu not reached in 60 s (seed %llu)",
			    round, target, (unsigned long long)seed_value);
		}
		usleep(delay_us);
		kill(p.pid, SIGKILL);
		r = h_finish(&p);
		batches = h_count(r.err, "event=batch_done");
		done += batches;
		last_pass(r.err, pass, sizeof(pass));
		if (r.exit_code != 128 + SIGKILL)
			fail_msg(
			    "round %d: the worker ended with %d before the"
			    " kill (seed %llu)\n%s",
			    round, r.exit_code, (unsigned long long)seed_value,
			    r.err);
		print_message(
		    "round %2d: SIGKILL %5.1f ms after batch %zu of"
		    " ~%zu, in %s (%zu batches this run)\n",
		    round, (double)delay_us / 1000.0, done, planned, pass,
		    batches);
		h_result_free(&r);
		snprintf(when, sizeof(when), "round %d (seed %llu)", round,
		    (unsigned long long)seed_value);
		check_invariants(when);
	}
	r = h_run_json(cfg, again);
	h_expect_exit(&r, 0, "the rerun");
	h_result_free(&r);
	check_invariants("after the rerun");
	expect_clean(cfg);
	free(cfg);
}

static int release_held(void **state);

/* The private server of the server-fault tests (never the shared one). */
static char top[] = "/tmp/pj-faults-XXXXXX";
static struct h_server own;
static char shared_socket[1024];

static void
stop_own(void)
{
	struct h_server *all[] = { &own };

	h_servers_stop(all, 1, top);
}

/* Socket only (no TCP port), a small buffer pool: started on first use,
 * started again if a failed test left it down. */
static int
use_own_server(void **state)
{
	static bool made;
	char dir[256];

	(void)state;
	if (own.started) {
		if (!h_server_start_again(&own))
			return -1;
	} else {
		if (!made && mkdtemp(top) == NULL) {
			fprintf(
			    stderr, "mkdtemp %s: %s\n", top, strerror(errno));
			return -1;
		}
		if (!made)
			atexit(stop_own);
		made = true;
		snprintf(dir, sizeof(dir), "%s/faults", top);
		if (!h_server_start_local(
		        &own, dir, "--innodb-buffer-pool-size=64M"))
			return -1;
	}
	h_server_use(&own);
	return 0;
}

static int
use_shared_server(void **state)
{
	release_held(state);
	setenv("PJ_TEST_SOCKET", shared_socket, 1);
	return 0;
}

static const char SQL_LOCK_CONSUMER[] =
    "SELECT id FROM consumers WHERE id = ? FOR UPDATE";
/*
 * A locking read of the worker's that has run for 100 ms: waiting for the
 * row the test holds. (Not INNODB_TRX: on MariaDB 10.11 it sometimes did
 * not list the worker's waiting transaction while SHOW ENGINE INNODB
 * STATUS did.)
 */
static const char SQL_WORKER_WAITS[] =
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
    " WHERE db = '" DB
    "' AND command = 'Execute'"
    " AND info LIKE 'SELECT %FOR UPDATE' AND time_ms > 100";
/*
 * The consumers dangling_consumer_refs will repair, in its order: all of
 * them when it runs alone, or (after orphaned_allocations) those with an
 * allocation on a provider that exists, the others being deleted first.
 */
#define DANGLING \
	" FROM consumers c LEFT JOIN projects p ON p.id = c.project_id" \
	" LEFT JOIN users u ON u.id = c.user_id" \
	" WHERE (p.id IS NULL OR u.id IS NULL)"
#define SURVIVING \
	" AND EXISTS (SELECT 1 FROM allocations a JOIN resource_providers rp" \
	" ON rp.id = a.resource_provider_id WHERE a.consumer_id = c.uuid)"
#define AT " ORDER BY c.id LIMIT %d, 1"
static const char SQL_DANGLING_AT[] = "SELECT c.id" DANGLING AT;
static const char SQL_SURVIVING_AT[] = "SELECT c.id" DANGLING SURVIVING AT;
static const char SQL_SURVIVING[] = "SELECT COUNT(*)" DANGLING SURVIVING;

static long long
dangling_at(bool surviving, int n)
{
	char sql[512];
	long long id;

	if (surviving)
		snprintf(sql, sizeof(sql), SQL_SURVIVING_AT, n);
	else
		snprintf(sql, sizeof(sql), SQL_DANGLING_AT, n);
	id = h_query_int(DB, sql);
	if (id <= 0)
		fail_msg("no dangling consumer at position %d", n);
	return id;
}

/* The consumer the test holds; released by release() or the teardown. */
static struct pj_db *holder;

/* Holds consumer id locked in an open transaction of the test's own. */
static void
lock_consumer(long long id)
{
	struct pj_error err = { 0 };
	struct pj_param p = PJ_INT(id);

	holder = h_connect(DB);
	if (pj_db_begin(holder, &err) != PJ_OK ||
	    pj_db_exec(holder, SQL_LOCK_CONSUMER, &p, 1, NULL, &err) != PJ_OK)
		fail_msg("locking consumer %lld: %s", id, err.msg);
}

static void
release(void)
{
	if (holder != NULL) {
		pj_db_rollback(holder);
		pj_db_close(holder);
	}
	holder = NULL;
}

/* Whatever a failed test still holds, let go. */
static int
release_held(void **state)
{
	(void)state;
	release();
	return 0;
}

/* Waits (10 s at most) until the worker waits for a row the test holds
 * (placed so that the batch has changed rows before it). */
static void
wait_for_worker_to_wait(struct h_proc *p)
{
	long long deadline = h_now_ms() + 10000;

	while (h_query_int(NULL, SQL_WORKER_WAITS) == 0) {
		if (h_now_ms() > deadline) {
			struct h_result r;

			kill(p->pid, SIGKILL);
			r = h_finish(p);
			fail_msg(
			    "the worker never waited for the held row:\n"
			    "%s\n%s",
			    r.out, r.err);
		}
		h_proc_read(p, 5);
	}
}

/*
 * The server is SIGKILLed while the worker is inside a batch that has
 * archived and changed rows (dangling_consumer_refs, waiting for a row the
 * test holds), and comes back 1 s later: InnoDB rolls the batch back, the
 * worker reconnects within worker.reconnect_deadline, redoes it and
 * finishes (exit 0); nothing is half done.
 */
static void
server_killed_mid_transaction_reconnects(void **state)
{
	char *cfg;
	const char *args[] = { NULL, NULL, "--format", "json", "-v", "repair",
		NULL };
	struct h_result r;
	struct h_proc p;
	long long held, n;

	(void)state;
	seed(20000);
	cfg =
	    h_config_db(DB, "  connect_timeout: 1s\n  lock_wait_timeout: 20s\n",
	        "worker:\n  batch_size: " BATCH
	        "\n  retry_backoff: 100ms\n  reconnect_deadline: 60s\n" PASSES);
	args[0] = "--config";
	args[1] = cfg;
	/* The last batch's 11th: ten repaired in its transaction before. */
	n = h_query_int(DB, SQL_SURVIVING);
	assert_true(n > 30);
	held = dangling_at(true, (int)((n - 11) / 20 * 20 + 10));
	p = h_start(args, NULL, (uid_t)-1);
	if (h_proc_wait_log(&p, "event=pass_start pass=dangling_consumer_refs",
	        1, 60000) < 1)
		fail_msg("dangling_consumer_refs never started:\n%s", p.err);
	lock_consumer(held);
	wait_for_worker_to_wait(&p);
	h_server_kill(&own);
	usleep(1000 * 1000);
	assert_true(h_server_start_again(&own));
	r = h_finish(&p);
	pj_db_close(holder); /* its server died */
	holder = NULL;
	h_expect_exit(&r, 0, "repair across a server crash");
	h_expect_log(&r, "event=batch_retry pass=dangling_consumer_refs", true);
	h_expect_log(&r, "event=reconnect_failed", true);
	h_expect_log(&r, "event=reconnected", true);
	assert_true(
	    h_pass_field("dangling_consumer_refs", r.out, "retries") >= 1);
	assert_int_equal(sum_passes(r.out, "failed"), 0);
	h_result_free(&r);
	check_invariants("after the server crash");
	expect_clean(cfg);
	free(cfg);
}

/*
 * The server is SIGKILLed mid-run and stays down past
 * worker.reconnect_deadline: exit 69 naming the lost connection; once
 * it is back, every invariant holds and a rerun finishes.
 */
static void
server_down_past_deadline_exits_69(void **state)
{
	char *cfg;
	const char *args[] = { NULL, NULL, "--format", "json", "-v", "repair",
		NULL };
	const char *again[] = { "repair", NULL };
	struct h_result r;
	struct h_proc p;
	long long t0;

	(void)state;
	seed(20000);
	cfg = h_config_db(DB, "  connect_timeout: 1s\n",
	    "worker:\n  batch_size: " BATCH
	    "\n  retry_backoff: 100ms\n  reconnect_deadline: 2s\n" PASSES);
	args[0] = "--config";
	args[1] = cfg;
	p = h_start(args, NULL, (uid_t)-1);
	if (h_proc_wait_log(&p, "event=batch_done", 40, 60000) < 40)
		fail_msg("no 40 batches:\n%s", p.err);
	h_server_kill(&own);
	t0 = h_now_ms();
	r = h_finish(&p);
	t0 = h_now_ms() - t0;
	assert_true(h_server_start_again(&own));
	h_expect_exit(&r, 69, "repair with the server gone");
	h_expect_log(&r, "event=reconnect_failed", true);
	if (strstr(r.out, "\"stopped_by\":null,\"error\":\"") == NULL)
		fail_msg("no error in the report:\n%s", r.out);
	print_message("exit 69 %lld ms after the server died\n", t0);
	/* One deadline from the loss, not one per retry: 2 s of attempts,
	 * the last one's connect_timeout (1 s) and a backoff. */
	if (t0 > 6000)
		fail_msg("exit after %lld ms; reconnect_deadline is 2 s\n%s",
		    t0, r.err);
	h_result_free(&r);
	check_invariants("after the server stayed down");
	r = h_run_json(cfg, again);
	h_expect_exit(&r, 0, "the rerun");
	h_result_free(&r);
	check_invariants("after the rerun");
	expect_clean(cfg);
	free(cfg);
}

/* The ids of the 41st and 60th orphaned consumers: the third batch of 20,
 * in which the test holds the 46th. */
static const char SQL_EMPTY_AT[] =
    "SELECT id FROM consumers WHERE uuid LIKE 'empty-%%' ORDER BY id"
    " LIMIT %d, 1";

static long long
empty_at(int n)
{
	char sql[sizeof(SQL_EMPTY_AT) + 16];

	snprintf(sql, sizeof(sql), SQL_EMPTY_AT, n);
	return h_query_int(DB, sql);
}

static long long
empty_between(long long lo, long long hi)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
	    "SELECT COUNT(*) FROM consumers WHERE id BETWEEN %lld AND %lld", lo,
	    hi);
	return h_query_int(DB, sql);
}

/*
 * orphaned_consumers archives and deletes five consumers of a batch, then
 * waits for the sixth, which the test holds past every retry (database
 * lock_wait_timeout 1 s, worker.retries 2): the batch is rolled back
 * whole (InnoDB itself only undoes the timed-out statement), counted as
 * failed, the other batches done: exit 2, as README's table says. Once
 * the lock is gone a rerun repairs the rest.
 */
static void
lock_wait_past_retries_fails_the_batch(void **state)
{
	char *cfg;
	const char *only[] = { "--pass", "orphaned_consumers", "repair", NULL };
	const char *check[] = { "--pass", "orphaned_consumers", "check", NULL };
	long long lo, hi, total;
	struct h_result r;

	(void)state;
	seed(3000);
	cfg = h_config_db(DB, "  lock_wait_timeout: 1s\n",
	    "worker:\n  batch_size: " BATCH
	    "\n  retries: 2\n  retry_backoff: 10ms\n" PASSES);
	total = h_query_int(
	    DB, "SELECT COUNT(*) FROM consumers WHERE uuid LIKE 'empty-%'");
	lo = empty_at(40);
	hi = empty_at(59);
	lock_consumer(empty_at(45));
	r = h_run_json(cfg, only);
	release();
	h_expect_exit(&r, 2, "repair with a row held past the retries");
	assert_int_equal(h_json_field(r.out, "failed"), 20);
	assert_int_equal(h_json_field(r.out, "remaining"), 20);
	assert_int_equal(h_json_field(r.out, "repaired"), total - 20);
	assert_int_equal(h_json_field(r.out, "retries"), 2);
	assert_non_null(strstr(r.out, "Lock wait timeout"));
	h_result_free(&r);
	assert_int_equal(empty_between(lo, hi), 20);
	check_invariants("after the failed batch");
	r = h_run_json(cfg, only);
	h_expect_exit(&r, 0, "the rerun");
	assert_int_equal(h_json_field(r.out, "repaired"), 20);
	h_result_free(&r);
	check_invariants("after the rerun");
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 0, "check");
	h_result_free(&r);
	free(cfg);
}

/* The same lock, released 1.5 s into the wait: the batch is redone after
 * its lock wait timeout and succeeds, the retry counted (exit 0). */
static void
lock_wait_released_is_retried(void **state)
{
	char *cfg;
	const char *args[] = { NULL, NULL, "--format", "json", "--pass",
		"orphaned_consumers", "repair", NULL };
	long long total;
	struct h_result r;
	struct h_proc p;

	(void)state;
	seed(3000);
	cfg = h_config_db(DB, "  lock_wait_timeout: 1s\n",
	    "worker:\n  batch_size: " BATCH
	    "\n  retries: 5\n  retry_backoff: 100ms\n" PASSES);
	args[0] = "--config";
	args[1] = cfg;
	total = h_query_int(
	    DB, "SELECT COUNT(*) FROM consumers WHERE uuid LIKE 'empty-%'");
	lock_consumer(empty_at(45));
	p = h_start(args, NULL, (uid_t)-1);
	wait_for_worker_to_wait(&p);
	usleep(1500 * 1000);
	release();
	r = h_finish(&p);
	h_expect_exit(&r, 0, "repair after the lock was released");
	assert_int_equal(h_json_field(r.out, "repaired"), total);
	assert_int_equal(h_json_field(r.out, "failed"), 0);
	assert_true(h_json_field(r.out, "retries") >= 1);
	assert_int_equal(h_json_field(r.out, "conflicts"), 0);
	h_expect_log(&r,
	    "event=batch_retry pass=orphaned_consumers attempt=1 status=retry",
	    true);
	h_expect_log(&r, "Lock wait timeout", true);
	h_result_free(&r);
	check_invariants("after the retried batch");
	free(cfg);
}

/*
 * A deadlock on purpose: the test holds the sixth consumer of a
 * dangling_consumer_refs batch, waits until the worker (having repaired
 * the first five) waits for it, then asks for the first one. Having
 * written more rows, the test's transaction is not InnoDB's victim: the
 * worker's is, and it redoes the batch once the test lets go (retries
 * counted, not as a conflict); the final state is correct.
 */
static void
deadlock_is_retried(void **state)
{
	char *cfg;
	const char *args[] = { NULL, NULL, "--format", "json", "--pass",
		"dangling_consumer_refs", "-v", "repair", NULL };
	const char *check[] = { "--pass", "dangling_consumer_refs", "check",
		NULL };
	static const char SQL_WEIGHT[] =
	    "INSERT INTO faults_weight SELECT seq FROM seq_1_to_5000";
	struct pj_error err = { 0 };
	struct pj_param first;
	long long total;
	struct h_result r;
	struct h_proc p;
	int rc;

	(void)state;
	seed(3000);
	h_sql(DB, "CREATE TABLE faults_weight (n INT PRIMARY KEY)");
	cfg = h_config_db(DB, "  lock_wait_timeout: 20s\n",
	    "worker:\n  batch_size: " BATCH
	    "\n  retries: 3\n  retry_backoff: 50ms\n" PASSES);
	args[0] = "--config";
	args[1] = cfg;
	total = h_query_int(DB,
	    "SELECT COUNT(*) FROM consumers c"
	    " LEFT JOIN projects p ON p.id = c.project_id"
	    " LEFT JOIN users u ON u.id = c.user_id"
	    " WHERE p.id IS NULL OR u.id IS NULL");
	first = PJ_INT(dangling_at(false, 20));
	lock_consumer(dangling_at(false, 25));
	if (pj_db_exec(holder, SQL_WEIGHT, NULL, 0, NULL, &err) != PJ_OK)
		fail_msg("%s: %s", SQL_WEIGHT, err.msg);
	p = h_start(args, NULL, (uid_t)-1);
	wait_for_worker_to_wait(&p);
	rc = pj_db_exec(holder, SQL_LOCK_CONSUMER, &first, 1, NULL, &err);
	if (rc != PJ_OK) {
		kill(p.pid, SIGKILL);
		fail_msg(
		    "the test, not the worker, lost the deadlock: %s", err.msg);
	}
	usleep(300 * 1000);
	release();
	r = h_finish(&p);
	h_expect_exit(&r, 0, "repair after a deadlock");
	h_expect_log(&r,
	    "event=batch_retry pass=dangling_consumer_refs attempt=1"
	    " status=retry",
	    true);
	h_expect_log(&r, "Deadlock found", true);
	assert_true(h_json_field(r.out, "retries") >= 1);
	assert_int_equal(h_json_field(r.out, "conflicts"), 0);
	assert_int_equal(h_json_field(r.out, "failed"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), total);
	h_result_free(&r);
	check_invariants("after the deadlock");
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 0, "check");
	h_result_free(&r);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_safety_sigkill_at_random_moments),
		cmocka_unit_test_teardown(
		    lock_wait_past_retries_fails_the_batch, release_held),
		cmocka_unit_test_teardown(
		    lock_wait_released_is_retried, release_held),
		cmocka_unit_test_teardown(deadlock_is_retried, release_held),
		cmocka_unit_test_setup_teardown(
		    server_killed_mid_transaction_reconnects, use_own_server,
		    use_shared_server),
		cmocka_unit_test_setup_teardown(
		    server_down_past_deadline_exits_69, use_own_server,
		    use_shared_server),
	};
	const char *sock;
	int failed;

	h_require_sandbox();
	if (getenv("PJ_FAULTS_ONLY") != NULL)
		cmocka_set_test_filter(getenv("PJ_FAULTS_ONLY"));
	sock = getenv("PJ_TEST_SOCKET");
	snprintf(shared_socket, sizeof(shared_socket), "%s", sock);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	stop_own();
	return failed;
}
