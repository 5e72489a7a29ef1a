/* The incomplete_consumers pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/pass.h"

#define DB "pj_it_incomplete"

static const char SEED_BASE[] =
    "INSERT INTO projects (id, external_id) VALUES (1, 'proj-a');"
    "INSERT INTO users (id, external_id) VALUES (1, 'user-a');"
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1);";

static struct h_result
janitor(const char *config, const char *a1, const char *a2, const char *a3,
    const char *a4, const char *a5, const char *a6)
{
	const char *argv[] = { "--config", config, "--format", "json", "--pass",
		"incomplete_consumers", a1, a2, a3, a4, a5, a6, NULL };

	return h_run(argv, NULL);
}

/* Healthy consumers (generation 5) with 2 allocations each, and n
 * incomplete ones with 3 allocations each. */
static void
seed(size_t healthy, size_t incomplete)
{
	char sql[512];
	size_t i;

	h_reset_db(DB);
	h_sql(DB, SEED_BASE);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('healthy-', LPAD(seq, 8, '0')), 1, 1, 5"
	    " FROM seq_1_to_%zu;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1, c.uuid, r.seq, 1"
	    " FROM consumers c JOIN seq_0_to_1 r;",
	    healthy);
	if (healthy > 0)
		h_sql(DB, sql);
	for (i = 0; i < 1 && incomplete > 0; i++) {
		snprintf(sql, sizeof(sql),
		    "INSERT INTO allocations (resource_provider_id,"
		    " consumer_id, resource_class_id, used)"
		    " SELECT 1, CONCAT('gone-', LPAD(s.seq, 8, '0')), r.seq, 2"
		    " FROM seq_1_to_%zu s JOIN seq_0_to_2 r;",
		    incomplete);
		h_sql(DB, sql);
	}
}

static long long
incomplete_left(void)
{
	return h_query_int(DB,
	    "SELECT COUNT(DISTINCT a.consumer_id) FROM allocations a"
	    " LEFT JOIN consumers c ON c.uuid = a.consumer_id"
	    " WHERE c.id IS NULL");
}

static void
check_sizes(size_t healthy, size_t incomplete, const char *batch)
{
	char *cfg = h_config(DB, NULL);
	char *healthy_before, *healthy_after;
	struct h_result r;
	char want[32];

	seed(healthy, incomplete);
	healthy_before = h_query(DB,
	    "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', id, uuid,"
	    " project_id, user_id, generation))))"
	    " FROM consumers WHERE uuid LIKE 'healthy-%'");
	r = janitor(cfg, "--batch-size", batch, "repair", NULL, NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("repair of %zu exited %d: %s", incomplete, r.exit_code,
		    r.err);
	assert_int_equal(h_json_field(r.out, "found"), (long long)incomplete);
	assert_int_equal(
	    h_json_field(r.out, "repaired"), (long long)incomplete);
	assert_int_equal(h_json_field(r.out, "remaining"), 0);
	assert_int_equal(incomplete_left(), 0);
	healthy_after = h_query(DB,
	    "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', id, uuid,"
	    " project_id, user_id, generation))))"
	    " FROM consumers WHERE uuid LIKE 'healthy-%'");
	assert_string_equal(healthy_before, healthy_after);
	/* Each new consumer: the incomplete project and user, generation 0,
	 * no consumer type, a creation time. */
	snprintf(want, sizeof(want), "%zu", incomplete);
	free(healthy_after);
	healthy_after = h_query(DB,
	    "SELECT COUNT(*) FROM consumers c"
	    " JOIN projects p ON p.id = c.project_id"
	    " JOIN users u ON u.id = c.user_id"
	    " WHERE c.uuid LIKE 'gone-%' AND c.generation = 0"
	    " AND c.consumer_type_id IS NULL AND c.created_at IS NOT NULL"
	    " AND p.external_id = '00000000-0000-0000-0000-000000000000'"
	    " AND u.external_id = '00000000-0000-0000-0000-000000000000'");
	assert_string_equal(healthy_after, want);
	h_result_free(&r);
	free(healthy_before);
	free(healthy_after);
	free(cfg);
}

static void
incomplete_consumers_repairs_only_damage(void **state)
{
	(void)state;
	check_sizes(5, 0, "500");
	check_sizes(5, 1, "500");
	check_sizes(10, 23, "7"); /* crosses batches, last one partial */
	check_sizes(2000, 3000, "500");
}

static void
incomplete_consumers_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(20, 40);
	before = h_checksum(DB);
	r = janitor(cfg, "check", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), 40);
	assert_int_equal(h_json_field(r.out, "remaining"), 40);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	r = janitor(
	    cfg, "--dry-run", "--batch-size", "9", "repair", NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), 40);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
