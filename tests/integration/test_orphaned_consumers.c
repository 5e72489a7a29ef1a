/* The orphaned_consumers pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/db.h"
#include "common/strings.h"
#include "common/time.h"
#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/engine.h"
#include "worker/pass.h"

#define DB "pj_it_orphaned_consumers"
#define FIXTURE "tests/integration/fixtures/orphaned_consumers.sql"
#define PASS "orphaned_consumers"
#define RUN_ID "0c0c0c0c-0000-4000-8000-000000000001"
#define DAMAGED 5 /* in the fixture: uuids 'dmg-%' */

static const char SQL_SESSION_TZ[] = "SET time_zone = ?";
static const char SQL_TZ_OFFSET[] =
    "SELECT TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())";

/* Every column of the consumers matching a LIKE pattern, as one text. */
#define CONSUMERS_DIGEST(where) \
	"SELECT CONCAT(COUNT(*), ':', IFNULL(SUM(CRC32(CONCAT_WS(',', id," \
	" uuid, project_id, user_id, generation," \
	" IFNULL(consumer_type_id, '-'), IFNULL(created_at, '-')," \
	" IFNULL(updated_at, '-')))), 0)) FROM consumers WHERE " where

/* Everything but consumers and the archive. */
static const char OTHERS_DIGEST[] =
    "SELECT CONCAT_WS('/',"
    " (SELECT SUM(CRC32(CONCAT_WS(',', id, resource_provider_id,"
    " consumer_id, resource_class_id, used, IFNULL(created_at, '-'))))"
    " FROM allocations),"
    " (SELECT COUNT(*) FROM allocations),"
    " (SELECT SUM(CRC32(CONCAT_WS(',', id, uuid, generation)))"
    " FROM resource_providers),"
    " (SELECT COUNT(*) FROM projects), (SELECT COUNT(*) FROM users),"
    " (SELECT COUNT(*) FROM consumer_types))";

/*
 * Archive rows that hold, field by field, a row of pj_test_expect (the
 * damaged consumers as they were before the repair), deleted by run_id.
 */
static const char ARCHIVED_EXACTLY[] =
    "SELECT COUNT(*) FROM placement_janitor_archive r"
    " JOIN pj_test_expect e ON r.row_key = CAST(e.id AS CHAR)"
    " WHERE r.pass = 'orphaned_consumers' AND r.table_name = 'consumers'"
    " AND r.action = 'delete' AND r.restored_at IS NULL"
    " AND JSON_LENGTH(r.row_data) = 8"
    " AND JSON_VALUE(r.row_data, '$.id') = e.id"
    " AND JSON_VALUE(r.row_data, '$.uuid') = e.uuid"
    " AND JSON_VALUE(r.row_data, '$.project_id') = e.project_id"
    " AND JSON_VALUE(r.row_data, '$.user_id') = e.user_id"
    " AND JSON_VALUE(r.row_data, '$.generation') = e.generation"
    " AND JSON_VALUE(r.row_data, '$.consumer_type_id')"
    " <=> e.consumer_type_id"
    " AND CAST(JSON_VALUE(r.row_data, '$.created_at') AS DATETIME)"
    " <=> e.created_at"
    " AND CAST(JSON_VALUE(r.row_data, '$.updated_at') AS DATETIME)"
    " <=> e.updated_at";

/* The run's id from a JSON report, into buf. */
static void
json_run_id(const char *json, char *buf, size_t size)
{
	const char *p = strstr(json, "\"run_id\":\"");

	assert_non_null(p);
	p += strlen("\"run_id\":\"");
	snprintf(buf, size, "%.*s", (int)strcspn(p, "\""), p);
}

static struct h_result
janitor(const char *config, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5)
{
	const char *argv[] = { "--config", config, "--format", "json", "--pass",
		PASS, a1, a2, a3, a4, a5, NULL };

	return h_run(argv, NULL);
}

static struct h_result
repair(const char *config)
{
	struct h_result r = janitor(config, "repair", NULL, NULL, NULL, NULL);

	if (r.exit_code != 0)
		fail_msg("repair exited %d: %s", r.exit_code, r.err);
	return r;
}

