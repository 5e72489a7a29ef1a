/*
 * The worker on a real three-node MariaDB Galera cluster
 * (scripts/galera-sandbox.sh; scripts/test.sh starts it and exports its
 * env): Placement-protocol writers on other nodes, workers on two nodes,
 * a node killed mid-run, a desynced node, real flow control.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/time.h"
#include "tests/integration/harness.h"

#ifndef PJ_WRITER
#error "PJ_WRITER must name the placement_writer binary"
#endif

#define DB "pj_it_galera"
#define NODES 3
#define HEALTHY 1000
#define INCOMPLETE 4000
#define WRITER_SECONDS "8"

static const char SQL_BUMP[] =
    "UPDATE consumers SET generation = generation + 1"
    " WHERE uuid = 'healthy-00000001'";

/* Flow control: node 3 asks the cluster to stop as soon as more than one
 * write set waits in its queue (galera-4 option names; the sandbox leaves
 * both at Galera's defaults, which the teardown puts back). */
static const char SQL_FC_TINY[] =
    "SET GLOBAL wsrep_provider_options = 'gcs.fc_limit=1; gcs.fc_factor=1'";
static const char SQL_FC_DEFAULT[] =
    "SET GLOBAL wsrep_provider_options = 'gcs.fc_limit=16; gcs.fc_factor=1'";
static const char SQL_PROVIDER_OPTIONS[] = "SELECT @@wsrep_provider_options";
static const char SQL_FC_SENT[] =
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME = 'WSREP_FLOW_CONTROL_SENT'";
static const char SQL_FC_RECV[] =
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME = 'WSREP_FLOW_CONTROL_RECV'";
static const char SQL_FC_PAUSED_NS[] =
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME = 'WSREP_FLOW_CONTROL_PAUSED_NS'";
/* An explicit table lock holds back node 3's appliers (they need the
 * table's metadata lock and do not abort LOCK TABLES), so its receive
 * queue grows while the lock is held. */
static const char SQL_LOCK_CONSUMERS[] = "LOCK TABLES consumers READ";
/* How long node 3 holds the lock, in milliseconds. */
#define FC_HOLD_MS 2000

/* The nodes: directory (of mysqld.pid), socket and SQL port; started by
 * galera_start, never stopped here. */
static struct h_server node[NODES + 1];
/* galera_flow_control_pauses_worker's LOCK TABLES session on node 3,
 * closed by its teardown if the test fails while holding it. */
static struct pj_db *fc_lock;

/* PJ_GALERA_<what>_<n> from scripts/galera-sandbox.sh env, or NULL. */
static const char *
env_or_null(const char *what, int n)
{
	char name[64];
	const char *v;

	snprintf(name, sizeof(name), "PJ_GALERA_%s_%d", what, n);
	v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Harness helpers talk to the node PJ_TEST_SOCKET names. */
static void
use(int n)
{
	h_server_use(&node[n]);
}

/* Waits until node n has applied every write set committed anywhere
 * before now (wsrep_sync_wait), so reads there see them. */
static void
sync_node(int n)
{
	use(n);
	h_sql(NULL, "SET SESSION wsrep_sync_wait = 15; SELECT 1;");
}

/* scripts/galera-sandbox.sh start: all three nodes up and synced (it
 * brings back a node that was killed); false if not (its output says
 * why). */
static bool
galera_start(void)
{
	const char *const argv[] = { "bash",
		PJ_SOURCE_DIR "/scripts/galera-sandbox.sh", "start", NULL };
	int code = h_command(argv);

	if (code != 0)
		fprintf(stderr, "galera-sandbox.sh start: exit %d\n", code);
	return code == 0;
}

/* "127.0.0.1:P1, 127.0.0.1:P2, ..." for the nodes listed (0-ended). */
static void
hosts_of(char *buf, size_t size, const int *nodes)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *nodes != 0 && used < size; nodes++)
		used += (size_t)snprintf(buf + used, size - used,
		    "%s127.0.0.1:%d", used > 0 ? ", " : "", node[*nodes].port);
}

/* Every node holds the same data, and it satisfies the invariants. */
static void
assert_nodes_agree(long long committed)
{
	char *sum[NODES + 1] = { NULL };
	int n;

	for (n = 1; n <= NODES; n++) {
		sync_node(n);
		h_assert_writer_invariants(DB, HEALTHY, committed);
		sum[n] = h_checksum(DB);
	}
	for (n = 2; n <= NODES; n++) {
		if (strcmp(sum[1], sum[n]) != 0)
			fail_msg("node %d differs from node 1:\n%s\n---\n%s", n,
			    sum[n], sum[1]);
	}
	for (n = 1; n <= NODES; n++)
		free(sum[n]);
}

