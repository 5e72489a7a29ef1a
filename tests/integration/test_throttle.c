/*
 * Replication awareness against real servers started here: a primary with
 * a binary log, a replica of it, and a one-node Galera cluster, each its
 * own sandbox (scripts/sandbox-db.sh, PJ_SANDBOX_EXTRA_ARGS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/attr.h"
#include "tests/integration/harness.h"

#define DB "pj_it_throttle"

struct server {
	const char *what;
	struct h_server s;
};

static char top[] = "/tmp/pj-throttle-XXXXXX";
static struct server primary = { .what = "primary" };
static struct server replica = { .what = "replica" };
static struct server galera = { .what = "galera" };

/* Harness helpers talk to the server PJ_TEST_SOCKET names. */
static void
use(const struct server *s)
{
	h_server_use(&s->s);
}

static bool start(struct server *s, const char *extra_fmt, ...) PJ_PRINTF(2, 3);

static bool
start(struct server *s, const char *extra_fmt, ...)
{
	char dir[256], extra[512];
	va_list ap;

	snprintf(dir, sizeof(dir), "%s/%s", top, s->what);
	va_start(ap, extra_fmt);
	vsnprintf(extra, sizeof(extra), extra_fmt, ap);
	va_end(ap);
	return h_server_start(&s->s, dir, extra);
}

/* Stops what was started and removes the directory (also at exit). */
static void
stop_all(void)
{
	struct h_server *all[] = { &galera.s, &replica.s, &primary.s };

	h_servers_stop(all, 3, top);
}

static bool
start_all(void)
{
	int gcomm = h_free_port(), ist = h_free_port(), sst = h_free_port();

	if (mkdtemp(top) == NULL) {
		fprintf(
		    stderr, "test_throttle: mkdtemp: %s\n", strerror(errno));
		return false;
	}
	atexit(stop_all);
	return start(&primary,
	           "--log-bin=mysql-bin --server-id=1 "
	           "--innodb-buffer-pool-size=32M") &&
	    start(&replica, "--server-id=2 --innodb-buffer-pool-size=32M") &&
	    start(&galera,
	        "--server-id=3 --innodb-buffer-pool-size=32M --wsrep-on=ON "
	        "--wsrep-provider=/usr/lib/galera/libgalera_smm.so "
	        "--wsrep-cluster-address=gcomm:// --wsrep-new-cluster "
	        "--binlog-format=ROW --wsrep-node-address=127.0.0.1:%d "
	        "--wsrep-provider-options=gmcast.listen_addr=tcp://"
	        "127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;gcache.size=16M "
	        "--wsrep-sst-receive-address=127.0.0.1:%d",
	        gcomm, gcomm, ist, sst);
}

/* The replica replicates from the primary, as a test-only account. */
static int
wire_replication(void **state)
{
	char sql[512];

	(void)state;
	use(&primary);
	h_sql(NULL,
	    "CREATE USER 'pj_repl'@'127.0.0.1' IDENTIFIED BY 'pj-repl';"
	    "GRANT REPLICATION SLAVE ON *.* TO 'pj_repl'@'127.0.0.1';");
	use(&replica);
	snprintf(sql, sizeof(sql),
	    "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d,"
	    " MASTER_USER = 'pj_repl', MASTER_PASSWORD = 'pj-repl',"
	    " MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;"
	    "START SLAVE;",
	    primary.s.port);
	h_sql(NULL, sql);
	use(&primary);
	return 0;
}

/* Waits until the replica has applied everything the primary logged. */
static void
sync_replica(void)
{
	char sql[512];
	char *pos;

	use(&primary);
	pos = h_query(NULL, "SELECT @@gtid_binlog_pos");
	snprintf(sql, sizeof(sql), "SELECT MASTER_GTID_WAIT('%s', 30)", pos);
	free(pos);
	use(&replica);
	if (h_query_int(NULL, sql) != 0)
		fail_msg("the replica did not catch up within 30 s");
	use(&primary);
}

/* Replication running again without a delay, whatever a test left. */
static int
reset_replica(void **state)
{
	(void)state;
	use(&replica);
	h_sql(NULL,
	    "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 0; START SLAVE;");
	sync_replica();
	return 0;
}

/* n allocations without a consumer (incomplete_consumers damage). */
static void
seed(int n)
{
	char sql[512];

	h_reset_db(DB);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1,"
	    " CONCAT('gone-', LPAD(seq, 8, '0')), 0, 1 FROM seq_1_to_%d;",
	    n);
	h_sql(DB, sql);
}

/* A config for DB on the server PJ_TEST_SOCKET names, watching the
 * replica (when replica_port > 0) with the replication lines given. */
static char *
config(int replica_port, const char *replication_yaml)
{
	char yaml[1024];

	if (replica_port > 0)
		snprintf(yaml, sizeof(yaml),
		    "replication:\n  replicas: \"127.0.0.1:%d\"\n%s",
		    replica_port, replication_yaml);
	else
		snprintf(yaml, sizeof(yaml), "%s", replication_yaml);
	return h_config(DB, yaml);
}