static void
reset(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
}

/* The fixture, and a copy of its damaged rows to check the archive. */
static void
seed_fixture(void)
{
	reset();
	h_sql_file(DB, FIXTURE);
	h_sql(DB,
	    "CREATE TABLE pj_test_expect AS"
	    " SELECT * FROM consumers WHERE uuid LIKE 'dmg-%'");
}

static long long
count(const char *sql)
{
	return h_query_int(DB, sql);
}

static void
orphaned_consumers_repairs_only_damage(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *healthy_before, *healthy_after, *others_before, *others_after;
	char run_id[64], sql[256];
	struct h_result r;

	(void)state;
	seed_fixture();
	healthy_before = h_query(DB, CONSUMERS_DIGEST("uuid NOT LIKE 'dmg-%'"));
	others_before = h_query(DB, OTHERS_DIGEST);
	r = repair(cfg);
	assert_int_equal(h_json_field(r.out, "found"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "remaining"), 0);
	/* --pass: no other pass ran (incomplete_consumers would have made
	 * a consumer for 'dmg-lookalike-x'). */
	assert_null(strstr(r.out, "incomplete_consumers"));
	assert_int_equal(count("SELECT COUNT(*) FROM consumers"
	                       " WHERE uuid = 'dmg-lookalike-x'"),
	    0);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM consumers WHERE uuid LIKE 'dmg-%'"), 0);
	healthy_after = h_query(DB, CONSUMERS_DIGEST("uuid NOT LIKE 'dmg-%'"));
	assert_string_equal(healthy_before, healthy_after);
	assert_int_equal(count("SELECT COUNT(*) FROM consumers"), 7);
	others_after = h_query(DB, OTHERS_DIGEST);
	assert_string_equal(others_before, others_after);
	/* Each deleted row archived once, whole, by this run. */
	assert_int_equal(count(ARCHIVED_EXACTLY), DAMAGED);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM placement_janitor_archive"), DAMAGED);
	json_run_id(r.out, run_id, sizeof(run_id));
	snprintf(sql, sizeof(sql),
	    "SELECT COUNT(*) FROM placement_janitor_archive"
	    " WHERE run_id = '%s'",
	    run_id);
	assert_int_equal(count(sql), DAMAGED);
	h_result_free(&r);
	free(healthy_before);
	free(healthy_after);
	free(others_before);
	free(others_after);
	free(cfg);
}

