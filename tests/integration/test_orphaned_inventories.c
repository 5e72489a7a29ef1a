/* The orphaned_inventories pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/pass.h"

#define DB "pj_it_orphaned_inventories"
#define PASS "orphaned_inventories"
#define FIXTURE "tests/integration/fixtures/orphaned_inventories.sql"

/* Fixed batch sizes: batch counts are part of what the tests check. */
static const char REPAIR_YAML[] =
    "worker:\n  batch_target: 0ms\n"
    "passes:\n  orphaned_inventories:\n    mode: repair\n";

/* What the fixture holds: 4 orphans (ids 11, 13, 15, 17), 4 healthy. */
#define FIXTURE_ORPHANS 4

/* Inventories whose provider is gone, now. */
static const char SQL_ORPHANS[] =
    "SELECT COUNT(*) FROM inventories i"
    " LEFT JOIN resource_providers rp ON rp.id = i.resource_provider_id"
    " WHERE rp.id IS NULL";
/* Every healthy inventory row, every column. */
static const char SQL_HEALTHY_SUM[] =
    "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS(',', i.id,"
    " i.resource_provider_id, i.resource_class_id, i.total, i.reserved,"
    " i.min_unit, i.max_unit, i.step_size, i.allocation_ratio,"
    " i.created_at, i.updated_at))), 0)) FROM inventories i"
    " JOIN resource_providers rp ON rp.id = i.resource_provider_id";
static const char SQL_PROVIDERS_SUM[] =
    "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', id, uuid, name,"
    " generation, root_provider_id, parent_provider_id, created_at,"
    " updated_at)))) FROM resource_providers";

/* A holder (another session) locks provider 7's inventories, creates
 * provider 7 (a restore), and commits after a while. */
static const char SQL_HOLD_LOCK[] =
    "SELECT COUNT(*) FROM inventories WHERE resource_provider_id = 7"
    " FOR UPDATE";
static const char SQL_HOLD_PROVIDER[] =
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id) VALUES (7, 'rp-7', 'cn7', 0, 7)";

static void
seed(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql_file(DB, FIXTURE);
}

/* The fixture, plus n orphans (ids from 1000, providers 100 + k, some
 * with a NULL created_at) interleaved with n healthy rows. */
static void
seed_bulk(int n)
{
	char sql[768];

	seed();
	if (n == 0)
		return; /* seq_1_to_0 counts down: two rows */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO inventories (id, resource_provider_id,"
	    " resource_class_id, total, reserved, min_unit, max_unit,"
	    " step_size, allocation_ratio, created_at)"
	    " SELECT 1000 + seq, IF(seq %% 2 = 0, 1 + seq %% 3, 100 + seq),"
	    " 100 + seq, seq, 0, 1, seq, 1, 1.0,"
	    " IF(seq %% 5 = 0, NULL, '2024-05-05 00:00:00')"
	    " FROM seq_1_to_%d;",
	    2 * n);
	h_sql(DB, sql);
}

/* Deletes exactly the orphans, archives each with its whole old row, and
 * leaves healthy inventories and every provider as they were. */