static struct h_result
janitor(const char *cfg, const char *command, const char *batch_size)
{
	const char *argv[] = { "--config", cfg, "--format", "json", "--pass",
		"incomplete_consumers", "--batch-size", batch_size, "-v",
		command, NULL };

	return h_run(argv, NULL);
}

/* Lag within the limit: the repair runs as usual and replicates. */
static void
throttle_lag_within_limit_repairs(void **state)
{
	char *cfg = config(replica.s.port, "  max_replica_lag: 10s\n");
	struct h_result r;

	(void)state;
	seed(40);
	r = janitor(cfg, "repair", "10");
	h_expect_exit(&r, 0, "the run");
	assert_int_equal(h_json_field(r.out, "repaired"), 40);
	h_expect_log(&r, "event=replica_check replica=127.0.0.1:", true);
	h_expect_log(&r, "event=replication_pause", false);
	h_result_free(&r);
	sync_replica();
	use(&replica);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 40);
	use(&primary);
	free(cfg);
}

/* A replica whose SQL thread is stopped has no lag (NULL): repairs
 * pause, and past max_pause the run stops with the rest counted; check
 * never waits; once replication runs again a rerun finishes. */
static void
throttle_stopped_replica_pauses_then_stops(void **state)
{
	char *cfg = config(
	    replica.s.port, "  max_pause: 2s\n  check_interval: 200ms\n");
	struct h_result r;
	long long t0;

	(void)state;
	seed(30);
	sync_replica();
	use(&replica);
	h_sql(NULL, "STOP SLAVE SQL_THREAD;");
	use(&primary);

	t0 = h_now_ms();
	r = janitor(cfg, "check", "10");
	h_expect_exit(&r, 1, "the run");
	h_expect_log(&r, "event=replication_pause", false);
	assert_true(h_now_ms() - t0 < 2000);
	h_result_free(&r);

	t0 = h_now_ms();
	r = janitor(cfg, "repair", "10");
	t0 = h_now_ms() - t0;
	h_expect_exit(&r, 1, "the run");
	assert_non_null(strstr(r.out, "\"stopped_by\":\"replication\""));
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	assert_int_equal(h_json_field(r.out, "remaining"), 30);
	h_expect_log(&r, "level=warn", true);
	h_expect_log(&r, "event=replica_unusable", true);
	h_expect_log(&r, "event=replication_pause replica=", true);
	h_expect_log(&r, "lag_s=NULL reason=not_replicating", true);
	h_expect_log(&r, "outcome=max_pause", true);
	if (t0 < 2000 || t0 > 10000)
		fail_msg("stopped after %lld ms, max_pause is 2 s", t0);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);

	use(&replica);
	h_sql(NULL, "START SLAVE SQL_THREAD;");
	use(&primary);
	r = janitor(cfg, "repair", "10");
	h_expect_exit(&r, 0, "the run");
	assert_int_equal(h_json_field(r.out, "repaired"), 30);
	h_result_free(&r);
	free(cfg);
}

/* A delayed replica lags past max_replica_lag: the run pauses until the
 * replica has caught up, then repairs everything. */
static void
throttle_lag_over_limit_waits(void **state)
{
	char *cfg =
	    config(replica.s.port, "  max_replica_lag: 1s\n  max_pause: 30s\n");
	struct h_result r;
	long long t0;

	(void)state;
	seed(10);
	sync_replica();
	use(&replica);
	h_sql(NULL,
	    "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY = 4; START SLAVE;");
	use(&primary);
	h_sql(NULL,
	    "CREATE DATABASE IF NOT EXISTS pj_it_throttle_tick;"
	    "CREATE TABLE IF NOT EXISTS pj_it_throttle_tick.t"
	    " (id INT AUTO_INCREMENT PRIMARY KEY);"
	    "INSERT INTO pj_it_throttle_tick.t VALUES ();");
	usleep(2300 * 1000); /* Seconds_Behind_Master is now 2 */
	t0 = h_now_ms();
	r = janitor(cfg, "repair", "10");
	t0 = h_now_ms() - t0;
	h_expect_exit(&r, 0, "the run");
	assert_int_equal(h_json_field(r.out, "repaired"), 10);
	h_expect_log(&r, "max_lag_s=1", true);
	h_expect_log(&r, "event=replication_pause_end outcome=resumed", true);
	if (t0 < 500)
		fail_msg("finished after %lld ms: no pause", t0);
	h_result_free(&r);
	free(cfg);
}

/* A replica nobody answers for: its lag is unknown, so repairs wait. */
static void
throttle_unreachable_replica_holds(void **state)
{
	char *cfg =
	    config(h_free_port(), "  max_pause: 1s\n  check_interval: 200ms\n");
	struct h_result r;

	(void)state;
	seed(5);
	r = janitor(cfg, "repair", "10");
	h_expect_exit(&r, 1, "the run");
	assert_non_null(strstr(r.out, "\"stopped_by\":\"replication\""));
	assert_int_equal(h_json_field(r.out, "remaining"), 5);
	h_expect_log(&r, "lag_s=unknown status=connection", true);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	free(cfg);
}