static void
orphaned_consumers_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	before = h_checksum(DB);
	r = janitor(cfg, "check", NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "remaining"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	r = janitor(cfg, "--dry-run", "--batch-size", "2", "repair", NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
orphaned_consumers_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	r = repair(cfg);
	h_result_free(&r);
	before = h_checksum(DB);
	r = repair(cfg);
	assert_int_equal(h_json_field(r.out, "found"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* In report mode the pass finds but never writes. */
static void
orphaned_consumers_report_mode(void **state)
{
	char *cfg =
	    h_config(DB, "passes:\n  orphaned_consumers:\n    mode: report\n");
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* 60 healthy and 40 damaged consumers, interleaved, in batches of 3: the
 * keyset crosses 14 batches, the last one partial. */
static void
orphaned_consumers_crosses_batches(void **state)
{
	/* Without adaptive pacing every batch has batch_size keys. */
	char *cfg = h_config(DB, "worker:\n  batch_target: 0\n");
	char *healthy_before, *healthy_after;
	struct h_result r;

	(void)state;
	reset();
	h_sql(DB,
	    "INSERT INTO consumers (id, uuid, project_id, user_id,"
	    " generation, created_at)"
	    " SELECT seq, CONCAT(IF(seq % 5 IN (1, 3), 'dmg-', 'ok-'), seq),"
	    " 1, 1, seq, UTC_TIMESTAMP() - INTERVAL"
	    " IF(seq % 5 = 4, 10, 120) MINUTE FROM seq_1_to_100;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1, uuid, 0, 1 FROM consumers"
	    " WHERE id % 5 IN (0, 2);");
	healthy_before = h_query(DB, CONSUMERS_DIGEST("uuid LIKE 'ok-%'"));
	r = janitor(cfg, "--batch-size", "3", "repair", NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), 40);
	assert_int_equal(h_json_field(r.out, "repaired"), 40);
	assert_int_equal(h_json_field(r.out, "batches"), 14);
	h_result_free(&r);
	healthy_after = h_query(DB, CONSUMERS_DIGEST("uuid LIKE 'ok-%'"));
	assert_string_equal(healthy_before, healthy_after);
	assert_int_equal(count("SELECT COUNT(*) FROM consumers"), 60);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM placement_janitor_archive"), 40);
	free(healthy_before);
	free(healthy_after);
	free(cfg);
}

/* Consumers 30 min, 2 h and 5 h old (UTC) under several min_age values. */
static void
orphaned_consumers_min_age_setting(void **state)
{
	static const struct {
		const char *min_age;
		long long deleted;
		const char *left; /* the uuids kept, in order */
	} cases[] = {
		{ "10m", 3, "" },
		{ "1h", 2, "age-30m" },
		{ "3h", 1, "age-2h,age-30m" },
		{ "1d", 0, "age-2h,age-30m,age-5h" },
	};
	char yaml[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_result r;
		char *cfg, *left;

		reset();
		h_sql(DB,
		    "INSERT INTO consumers (uuid, project_id, user_id,"
		    " created_at) VALUES"
		    " ('age-30m', 1, 1, UTC_TIMESTAMP() - INTERVAL 30 MINUTE),"
		    " ('age-2h', 1, 1, UTC_TIMESTAMP() - INTERVAL 2 HOUR),"
		    " ('age-5h', 1, 1, UTC_TIMESTAMP() - INTERVAL 5 HOUR);");
		snprintf(yaml, sizeof(yaml),
		    "passes:\n  orphaned_consumers:\n    min_age: %s\n",
		    cases[i].min_age);
		cfg = h_config(DB, yaml);
		r = repair(cfg);
		left = h_query(DB,
		    "SELECT IFNULL(GROUP_CONCAT(uuid ORDER BY uuid), '')"
		    " FROM consumers");
		if (h_json_field(r.out, "repaired") != cases[i].deleted ||
		    strcmp(left, cases[i].left) != 0)
			fail_msg("min_age %s: repaired %lld, left \"%s\"",
			    cases[i].min_age, h_json_field(r.out, "repaired"),
			    left);
		h_result_free(&r);
		free(left);
		free(cfg);
	}
}

/* Runs the pass in this process on db (whatever its session time zone). */
static void
run_in_process(struct pj_db *db, struct pj_run_report *report)
{
	static const char *const only[] = { PASS };
	struct pj_run_opts opts;
	struct pj_config cfg;
	struct pj_error err;

	memset(&err, 0, sizeof(err));
	memset(&opts, 0, sizeof(opts));
	memset(report, 0, sizeof(*report));
	if (pj_cfg_defaults(&cfg, &err) != PJ_OK)
		fail_msg("defaults: %s", err.msg);
	cfg.passes.orphaned_consumers_min_age_ms = 3600 * 1000;
	opts.command = "repair";
	opts.only = only;
	opts.n_only = 1;
	pj_strlcpy(report->run_id, RUN_ID, sizeof(report->run_id));
	if (pj_engine_run(db, &cfg, &opts, report, &err) != PJ_OK)
		fail_msg("engine: %s", err.msg);
}

/*
 * min_age is measured in UTC whatever the session's time zone: the
 * worker's own session is UTC, so only here, with the session moved off
 * UTC, would a NOW() in the pass show (east of UTC it deletes the young
 * consumer, west of it keeps the old one).
 */
static void
orphaned_consumers_min_age_is_utc(void **state)
{
	static const struct {
		const char *zone;
		long long offset_min;
	} zones[] = {
		{ "+05:30", 330 },
		{ "-05:30", -330 },
		{ "+00:00", 0 },
	};
	char *server_zone;
	size_t i;

	(void)state;
	reset();
	server_zone = h_query(DB, "SELECT @@global.time_zone");
	print_message("server time zone: %s\n", server_zone);
	free(server_zone);
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		struct pj_param zone = PJ_TEXT(zones[i].zone);
		struct pj_run_report report;
		struct pj_stmt *st = NULL;
		struct pj_error err;
		struct pj_db *db;
		bool row = false;
		char *left;

		memset(&err, 0, sizeof(err));
		reset();
		h_sql(DB,
		    "INSERT INTO consumers (uuid, project_id, user_id,"
		    " created_at) VALUES"
		    " ('tz-30m', 1, 1, UTC_TIMESTAMP() - INTERVAL 30 MINUTE),"
		    " ('tz-2h', 1, 1, UTC_TIMESTAMP() - INTERVAL 2 HOUR);");
		db = h_connect(DB);
		if (pj_db_exec(db, SQL_SESSION_TZ, &zone, 1, NULL, &err) ||
		    pj_stmt_prepare(db, SQL_TZ_OFFSET, &st, &err) ||
		    pj_stmt_exec(st, NULL, 0, &err) ||
		    pj_stmt_fetch(st, &row, &err) || !row)
			fail_msg("zone %s: %s", zones[i].zone, err.msg);
		/* The session really is off UTC (else this proves nothing). */
		if (pj_stmt_int(st, 0) != zones[i].offset_min)
			fail_msg("zone %s: NOW() is %lld min from UTC",
			    zones[i].zone, (long long)pj_stmt_int(st, 0));
		pj_stmt_close(st);
		run_in_process(db, &report);
		pj_db_close(db);
		left = h_query(DB, "SELECT GROUP_CONCAT(uuid) FROM consumers");
		if (report.passes[0].repaired != 1 ||
		    strcmp(left, "tz-30m") != 0)
			fail_msg("session zone %s: repaired %zu, left \"%s\"",
			    zones[i].zone, report.passes[0].repaired, left);
		free(left);
	}
}

/*
 * Whatever happens to the candidate between find_batch and repair_batch,
 * the repair re-checks it under lock: deleted only if it is the same row
 * (generation), still empty and still old.
 */
static void
orphaned_consumers_rechecks_under_lock(void **state)
{
	static const struct {
		const char *what;
		const char *change; /* SQL run between find and repair */
		size_t deleted;
		long long left; /* consumers rows afterwards */
	} cases[] = {
		{ "nothing", "DO 0", 1, 0 },
		{ "generation moved",
		    "UPDATE consumers SET generation = generation + 1"
		    " WHERE uuid = 'victim'",
		    0, 1 },
		{ "allocation added",
		    "INSERT INTO allocations (resource_provider_id,"
		    " consumer_id, resource_class_id, used)"
		    " VALUES (1, 'VICTIM ', 0, 1)",
		    0, 1 },
		{ "updated just now",
		    "UPDATE consumers SET updated_at = UTC_TIMESTAMP()"
		    " WHERE uuid = 'victim'",
		    0, 1 },
		{ "deleted by Placement",
		    "DELETE FROM consumers WHERE uuid = 'victim'", 0, 0 },
		/* Its allocations were locked under the old uuid. */
		{ "uuid changed",
		    "UPDATE consumers SET uuid = 'other' WHERE uuid = 'victim'",
		    0, 1 },
	};
	struct pj_key keys[4];
	struct pj_config cfg;
	struct pj_error err;
	size_t i;

	(void)state;
	memset(&err, 0, sizeof(err));
	if (pj_cfg_defaults(&cfg, &err) != PJ_OK)
		fail_msg("defaults: %s", err.msg);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_batch b = { keys, 0, 4 };
		struct pj_ctx ctx = {
			.cfg = &cfg, .run_id = RUN_ID, .archive = true
		};
		size_t repaired = 0;
		int rc;

		reset();
		h_sql(DB,
		    "INSERT INTO consumers (uuid, project_id, user_id,"
		    " generation, created_at) VALUES ('victim', 1, 1, 3,"
		    " UTC_TIMESTAMP() - INTERVAL 1 DAY);");
		ctx.db = h_connect(DB);
		rc =
		    pj_pass_orphaned_consumers.find_batch(&ctx, NULL, &b, &err);
		if (rc || b.n != 1)
			fail_msg("%s: find: %zu keys %s", cases[i].what, b.n,
			    err.msg);
		h_sql(DB, cases[i].change);
		rc = pj_db_begin(ctx.db, &err);
		if (rc == PJ_OK)
			rc = pj_pass_orphaned_consumers.repair_batch(
			    &ctx, &b, &repaired, &err);
		if (rc == PJ_OK)
			rc = pj_db_commit(ctx.db, &err);
		pj_db_close(ctx.db);
		if (rc || repaired != cases[i].deleted)
			fail_msg("%s: status %d, deleted %zu: %s",
			    cases[i].what, rc, repaired, err.msg);
		if (count("SELECT COUNT(*) FROM placement_janitor_archive") !=
		    (long long)cases[i].deleted)
			fail_msg("%s: archive does not match", cases[i].what);
		if (count("SELECT COUNT(*) FROM consumers") != cases[i].left)
			fail_msg(
			    "%s: consumers left do not match", cases[i].what);
	}
}

/* Placement's allocation write for 'victim' in a child process: begins,
 * inserts an allocation, says so on fd, waits, then bumps the consumer's
 * generation by compare-and-swap and commits. Exit 0 when all of it
 * worked, 1 on a generation conflict, 2 on any other failure. */
static void
placement_write(int fd, int64_t wait_ms)
{
	static const char SQL_GET[] =
	    "SELECT id, generation FROM consumers WHERE uuid = 'victim'";
	static const char SQL_REPLACE_DEL[] =
	    "DELETE FROM allocations WHERE consumer_id = 'victim'";
	static const char SQL_REPLACE_ADD[] =
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used, created_at)"
	    " VALUES (1, 'victim', 0, 1, UTC_TIMESTAMP())";
	static const char SQL_CAS[] =
	    "UPDATE consumers SET generation = ? + 1,"
	    " updated_at = UTC_TIMESTAMP() WHERE id = ? AND generation = ?";
	struct pj_db_config dbc;
	struct pj_error err;
	struct pj_stmt *get = NULL;
	struct pj_db *db = NULL;
	struct pj_param cas[3];
	uint64_t changed = 0;
	bool row = false;
	int rc;

	memset(&dbc, 0, sizeof(dbc));
	memset(&err, 0, sizeof(err));
	pj_strlcpy(dbc.socket, getenv("PJ_TEST_SOCKET"), sizeof(dbc.socket));
	pj_strlcpy(dbc.name, DB, sizeof(dbc.name));
	pj_strlcpy(dbc.user, "root", sizeof(dbc.user));
	dbc.connect_timeout_ms = 10000;
	dbc.read_timeout_ms = dbc.write_timeout_ms = 60000;
	dbc.lock_wait_timeout_ms = 10000;
	rc = pj_db_connect(&dbc, &db, &err);
	if (rc == PJ_OK)
		rc = pj_db_begin(db, &err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(db, SQL_GET, &get, &err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(get, NULL, 0, &err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(get, &row, &err);
	if (rc == PJ_OK && !row)
		rc = PJ_EDB;
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_REPLACE_DEL, NULL, 0, NULL, &err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_REPLACE_ADD, NULL, 0, NULL, &err);
	if (write(fd, rc == PJ_OK ? "r" : "x", 1) != 1)
		rc = PJ_EIO;
	if (rc == PJ_OK) {
		pj_time_sleep_ms(wait_ms);
		cas[0] = cas[2] = PJ_INT(pj_stmt_int(get, 1));
		cas[1] = PJ_INT(pj_stmt_int(get, 0));
		rc = pj_db_exec(db, SQL_CAS, cas, 3, &changed, &err);
	}
	if (rc == PJ_OK && changed != 1)
		rc = PJ_ECONFLICT;
	if (rc == PJ_OK)
		rc = pj_db_commit(db, &err);
	if (rc)
		fprintf(
		    stderr, "placement write: status %d: %s\n", rc, err.msg);
	pj_stmt_close(get);
	pj_db_close(db);
	_exit(rc == PJ_OK ? 0 : rc == PJ_ECONFLICT ? 1 : 2);
}

/* Forks placement_write (its CAS 1.5 s after its allocation) and returns
 * once the allocation is written; h_reap() the pid. */
static pid_t
start_placement_write(void)
{
	int p[2];
	char ready = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		placement_write(p[1], 1500);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ready, 1), 1);
	close(p[0]);
	assert_int_equal(ready, 'r');
	return pid;
}

/*
 * An old empty consumer gets its first allocation while the worker runs:
 * find_batch sees it empty, the repair waits on the writer's allocation
 * lock (allocations first, as Placement locks them, so no deadlock), then
 * sees the allocation and keeps the consumer. The writer's CAS succeeds.
 */
static void
orphaned_consumers_waits_for_placement_write(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	pid_t pid;

	(void)state;
	reset();
	h_sql(DB,
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1);"
	    "INSERT INTO consumers (uuid, project_id, user_id, generation,"
	    " created_at) VALUES ('victim', 1, 1, 6,"
	    " UTC_TIMESTAMP() - INTERVAL 1 DAY);");
	pid = start_placement_write();
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL);
	h_reap(pid);
	if (r.exit_code != 0)
		fail_msg("janitor exited %d: %s", r.exit_code, r.err);
	/* It was a candidate (the write was in flight), and was kept without
	 * a deadlock or a retry. */
	assert_int_equal(h_json_field(r.out, "found"), 1);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	assert_int_equal(h_json_field(r.out, "retries"), 0);
	h_result_free(&r);
	assert_int_equal(count("SELECT generation FROM consumers"
	                       " WHERE uuid = 'victim'"),
	    7);
	assert_int_equal(count("SELECT COUNT(*) FROM allocations"), 1);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM placement_janitor_archive"), 0);
	free(cfg);
}