incomplete_consumers_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(20, 40);
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "found"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* The sentinel project and user are made once, or reused if present. */
static void
incomplete_consumers_sentinels_created_once(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	seed(0, 30);
	r = janitor(cfg, "--batch-size", "4", "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM projects WHERE external_id"
	                     " = '00000000-0000-0000-0000-000000000000'"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM users WHERE external_id"
	                     " = '00000000-0000-0000-0000-000000000000'"),
	    1);
	/* Present beforehand (made by Placement): reused, not duplicated. */
	seed(0, 5);
	h_sql(DB,
	    "INSERT INTO projects (id, external_id) VALUES (77,"
	    " '00000000-0000-0000-0000-000000000000');"
	    "INSERT INTO users (id, external_id) VALUES (88,"
	    " '00000000-0000-0000-0000-000000000000');");
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers WHERE"
	                     " project_id = 77 AND user_id = 88"),
	    5);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM projects"), 2);
	free(cfg);
}

/* Hostile ids: look-alikes of existing consumers are not damage; quotes,
 * backslashes and SQL text are data; two spellings of one id (by the
 * collation) make one consumer. */
static void
incomplete_consumers_hostile_ids(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	seed(0, 0);
	h_sql(DB,
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " VALUES ('abcdef00-0000-0000-0000-000000000001', 1, 1, 3);"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES"
	    " (1, 'ABCDEF00-0000-0000-0000-000000000001', 0, 1),"
	    " (1, 'abcdef00-0000-0000-0000-000000000001  ', 1, 1),"
	    " (1, 'x''; DROP TABLE consumers; --', 0, 1),"
	    " (1, 'back\\\\slash\\\\', 0, 1),"
	    " (1, '\"quoted\"', 0, 1),"
	    " (1, 'not-a-uuid', 0, 1),"
	    " (1, '', 0, 1),"
	    " (1, 'CaSe-Twin', 0, 1), (1, 'case-twin', 1, 1),"
	    " (1, 'case-twin ', 2, 1),"
	    " (1, '123456789012345678901234567890123456', 0, 1);");
	r = janitor(cfg, "--batch-size", "2", "repair", NULL, NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	/* 7 distinct missing ids, '' included; the look-alikes are not. */
	assert_int_equal(h_json_field(r.out, "found"), 7);
	assert_int_equal(h_json_field(r.out, "repaired"), 7);
	h_result_free(&r);
	assert_int_equal(incomplete_left(), 0);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 8);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM consumers WHERE uuid ="
	                     " 'abcdef00-0000-0000-0000-000000000001'"),
	    3);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers WHERE uuid ="
	                     " 'x''; DROP TABLE consumers; --'"),
	    1);
	free(cfg);
}

/* --max-rows stops the repair early; the report says what remains and a
 * later run finishes the job. */
static void
incomplete_consumers_max_rows(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	seed(3, 50);
	r = janitor(
	    cfg, "--batch-size", "4", "--max-rows", "10", "repair", NULL);
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.out, "\"stopped_by\":\"max_rows\""));
	assert_int_equal(h_json_field(r.out, "repaired"), 12);
	assert_int_equal(h_json_field(r.out, "remaining"), 38);
	assert_int_equal(incomplete_left(), 38);
	h_result_free(&r);
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 38);
	h_result_free(&r);
	free(cfg);
}

/* A pass in report mode finds but never repairs. */
static void
incomplete_consumers_report_mode(void **state)
{
	char *cfg = h_config(
	    DB, "passes:\n  incomplete_consumers:\n    mode: report\n");
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(3, 6);
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), 6);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* Another session's writes that the batch's locks must hold off. */
static const char SQL_DELETE_ALLOCATIONS[] =
    "DELETE FROM allocations WHERE consumer_id = ?";
static const char SQL_CREATE_CONSUMER[] =
    "INSERT INTO consumers (uuid, project_id, user_id) VALUES (?, 1, 1)";

/* Runs sql for uuid in its own transaction on db; its status. */
static int
try_write(struct pj_db *db, const char *sql, const char *uuid)
{
	struct pj_param p = PJ_TEXT(uuid);

	return h_try_exec(db, sql, &p, 1);
}

/* The first batch of at most 4 keys, found as the engine finds it, on a
 * pass context opened on DB; it must hold want keys. */
static void
find_first_batch(
    struct pj_ctx *ctx, struct pj_config *cfg, struct pj_batch *b, size_t want)
{
	struct pj_error err = { 0 };

	h_pass_ctx(ctx, cfg, DB, false);
	assert_int_equal(
	    pj_pass_incomplete_consumers.find_batch(ctx, NULL, b, &err), PJ_OK);
	assert_int_equal(b->n, want);
}

/* Begins the batch's transaction and repairs b in it, as the engine does;
 * the caller commits. Returns the rows repaired. */