static void
print_worker(const char *who, const struct h_result *w)
{
	print_message(
	    "%s: exit %d repaired=%lld batches=%lld retries=%lld"
	    " conflicts=%lld certification_failures=%lld"
	    " failed=%lld\n",
	    who, w->exit_code, h_json_field(w->out, "repaired"),
	    h_json_field(w->out, "batches"), h_json_field(w->out, "retries"),
	    h_json_field(w->out, "conflicts"),
	    h_json_field(w->out, "certification_failures"),
	    h_json_field(w->out, "failed"));
}

static void
expect_clean_worker(const char *who, const struct h_result *w)
{
	if (w->exit_code != 0)
		fail_msg(
		    "%s exited %d:\n%s\n%s", who, w->exit_code, w->out, w->err);
	assert_int_equal(h_json_field(w->out, "failed"), 0);
}

static void
writer_argv(const char **argv, int n, const char *seed)
{
	const char *const args[] = { "--socket", node[n].sock, "--database", DB,
		"--seconds", WRITER_SECONDS, "--clients", "2", "--seed", seed,
		"--prefix", "gone-", "--pool-size", "4400", NULL };

	memcpy(argv, args, sizeof(args));
}

/* A transaction on node 1 whose row another node changed meanwhile: its
 * COMMIT fails certification, which pj_db_commit tells apart from other
 * deadlocks (PJ_ECERT, retryable); the other node's write stands. */
static void
galera_commit_certification_failure(void **state)
{
	struct pj_error err = { 0 };
	struct pj_db *db;
	int rc;

	(void)state;
	use(1);
	h_seed_consumers(DB, 1, 1);
	sync_node(2);
	use(1);
	db = h_connect(DB);
	assert_int_equal(pj_db_begin(db, &err), PJ_OK);
	assert_int_equal(pj_db_exec(db, SQL_BUMP, NULL, 0, NULL, &err), PJ_OK);
	use(2);
	h_sql(DB,
	    "UPDATE consumers SET generation = 20"
	    " WHERE uuid = 'healthy-00000001';");
	/* Node 1 applies that write set: it aborts the open transaction. */
	sync_node(1);
	rc = pj_db_commit(db, &err);
	if (rc != PJ_ECERT || err.db_errno != 1213)
		fail_msg("commit: status %s (%d) errno %u: %s",
		    pj_status_name(rc), rc, err.db_errno, err.msg);
	assert_true(pj_status_retryable(rc));
	pj_db_rollback(db);
	pj_db_close(db);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM consumers"
	                     " WHERE uuid = 'healthy-00000001'"),
	    20);
}

/* The worker repairs on node 1 while Placement writes on nodes 2 and 3:
 * conflicts between nodes fail certification and are redone; afterwards
 * every node holds the same data, every invariant holds, no write lost. */
static void
galera_worker_and_writers_on_other_nodes(void **state)
{
	const char *wargv[2][18], *jargv[16];
	struct h_proc writer_p[2], worker_p;
	struct h_result writer[2], worker;
	long long committed = 0, cert = 0;
	bool overlapped;
	char *cfg;
	int i;

	(void)state;
	use(1);
	h_seed_consumers(DB, HEALTHY, INCOMPLETE);
	cfg = h_config(DB, NULL);
	for (i = 0; i < 2; i++) {
		sync_node(2 + i);
		writer_argv(wargv[i], 2 + i, i == 0 ? "7" : "8");
		writer_p[i] = h_start_program(PJ_WRITER, wargv[i], NULL);
	}
	pj_time_sleep_ms(300);
	h_janitor_argv(jargv, cfg, "50");
	worker_p = h_start(jargv, NULL, (uid_t)-1);
	worker = h_finish(&worker_p);
	overlapped =
	    h_proc_running(&writer_p[0]) && h_proc_running(&writer_p[1]);
	print_worker("worker on node 1", &worker);
	for (i = 0; i < 2; i++) {
		writer[i] = h_finish(&writer_p[i]);
		print_message("writer on node %d: %s%s", 2 + i, writer[i].out,
		    writer[i].err);
		if (writer[i].exit_code != 0)
			fail_msg("writer on node %d exited %d", 2 + i,
			    writer[i].exit_code);
		assert_int_equal(h_writer_field(writer[i].out, "errors"), 0);
		committed += h_writer_field(writer[i].out, "committed");
		cert += h_writer_field(writer[i].out, "conflict_certification");
	}
	expect_clean_worker("worker on node 1", &worker);
	assert_true(overlapped);
	assert_true(committed > 0);
	free(cfg);
	cert += h_json_field(worker.out, "certification_failures");
	print_message(
	    "certification failures: %lld (worker and writers)\n", cert);
	/* Writers on two nodes meet on the same consumers all the time. */
	assert_true(cert > 0);
	assert_nodes_agree(committed);
	for (i = 0; i < 2; i++)
		h_result_free(&writer[i]);
	h_result_free(&worker);
}