/*
 * One batch of several keys by hand, as the engine runs it: each key is
 * re-checked on its own (the one whose generation moved after the find is
 * kept, the others deleted and archived), and until COMMIT no allocation
 * can be added for a batch consumer nor a batch row changed, while the
 * healthy consumer between them stays free for Placement.
 */
static void
orphaned_consumers_batch_locks_its_rows(void **state)
{
	static const char SQL_ADD_ALLOCATION[] =
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'c-1', 0, 1)";
	static const char SQL_TOUCH[] =
	    "UPDATE consumers SET updated_at = UTC_TIMESTAMP() WHERE id = ?";
	struct pj_param id;
	struct pj_key keys[8];
	struct pj_batch b = { keys, 0, 8 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx = { .cfg = &cfg, .run_id = RUN_ID, .archive = true };
	struct pj_db *other;
	size_t repaired = 0;
	int rc, probe[3] = { -1, -1, -1 };

	(void)state;
	reset();
	h_sql(DB,
	    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
	    " created_at) VALUES (1, 'c-1', 1, 1, 1, '2000-01-01'),"
	    " (2, 'c-2', 1, 1, 1, '2000-01-01'),"
	    " (3, 'c-3', 1, 1, 1, '2000-01-01'),"
	    " (4, 'c-4', 1, 1, 1, '2000-01-01');"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'c-2', 0, 1);");
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	ctx.db = h_connect(DB);
	assert_int_equal(
	    pj_pass_orphaned_consumers.find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, 3);
	h_sql(DB, "UPDATE consumers SET generation = 2 WHERE id = 3");

	/* Checked once the batch ended: a failure must not leave its locks
	 * to stall the tests after it. */
	other = h_connect_waiting(DB, 1000);
	rc = pj_db_begin(ctx.db, &err);
	if (rc == PJ_OK)
		rc = pj_pass_orphaned_consumers.repair_batch(
		    &ctx, &b, &repaired, &err);
	if (rc == PJ_OK) {
		probe[0] = h_try_exec(other, SQL_ADD_ALLOCATION, NULL, 0);
		id = PJ_INT(3);
		probe[1] = h_try_exec(other, SQL_TOUCH, &id, 1);
		id = PJ_INT(2);
		probe[2] = h_try_exec(other, SQL_TOUCH, &id, 1);
		rc = pj_db_commit(ctx.db, &err);
	}
	pj_db_close(ctx.db);
	if (rc != PJ_OK || repaired != 2) {
		pj_db_close(other);
		fail_msg("status %d, deleted %zu: %s", rc, repaired, err.msg);
	}
	/* c-1's allocations and consumer 3 locked, consumer 2 free. */
	assert_int_equal(probe[0], PJ_ERETRY);
	assert_int_equal(probe[1], PJ_ERETRY);
	assert_int_equal(probe[2], PJ_OK);

	h_expect_query(DB, "SELECT GROUP_CONCAT(id ORDER BY id) FROM consumers",
	    "2,3", "consumers left");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(row_key ORDER BY row_key)"
	    " FROM placement_janitor_archive",
	    "1,4", "consumers archived");
	assert_int_equal(h_try_exec(other, SQL_ADD_ALLOCATION, NULL, 0), PJ_OK);
	pj_db_close(other);
}