static size_t
begin_and_repair(struct pj_ctx *ctx, const struct pj_batch *b)
{
	struct pj_error err = { 0 };
	size_t repaired = 0;

	assert_int_equal(pj_db_begin(ctx->db, &err), PJ_OK);
	assert_int_equal(
	    pj_pass_incomplete_consumers.repair_batch(ctx, b, &repaired, &err),
	    PJ_OK);
	return repaired;
}

/*
 * One batch by hand, as the engine runs it: a candidate whose allocations
 * went away after the find is not created (the re-check under the lock),
 * and until COMMIT no one else can delete the allocations of a consumer
 * the batch created, nor create a candidate's consumers row.
 */
static void
incomplete_consumers_batch_locks_and_rechecks(void **state)
{
	struct pj_key keys[4];
	struct pj_batch b = { keys, 0, 4 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;

	(void)state;
	seed(1, 2);
	find_first_batch(&ctx, &cfg, &b, 2);
	assert_string_equal(b.keys[1].text, "gone-00000002");
	h_sql(
	    DB, "DELETE FROM allocations WHERE consumer_id = 'gone-00000002'");

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(begin_and_repair(&ctx, &b), 1);
	assert_int_equal(
	    try_write(other, SQL_DELETE_ALLOCATIONS, "gone-00000001"),
	    PJ_ERETRY);
	assert_int_equal(
	    try_write(other, SQL_CREATE_CONSUMER, "gone-00000002"), PJ_ERETRY);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);

	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers"
	                     " WHERE uuid LIKE 'gone-%'"),
	    1);
	assert_int_equal(
	    try_write(other, SQL_DELETE_ALLOCATIONS, "gone-00000001"), PJ_OK);
	pj_db_close(other);
	pj_db_close(ctx.db);
}

static const char SQL_DELETE_PROJECT[] =
    "DELETE FROM projects WHERE external_id = ?";
static const char SQL_DELETE_USER[] = "DELETE FROM users WHERE external_id = ?";

/*
 * With the incomplete project and user already there, the batch's insert
 * finds them itself, and until COMMIT no one can delete them from under
 * the consumers it created.
 */
static void
incomplete_consumers_batch_holds_sentinels(void **state)
{
	static const char zero[] = "00000000-0000-0000-0000-000000000000";
	struct pj_key keys[4];
	struct pj_batch b = { keys, 0, 4 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;

	(void)state;
	seed(1, 2);
	h_sql(DB,
	    "INSERT INTO projects (id, external_id) VALUES (77,"
	    " '00000000-0000-0000-0000-000000000000');"
	    "INSERT INTO users (id, external_id) VALUES (88,"
	    " '00000000-0000-0000-0000-000000000000');");
	find_first_batch(&ctx, &cfg, &b, 2);

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(begin_and_repair(&ctx, &b), 2);
	assert_int_equal(try_write(other, SQL_DELETE_PROJECT, zero), PJ_ERETRY);
	assert_int_equal(try_write(other, SQL_DELETE_USER, zero), PJ_ERETRY);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);

	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers WHERE"
	                     " project_id = 77 AND user_id = 88"),
	    2);
	assert_int_equal(try_write(other, SQL_DELETE_USER, zero), PJ_OK);
	pj_db_close(other);
	pj_db_close(ctx.db);
}

/* A consumer that Placement creates between find and lock is left alone:
 * the batch repairs the others and fails on no duplicate key. */
static void
incomplete_consumers_batch_skips_consumer_made_meanwhile(void **state)
{
	struct pj_key keys[4];
	struct pj_batch b = { keys, 0, 4 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;

	(void)state;
	seed(1, 3);
	find_first_batch(&ctx, &cfg, &b, 3);
	h_sql(DB,
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " VALUES ('GONE-00000002 ', 1, 1, 7)");

	assert_int_equal(begin_and_repair(&ctx, &b), 2);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);
	assert_int_equal(incomplete_left(), 0);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers"
	                     " WHERE uuid LIKE 'gone-%' AND generation = 7"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers"
	                     " WHERE uuid LIKE 'gone-%'"),
	    3);
	pj_db_close(ctx.db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(incomplete_consumers_repairs_only_damage),
		cmocka_unit_test(incomplete_consumers_dry_run_changes_nothing),
		cmocka_unit_test(
		    incomplete_consumers_second_run_changes_nothing),
		cmocka_unit_test(incomplete_consumers_sentinels_created_once),
		cmocka_unit_test(incomplete_consumers_hostile_ids),
		cmocka_unit_test(incomplete_consumers_max_rows),
		cmocka_unit_test(incomplete_consumers_report_mode),
		cmocka_unit_test(incomplete_consumers_batch_locks_and_rechecks),
		cmocka_unit_test(incomplete_consumers_batch_holds_sentinels),
		cmocka_unit_test(
		    incomplete_consumers_batch_skips_consumer_made_meanwhile),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