/* Two workers on two nodes at once, GET_LOCK being node-local: each
 * missing consumer is made once, by one of them. */
static void
galera_two_workers_on_two_nodes(void **state)
{
	const char *argv[2][16];
	struct h_proc p[2];
	struct h_result w[2];
	char *cfg[2];
	long long missing, repaired = 0;
	int i;

	(void)state;
	use(1);
	h_seed_consumers(DB, HEALTHY, 3000);
	missing = h_incomplete_left(DB);
	for (i = 0; i < 2; i++) {
		sync_node(1 + i);
		/* Both on this host: only the file lock would stop one. */
		cfg[i] = h_config(DB, "worker:\n  lock:\n    enabled: false\n");
		h_janitor_argv(argv[i], cfg[i], "50");
	}
	for (i = 0; i < 2; i++)
		p[i] = h_start(argv[i], NULL, (uid_t)-1);
	for (i = 0; i < 2; i++) {
		w[i] = h_finish(&p[i]);
		print_worker(
		    i == 0 ? "worker on node 1" : "worker on node 2", &w[i]);
	}
	for (i = 0; i < 2; i++) {
		expect_clean_worker("worker", &w[i]);
		repaired += h_json_field(w[i].out, "repaired");
	}
	assert_int_equal(repaired, missing);
	assert_nodes_agree(0);
	use(3);
	assert_int_equal(h_incomplete_left(DB), 0);
	for (i = 0; i < 2; i++) {
		h_result_free(&w[i]);
		free(cfg[i]);
	}
}

/* A desynced node gets no write: alone it ends the run with exit 69;
 * with database.hosts the worker moves on to the next node. */
static void
galera_desynced_node_refused(void **state)
{
	static const int nodes[] = { 2, 3, 0 };
	const char *args[] = { "--pass", "incomplete_consumers", "-v", "repair",
		NULL };
	char hosts[256], node3[64];
	char *cfg;
	struct h_result r;

	(void)state;
	snprintf(node3, sizeof(node3),
	    "event=reconnected attempts=1 endpoint=\"127.0.0.1:%d\"",
	    node[3].port);
	use(1);
	h_seed_consumers(DB, 10, 200);
	sync_node(2);
	h_sql(NULL, "SET GLOBAL wsrep_desync = ON;");
	cfg = h_config(
	    DB, "worker:\n  reconnect_deadline: 1s\n  retry_backoff: 10ms\n");
	r = h_run_json(cfg, args);
	free(cfg);
	h_expect_exit(&r, 69, "repair on a desynced node");
	assert_non_null(strstr(r.err, "galera node not synced"));
	h_result_free(&r);
	sync_node(2);
	assert_int_equal(h_incomplete_left(DB), 200);

	hosts_of(hosts, sizeof(hosts), nodes);
	cfg = h_config_hosts(DB, hosts, "worker:\n  reconnect_deadline: 5s\n");
	r = h_run_json(cfg, args);
	free(cfg);
	h_expect_exit(&r, 0, "repair with database.hosts");
	assert_int_equal(h_json_field(r.out, "repaired"), 200);
	if (strstr(r.err, node3) == NULL ||
	    strstr(r.err, "galera node not synced") == NULL)
		fail_msg("no move to node 3 in the log:\n%s", r.err);
	h_result_free(&r);
	sync_node(3);
	assert_int_equal(h_incomplete_left(DB), 0);
}

static int
resync_node2(void **state)
{
	(void)state;
	use(2);
	h_sql(NULL, "SET GLOBAL wsrep_desync = OFF;");
	return 0;
}

/* Node 1 dies (SIGKILL) under a worker connected to it: the worker
 * moves to another node of database.hosts and finishes there, the
 * data satisfies every invariant, a rerun on a surviving node finishes,
 * and node 1, back, holds the same data. */