/*
 * The same race with the batch run by hand, so that the writer's
 * compare-and-swap surely comes while repair_batch waits: the batch takes
 * the allocations locks before any consumers row, as Placement does, so it
 * waits for the writer's allocation holding nothing the writer needs (the
 * other order deadlocks), then sees the allocation and keeps the consumer.
 */
static void
orphaned_consumers_batch_locks_allocations_first(void **state)
{
	struct pj_key keys[2];
	struct pj_batch b = { keys, 0, 2 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx = { .cfg = &cfg, .run_id = RUN_ID, .archive = true };
	size_t repaired = 0;
	pid_t pid;
	int rc;

	(void)state;
	reset();
	h_sql(DB,
	    "INSERT INTO consumers (uuid, project_id, user_id, generation,"
	    " created_at) VALUES ('victim', 1, 1, 6, '2000-01-01');");
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	pid = start_placement_write();
	ctx.db = h_connect(DB);
	rc = pj_pass_orphaned_consumers.find_batch(&ctx, NULL, &b, &err);
	if (rc == PJ_OK && b.n == 1)
		rc = pj_db_begin(ctx.db, &err);
	if (rc == PJ_OK)
		rc = pj_pass_orphaned_consumers.repair_batch(
		    &ctx, &b, &repaired, &err);
	if (rc == PJ_OK)
		rc = pj_db_commit(ctx.db, &err);
	pj_db_close(ctx.db);
	h_reap(pid);
	if (rc != PJ_OK || b.n != 1 || repaired != 0)
		fail_msg("batch of %zu: status %d, deleted %zu: %s", b.n, rc,
		    repaired, err.msg);
	assert_int_equal(count("SELECT generation FROM consumers"
	                       " WHERE uuid = 'victim'"),
	    7);
}

/* archive.enabled: false is the operator's choice: delete, archive none. */
static void
orphaned_consumers_archive_disabled(void **state)
{
	char *cfg = h_config(DB, "archive:\n  enabled: false\n");
	struct h_result r;

	(void)state;
	seed_fixture();
	r = repair(cfg);
	assert_int_equal(h_json_field(r.out, "repaired"), DAMAGED);
	h_result_free(&r);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM consumers WHERE uuid LIKE 'dmg-%'"), 0);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM placement_janitor_archive"), 0);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orphaned_consumers_repairs_only_damage),
		cmocka_unit_test(orphaned_consumers_dry_run_changes_nothing),
		cmocka_unit_test(orphaned_consumers_second_run_changes_nothing),
		cmocka_unit_test(orphaned_consumers_report_mode),
		cmocka_unit_test(orphaned_consumers_crosses_batches),
		cmocka_unit_test(orphaned_consumers_min_age_setting),
		cmocka_unit_test(orphaned_consumers_min_age_is_utc),
		cmocka_unit_test(orphaned_consumers_rechecks_under_lock),
		cmocka_unit_test(orphaned_consumers_waits_for_placement_write),
		cmocka_unit_test(orphaned_consumers_batch_locks_its_rows),
		cmocka_unit_test(
		    orphaned_consumers_batch_locks_allocations_first),
		cmocka_unit_test(orphaned_consumers_archive_disabled),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