/* An account without SLAVE MONITOR on the replica: no wait can fix that,
 * the run ends at once with exit 77 naming the replica. */
static void
throttle_replica_privilege_missing(void **state)
{
	char path[] = "/tmp/pj-throttle-cfg-XXXXXX.yaml";
	struct h_result r;
	FILE *f;
	int fd;

	(void)state;
	seed(5);
	h_sql(NULL,
	    "CREATE USER IF NOT EXISTS 'pj_nomon'@'localhost';"
	    "CREATE USER IF NOT EXISTS 'pj_nomon'@'127.0.0.1';"
	    "GRANT ALL ON " DB
	    ".* TO 'pj_nomon'@'localhost';"
	    "GRANT ALL ON " DB ".* TO 'pj_nomon'@'127.0.0.1';");
	sync_replica();
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f,
	    "database:\n  socket: \"%s\"\n  name: " DB
	    "\n"
	    "  user: pj_nomon\nreplication:\n"
	    "  replicas: \"127.0.0.1:%d\"\n",
	    primary.s.sock, replica.s.port);
	fclose(f);
	r = janitor(path, "repair", "10");
	unlink(path);
	h_expect_exit(&r, 77, "the run");
	h_expect_log(&r, "replica 127.0.0.1:", true);
	h_expect_log(&r, "SLAVE MONITOR", true);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
}

static const char SQL_COUNTERS[] =
    "SELECT GROUP_CONCAT(VARIABLE_VALUE ORDER BY VARIABLE_NAME)"
    " FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN"
    " ('COM_SHOW_VARIABLES', 'COM_SHOW_STATUS', 'COM_SHOW_SLAVE_STATUS')";

/* Com_show_slave_status, Com_show_status, Com_show_variables. */
static void
counters(long long c[3])
{
	char *text = h_query(NULL, SQL_COUNTERS);

	if (sscanf(text, "%lld,%lld,%lld", &c[0], &c[1], &c[2]) != 3)
		fail_msg("counters: \"%s\"", text);
	free(text);
}

/* Without wsrep and replicas: one question (wsrep_on) for a whole
 * repair, none for a check, and no status query at all. */
static void
throttle_plain_server_asks_once(void **state)
{
	char *cfg = config(0, "");
	long long before[3], after[3];
	struct h_result r;

	(void)state;
	seed(30);
	counters(before);
	r = janitor(cfg, "repair", "5");
	h_expect_exit(&r, 0, "the run");
	assert_true(h_json_field(r.out, "batches") >= 6);
	h_result_free(&r);
	counters(after);
	assert_int_equal(after[0] - before[0], 0);
	assert_int_equal(after[1] - before[1], 0);
	assert_int_equal(after[2] - before[2], 1);
	seed(5);
	counters(before);
	r = janitor(cfg, "check", "5");
	h_expect_exit(&r, 1, "the run");
	h_result_free(&r);
	counters(after);
	assert_int_equal(after[2] - before[2], 0);
	free(cfg);
}

/* A Galera node that is not synced gets no write (exit 69, as a server
 * that cannot be reached), while check still reads; once synced again
 * the repair runs, checking the node's state between batches. */
static void
throttle_galera_refuses_unsynced_node(void **state)
{
	char *cfg;
	struct h_result r;

	(void)state;
	use(&galera);
	cfg = config(
	    0, "worker:\n  reconnect_deadline: 1s\n  retry_backoff: 10ms\n");
	seed(20);
	h_sql(NULL, "SET GLOBAL wsrep_desync = ON;");
	r = janitor(cfg, "repair", "5");
	h_expect_exit(&r, 69, "the run");
	h_expect_log(&r, "galera node not synced", true);
	h_expect_log(&r, "Donor/Desynced", true);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	r = janitor(cfg, "check", "5");
	h_expect_exit(&r, 1, "the run");
	h_result_free(&r);

	h_sql(NULL, "SET GLOBAL wsrep_desync = OFF;");
	r = janitor(cfg, "repair", "5");
	h_expect_exit(&r, 0, "the run");
	assert_int_equal(h_json_field(r.out, "repaired"), 20);
	h_expect_log(&r, "event=galera_node state=\"Synced\"", true);
	h_expect_log(&r, "event=galera_check", true);
	h_expect_log(&r, "event=replication_pause", false);
	h_result_free(&r);
	use(&primary);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(throttle_lag_within_limit_repairs),
		cmocka_unit_test_teardown(
		    throttle_stopped_replica_pauses_then_stops, reset_replica),
		cmocka_unit_test_teardown(
		    throttle_lag_over_limit_waits, reset_replica),
		cmocka_unit_test(throttle_unreachable_replica_holds),
		cmocka_unit_test(throttle_replica_privilege_missing),
		cmocka_unit_test(throttle_plain_server_asks_once),
		cmocka_unit_test(throttle_galera_refuses_unsynced_node),
	};
	int failed;

	if (!start_all()) {
		stop_all();
		return h_cannot_run("the private servers did not start", NULL);
	}
	use(&primary);
	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, wire_replication, NULL);
	h_cleanup();
	stop_all();
	return failed;
}