static void
galera_node_killed_mid_run(void **state)
{
	static const int nodes[] = { 1, 2, 3, 0 };
	const char *argv[16];
	const char *rerun[] = { "--pass", "incomplete_consumers", "repair",
		NULL };
	char hosts[256], moved_to[2][64];
	struct h_proc p;
	struct h_result w, r;
	char *cfg;
	int i;

	(void)state;
	for (i = 0; i < 2; i++)
		snprintf(moved_to[i], sizeof(moved_to[i]),
		    "endpoint=\"127.0.0.1:%d\"", node[2 + i].port);
	use(1);
	h_seed_consumers(DB, HEALTHY, 3000);
	sync_node(2);
	hosts_of(hosts, sizeof(hosts), nodes);
	cfg = h_config_hosts(DB, hosts,
	    "worker:\n  reconnect_deadline: 20s\n  retry_backoff: 50ms\n"
	    "  sleep_between_batches: 20ms\n");
	h_janitor_argv(argv, cfg, "10");
	p = h_start(argv, NULL, (uid_t)-1);
	/* Kill it once the worker has committed some batches there (reading
	 * its log meanwhile, which must not fill the pipe). */
	for (i = 0; i < 100 && h_incomplete_left(DB) > 2800; i++)
		h_proc_read(&p, 50);
	assert_true(h_proc_running(&p));
	h_server_kill(&node[1]);
	w = h_finish(&p);
	print_worker("worker (node 1 killed)", &w);
	/* With database.hosts it moves on (alone it would end with 69,
	 * as galera_desynced_node_refused shows). */
	if (w.exit_code != 0)
		fail_msg(
		    "worker exited %d:\n%s\n%s", w.exit_code, w.out, w.err);
	if (strstr(w.err, "event=reconnected attempts=") == NULL ||
	    (strstr(w.err, moved_to[0]) == NULL &&
	        strstr(w.err, moved_to[1]) == NULL))
		fail_msg("no reconnect to node 2 or 3 in the log:\n%s", w.err);
	sync_node(2);
	h_assert_consistent(DB);

	free(cfg);
	cfg = h_config(DB, NULL); /* node 2's socket */
	r = h_run_json(cfg, rerun);
	h_expect_exit(&r, 0, "rerun on node 2");
	h_result_free(&r);
	assert_int_equal(h_incomplete_left(DB), 0);
	free(cfg);

	if (!galera_start())
		fail_msg("node 1 did not rejoin");
	assert_nodes_agree(0);
	h_result_free(&w);
}

/* The worker's replication_pause lines, to see what it paused for. */
static void
print_pauses(const char *log)
{
	const char *hit = log, *start, *end;

	while ((hit = strstr(hit, "event=replication_pause")) != NULL) {
		for (start = hit; start > log && start[-1] != '\n'; start--)
			;
		end = hit + strcspn(hit, "\n");
		print_message("  %.*s\n", (int)(end - start), start);
		hit = end;
	}
}

/* Real flow control: node 3 (its flow control limit set to one write set)
 * holds back its appliers with a table lock for FC_HOLD_MS while the
 * worker repairs on node 1. Node 3's queue grows, it sends flow control,
 * the cluster stops replicating: no batch of the worker commits (its
 * COMMIT waits). The throttle sees the flow control, as a rule afterwards
 * from the growth of wsrep_flow_control_paused_ns since its last check
 * (or wsrep_flow_control_active if it checks in the window), and pauses
 * the worker (replication_pause galera=flow_control) until a check finds
 * none (replication_pause_end resumed); then it finishes, every node
 * holding the same data. */