static void
orphaned_inventories_repairs_only_damage(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	char *healthy_before, *healthy_after, *rp_before, *rp_after;
	char run_id[40] = "";
	const char *p;
	struct h_result r;
	char sql[256];

	(void)state;
	seed();
	h_sql(DB, "CREATE TABLE t_before SELECT * FROM inventories");
	healthy_before = h_query(DB, SQL_HEALTHY_SUM);
	rp_before = h_query(DB, SQL_PROVIDERS_SUM);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ORPHANS);
	assert_int_equal(
	    h_pass_field(PASS, r.out, "repaired"), FIXTURE_ORPHANS);
	assert_int_equal(h_pass_field(PASS, r.out, "remaining"), 0);
	p = strstr(r.out, "\"run_id\":\"");
	assert_non_null(p);
	sscanf(p + strlen("\"run_id\":\""), "%36[0-9a-f-]", run_id);
	assert_int_equal(strlen(run_id), 36);
	h_result_free(&r);

	assert_int_equal(h_query_int(DB, SQL_ORPHANS), 0);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM inventories"), 4);
	healthy_after = h_query(DB, SQL_HEALTHY_SUM);
	assert_string_equal(healthy_before, healthy_after);
	rp_after = h_query(DB, SQL_PROVIDERS_SUM);
	assert_string_equal(rp_before, rp_after);

	/* One archive row per orphan, holding every column's old value. */
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    FIXTURE_ORPHANS);
	snprintf(sql, sizeof(sql),
	    "SELECT COUNT(*) FROM placement_janitor_archive WHERE"
	    " run_id = '%s' AND pass = '" PASS
	    "' AND table_name ="
	    " 'inventories' AND action = 'delete' AND restored_at IS NULL",
	    run_id);
	assert_int_equal(h_query_int(DB, sql), FIXTURE_ORPHANS);
	assert_int_equal(
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM t_before b JOIN placement_janitor_archive"
	        " a ON a.row_key = CAST(b.id AS CHAR)"
	        " WHERE b.resource_provider_id IN (7, 8)"
	        " AND JSON_VALUE(a.row_data, '$.id') = b.id"
	        " AND JSON_VALUE(a.row_data, '$.resource_provider_id') ="
	        " b.resource_provider_id"
	        " AND JSON_VALUE(a.row_data, '$.resource_class_id') ="
	        " b.resource_class_id"
	        " AND JSON_VALUE(a.row_data, '$.total') = b.total"
	        " AND JSON_VALUE(a.row_data, '$.reserved') = b.reserved"
	        " AND JSON_VALUE(a.row_data, '$.min_unit') = b.min_unit"
	        " AND JSON_VALUE(a.row_data, '$.max_unit') = b.max_unit"
	        " AND JSON_VALUE(a.row_data, '$.step_size') = b.step_size"
	        " AND JSON_VALUE(a.row_data, '$.allocation_ratio') + 0 ="
	        " CAST(b.allocation_ratio AS DOUBLE)"
	        " AND JSON_VALUE(a.row_data, '$.created_at') <=> b.created_at"
	        " AND JSON_VALUE(a.row_data, '$.updated_at') <=> b.updated_at"
	        " AND JSON_LENGTH(a.row_data) = 11"),
	    FIXTURE_ORPHANS);
	/* The healthy look-alikes were not archived. */
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM placement_janitor_archive"
	                     " WHERE row_key IN ('10', '12', '14', '16')"),
	    0);
	free(healthy_before);
	free(healthy_after);
	free(rp_before);
	free(rp_after);
	free(cfg);
}

/* `check` and `repair --dry-run` count the damage and change nothing. */
static void
orphaned_inventories_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *check[] = { "--pass", PASS, "check", NULL };
	const char *dry[] = { "--pass", PASS, "--dry-run", "--batch-size", "3",
		"repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed();
	before = h_checksum(DB);
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ORPHANS);
	assert_int_equal(
	    h_pass_field(PASS, r.out, "remaining"), FIXTURE_ORPHANS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	h_result_free(&r);
	r = h_run_json(cfg, dry);
	h_expect_exit(&r, 1, "repair --dry-run");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ORPHANS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
orphaned_inventories_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "first repair");
	h_result_free(&r);
	before = h_checksum(DB);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "second repair");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), 0);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* Small batches: every orphan once, each batch its own transaction. */
static void
orphaned_inventories_crosses_batches(void **state)
{
	static const struct {
		int bulk;
		const char *batch;
		long long batches;
	} cases[] = {
		{ 0, "1", 4 },
		{ 50, "7", 8 },    /* 54 orphans: the last batch partial */
		{ 45, "7", 7 },    /* 49: every batch full */
		{ 300, "500", 1 }, /* one batch */
	};
	char *cfg = h_config(DB, REPAIR_YAML);
	char *healthy_before, *healthy_after;
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "--pass", PASS, "--batch-size",
			cases[i].batch, "repair", NULL };
		long long orphans = cases[i].bulk + FIXTURE_ORPHANS;

		seed_bulk(cases[i].bulk);
		healthy_before = h_query(DB, SQL_HEALTHY_SUM);
		r = h_run_json(cfg, args);
		h_expect_exit(&r, 0, cases[i].batch);
		if (h_pass_field(PASS, r.out, "found") != orphans ||
		    h_pass_field(PASS, r.out, "repaired") != orphans ||
		    h_pass_field(PASS, r.out, "batches") != cases[i].batches)
			fail_msg("bulk %d, batch size %s: %s", cases[i].bulk,
			    cases[i].batch, r.out);
		h_result_free(&r);
		assert_int_equal(h_query_int(DB, SQL_ORPHANS), 0);
		assert_int_equal(h_query_int(DB,
		                     "SELECT COUNT(DISTINCT row_key) FROM"
		                     " placement_janitor_archive"),
		    orphans);
		healthy_after = h_query(DB, SQL_HEALTHY_SUM);
		assert_string_equal(healthy_before, healthy_after);
		free(healthy_before);
		free(healthy_after);
	}
	free(cfg);
}

/* The default mode is report: `repair` finds and never writes. */
static void
orphaned_inventories_report_mode_never_writes(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed();
	before = h_checksum(DB);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "repair in report mode");
	assert_non_null(strstr(r.out, "\"mode\":\"report\""));
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ORPHANS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	assert_int_equal(
	    h_pass_field(PASS, r.out, "remaining"), FIXTURE_ORPHANS);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* --pass runs this pass alone: other damage is left to its own pass. */
static void
orphaned_inventories_only_this_pass(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	h_sql(DB,
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'no-such-consumer', 0, 1)");
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair --pass");
	assert_int_equal(
	    h_pass_field(PASS, r.out, "repaired"), FIXTURE_ORPHANS);
	assert_null(strstr(r.out, "incomplete_consumers"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	assert_int_equal(h_query_int(DB, SQL_ORPHANS), 0);
	free(cfg);
}

/* Damage seen by find but healed before the lock is granted (the provider
 * restored meanwhile) is re-checked under the lock and left alone. */
static void
orphaned_inventories_rechecks_under_lock(void **state)
{
	/* A session that holds provider 7's inventories locked while it
	 * creates provider 7, and commits later. */
	static const char *const sql[] = { SQL_HOLD_LOCK, SQL_HOLD_PROVIDER,
		NULL };
	char *cfg = h_config_db(DB, "  lock_wait_timeout: 20s\n", REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	struct h_result r;
	int status = 0;
	pid_t holder;
	char *ids;

	(void)state;
	seed();
	holder = h_hold(DB, sql, NULL, 0, 1500, true);
	r = h_run_json(cfg, args);
	assert_int_equal(waitpid(holder, &status, 0), holder);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	h_expect_exit(&r, 0, "repair during a restore");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ORPHANS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 2);
	h_result_free(&r);
	ids = h_query(DB,
	    "SELECT GROUP_CONCAT(id ORDER BY id) FROM inventories"
	    " WHERE resource_provider_id = 7");
	assert_string_equal(ids, "11,13");
	free(ids);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM inventories WHERE"
	                     " resource_provider_id = 8"),
	    0);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    2);
	free(cfg);
}

/* archive.enabled: false deletes without archiving (the operator's
 * explicit choice); the archive stays empty. */
static void
orphaned_inventories_archive_disabled(void **state)
{
	char *cfg = h_config(DB,
	    "passes:\n  orphaned_inventories:\n    mode: repair\n"
	    "archive:\n  enabled: false\n");
	const char *args[] = { "--pass", PASS, "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair without archive");
	assert_int_equal(
	    h_pass_field(PASS, r.out, "repaired"), FIXTURE_ORPHANS);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, SQL_ORPHANS), 0);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    0);
	free(cfg);
}

static const char SQL_TOUCH_INVENTORY[] =
    "UPDATE inventories SET reserved = reserved + 1 WHERE id = ?";

/* Updates inventory id from db in a transaction of its own: the status. */
static int
try_touch(struct pj_db *db, int64_t id)
{
	struct pj_param p = PJ_INT(id);

	return h_try_exec(db, SQL_TOUCH_INVENTORY, &p, 1);
}

/*
 * One batch by hand: an orphan whose provider came back after the find is
 * kept (the re-check under the lock); until COMMIT another session cannot
 * change an orphan of the batch, but the healthy inventory between two of
 * them is not locked (the lock is the key list, not the id range).
 */
static void
orphaned_inventories_batch_locks_and_rechecks(void **state)
{
	const struct pj_pass *pass = &pj_pass_orphaned_inventories;
	struct pj_key keys[8];
	struct pj_batch b = { keys, 0, 8 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;
	size_t repaired = 0;

	(void)state;
	seed();
	h_pass_ctx(&ctx, &cfg, DB, true);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, FIXTURE_ORPHANS);
	/* Provider 8 comes back: 15 and 17 are healthy again. */
	h_sql(DB,
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (8, 'rp-8', 'cn8', 0, 8)");

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(pj_db_begin(ctx.db, &err), PJ_OK);
	assert_int_equal(pass->repair_batch(&ctx, &b, &repaired, &err), PJ_OK);
	assert_int_equal(repaired, 2);
	assert_int_equal(try_touch(other, 15), PJ_ERETRY);
	assert_int_equal(try_touch(other, 12), PJ_OK);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);

	assert_int_equal(h_query_int(DB,
	                     "SELECT GROUP_CONCAT(id ORDER BY id) = "
	                     "'10,12,14,15,16,17' FROM inventories"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT GROUP_CONCAT(row_key ORDER BY row_key) ="
	                     " '11,13' FROM placement_janitor_archive"),
	    1);
	pj_db_close(other);
	pj_db_close(ctx.db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orphaned_inventories_repairs_only_damage),
		cmocka_unit_test(orphaned_inventories_dry_run_changes_nothing),
		cmocka_unit_test(
		    orphaned_inventories_second_run_changes_nothing),
		cmocka_unit_test(orphaned_inventories_crosses_batches),
		cmocka_unit_test(orphaned_inventories_report_mode_never_writes),
		cmocka_unit_test(orphaned_inventories_only_this_pass),
		cmocka_unit_test(orphaned_inventories_rechecks_under_lock),
		cmocka_unit_test(orphaned_inventories_archive_disabled),
		cmocka_unit_test(orphaned_inventories_batch_locks_and_rechecks),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