static void
galera_flow_control_pauses_worker(void **state)
{
	const char *argv[16];
	struct pj_error err = { 0 };
	long long missing, sent, recv, paused_ns, left_early, left_late;
	struct h_proc p;
	struct h_result w;
	char *cfg, *opts;
	long long began = h_now_ms();
	bool defaults;
	int i, rc;

	(void)state;
	use(1);
	h_seed_consumers(DB, HEALTHY, 1000);
	missing = h_incomplete_left(DB);
	sync_node(3);
	opts = h_query(NULL, SQL_PROVIDER_OPTIONS);
	defaults = strstr(opts, "gcs.fc_limit = 16;") != NULL &&
	    strstr(opts, "gcs.fc_factor = 1.0;") != NULL;
	free(opts);
	if (!defaults)
		fail_msg(
		    "node 3: gcs.fc_limit or gcs.fc_factor is not "
		    "Galera's default, which the teardown puts back");
	h_sql(NULL, SQL_FC_TINY);
	sent = h_query_int(NULL, SQL_FC_SENT);
	use(1);
	recv = h_query_int(NULL, SQL_FC_RECV);
	paused_ns = h_query_int(NULL, SQL_FC_PAUSED_NS);

	cfg = h_config(DB,
	    "worker:\n  sleep_between_batches: 20ms\n"
	    "replication:\n  check_interval: 100ms\n");
	h_janitor_argv(argv, cfg, "10");
	p = h_start(argv, NULL, (uid_t)-1);
	/* Some batches committed before flow control. */
	for (i = 0; i < 100 && h_incomplete_left(DB) > missing - 50; i++)
		h_proc_read(&p, 50);
	assert_true(h_proc_running(&p));
	use(3);
	fc_lock = h_connect(DB);
	rc = pj_db_exec(fc_lock, SQL_LOCK_CONSUMERS, NULL, 0, NULL, &err);
	if (rc != PJ_OK)
		fail_msg("LOCK TABLES on node 3: %s", err.msg);
	/* Flow control within a few write sets: no batch commits after. */
	h_proc_read(&p, 500);
	use(1);
	left_early = h_incomplete_left(DB);
	h_proc_read(&p, FC_HOLD_MS - 500);
	left_late = h_incomplete_left(DB);
	assert_true(h_proc_running(&p));
	pj_db_close(fc_lock);
	fc_lock = NULL;
	w = h_finish(&p);
	print_worker("worker on node 1 (flow control)", &w);
	print_pauses(w.err);
	free(cfg);

	use(3);
	sent = h_query_int(NULL, SQL_FC_SENT) - sent;
	use(1);
	recv = h_query_int(NULL, SQL_FC_RECV) - recv;
	paused_ns = h_query_int(NULL, SQL_FC_PAUSED_NS) - paused_ns;
	print_message(
	    "flow control: node 3 sent %lld, node 1 received %lld, "
	    "paused %.2f s; missing left %lld at +0.5 s, %lld at "
	    "+%.1f s of %lld\n",
	    sent, recv, (double)paused_ns / 1e9, left_early, left_late,
	    FC_HOLD_MS / 1000.0, missing);
	/* Flow control really happened, for most of the lock's time. */
	assert_true(sent > 0);
	assert_true(recv > 0);
	assert_true(paused_ns > (long long)FC_HOLD_MS * 1000000 / 2);
	/* Nothing committed meanwhile, with work left. */
	assert_int_equal(left_early, left_late);
	assert_true(left_late > 0);
	expect_clean_worker("worker on node 1 (flow control)", &w);
	h_expect_log(&w, "event=replication_pause galera=flow_control", true);
	h_expect_log(&w, "event=replication_pause_end outcome=resumed", true);
	assert_int_equal(h_json_field(w.out, "repaired"), missing);
	assert_nodes_agree(0);
	h_result_free(&w);
	print_message("flow control test: %.1f s\n",
	    (double)(h_now_ms() - began) / 1000.0);
}

static int
restore_flow_control(void **state)
{
	(void)state;
	pj_db_close(fc_lock);
	fc_lock = NULL;
	use(3);
	h_sql(NULL, SQL_FC_DEFAULT);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(galera_commit_certification_failure),
		cmocka_unit_test(galera_worker_and_writers_on_other_nodes),
		cmocka_unit_test(galera_two_workers_on_two_nodes),
		cmocka_unit_test_teardown(
		    galera_desynced_node_refused, resync_node2),
		cmocka_unit_test_teardown(
		    galera_flow_control_pauses_worker, restore_flow_control),
		cmocka_unit_test(galera_node_killed_mid_run),
	};
	int failed, n;

	for (n = 1; n <= NODES; n++) {
		const char *sock = env_or_null("SOCKET", n);
		const char *port = env_or_null("SQL_PORT", n);
		const char *pid_file = env_or_null("PID_FILE", n);
		char *slash;

		if (sock == NULL || port == NULL || pid_file == NULL)
			return h_cannot_run(
			    "no Galera cluster (PJ_GALERA_SOCKET_"
			    "n, PJ_GALERA_SQL_PORT_n or "
			    "PJ_GALERA_PID_FILE_n is not set)",
			    "run scripts/galera-sandbox.sh start and eval "
			    "\"$(scripts/galera-sandbox.sh env)\"");
		snprintf(node[n].sock, sizeof(node[n].sock), "%s", sock);
		node[n].port = atoi(port);
		snprintf(node[n].dir, sizeof(node[n].dir), "%s", pid_file);
		slash = strrchr(node[n].dir, '/');
		if (slash == NULL || strcmp(slash, "/mysqld.pid") != 0)
			return h_cannot_run(
			    "PJ_GALERA_PID_FILE_n does not end "
			    "in /mysqld.pid",
			    NULL);
		*slash = '\0';
	}
	/* All three up and synced (brings back a node an earlier run
	 * killed); fails with the node's log otherwise. */
	if (!galera_start())
		return 1;
	use(1);
	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
