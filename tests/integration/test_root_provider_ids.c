/* The root_provider_ids pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/pass.h"

#define DB "pj_it_root_ids"

/* Every column of a provider, to compare rows before and after a run. */
#define ROW_SUM \
	"CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', id, uuid, name," \
	" IFNULL(generation, 'g'), IFNULL(root_provider_id, 'r')," \
	" IFNULL(parent_provider_id, 'p'), created_at, updated_at))))"

/* fixtures/root_provider_ids.sql: each provider, the root it must have
 * after repair, and whether it was damaged. */
static const struct {
	long long id, want;
	bool damaged;
} mixed[] = {
	{ 1, 1, false },
	{ 2, 1, false },
	{ 3, 1, false },
	{ 4, 1, false },
	{ 5, 5, false },
	{ 6, 6, true },
	{ 7, 7, true },
	{ 8, 8, false },
	{ 9, 8, true },
	{ 10, 8, true },
	{ 11, 8, true },
	{ 12, 20, true },
	{ 13, 1, false },
	{ 14, 14, false },
	{ 15, 20, true },
	{ 16, 16, false },
	{ 17, 16, true },
	{ 18, 5, true },
	{ 19, 8, false },
	{ 20, 20, false },
	{ 21, 21, true },
	{ 22, 22, true },
	{ 23, 22, false },
};
#define MIXED_DAMAGED 11

/* Runs the pass alone, with a JSON report, and up to four more words. */
static struct h_result
janitor(const char *config, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	const char *argv[] = { "--config", config, "--format", "json", "--pass",
		"root_provider_ids", a1, a2, a3, a4, NULL };

	return h_run(argv, NULL);
}

/* Occurrences of needle in haystack. */
static size_t
count(const char *haystack, const char *needle)
{
	size_t n = 0;

	for (; (haystack = strstr(haystack, needle)) != NULL; haystack++)
		n++;
	return n;
}

static void
seed_file(const char *fixture)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	if (fixture != NULL)
		h_sql_file(DB, fixture);
	/* The rows as seeded, to check the archive against. */
	h_sql(DB,
	    "CREATE TABLE rp_before (PRIMARY KEY (id)) AS SELECT * FROM resource_providers");
}

static char *
rows_sum(const char *where)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
	    "SELECT " ROW_SUM " FROM resource_providers WHERE %s", where);
	return h_query(DB, sql);
}

/*
 * Each archived row is a damaged provider's whole old row, once, as an
 * update by this pass; nothing else is archived.
 */
static void
check_archive(long long want_rows)
{
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    want_rows);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(DISTINCT row_key)"
	                     " FROM placement_janitor_archive"),
	    want_rows);
	assert_int_equal(
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM placement_janitor_archive a"
	        " JOIN rp_before b ON b.id = CAST(a.row_key AS UNSIGNED)"
	        " AND CAST(b.id AS CHAR) = a.row_key"
	        " WHERE a.pass = 'root_provider_ids'"
	        " AND a.table_name = 'resource_providers'"
	        " AND a.action = 'update' AND a.restored_at IS NULL"
	        " AND JSON_EQUALS(a.row_data, JSON_OBJECT('id', b.id,"
	        " 'uuid', b.uuid, 'name', b.name, 'generation', b.generation,"
	        " 'root_provider_id', b.root_provider_id,"
	        " 'parent_provider_id', b.parent_provider_id,"
	        " 'created_at', b.created_at, 'updated_at', b.updated_at))"),
	    want_rows);
}

/* After repair of the mixed fixture: every root as `mixed` says; damaged
 * rows archived and touched (updated_at) but not their generation; healthy
 * rows exactly as seeded. */
static void
check_mixed_repaired(const char *batch)
{
	char sql[512], want[64];
	char *got;
	size_t i;

	for (i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT CONCAT(IFNULL(r.root_provider_id, 'NULL'), ' ',"
		    " r.generation <=> b.generation, ' ',"
		    " r.updated_at = b.updated_at, ' ',"
		    " IFNULL(r.updated_at >= UTC_TIMESTAMP() - INTERVAL 1 HOUR,"
		    " 0), ' ', (SELECT COUNT(*) FROM placement_janitor_archive"
		    " WHERE row_key = '%lld'))"
		    " FROM resource_providers r JOIN rp_before b ON b.id = r.id"
		    " WHERE r.id = %lld",
		    mixed[i].id, mixed[i].id);
		got = h_query(DB, sql);
		snprintf(want, sizeof(want), "%lld 1 %s", mixed[i].want,
		    mixed[i].damaged ? "0 1 1" : "1 0 0");
		if (strcmp(got, want) != 0)
			fail_msg(
			    "batch %s provider %lld: got \"%s\", want"
			    " \"%s\" (root, same generation, same"
			    " updated_at, updated now, archived)",
			    batch, mixed[i].id, got, want);
		free(got);
	}
	check_archive(MIXED_DAMAGED);
}

static void
root_provider_ids_repairs_only_damage(void **state)
{
	static const char *const batches[] = { "1", "3", "500" };
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		seed_file("tests/integration/fixtures/root_provider_ids.sql");
		r = janitor(cfg, "--batch-size", batches[i], "repair", NULL);
		if (r.exit_code != 0)
			fail_msg("batch %s: exit %d: %s", batches[i],
			    r.exit_code, r.err);
		assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED);
		assert_int_equal(
		    h_json_field(r.out, "repaired"), MIXED_DAMAGED);
		assert_int_equal(h_json_field(r.out, "failed"), 0);
		assert_int_equal(h_json_field(r.out, "remaining"), 0);
		h_result_free(&r);
		check_mixed_repaired(batches[i]);
	}
	free(cfg);
}

static void
root_provider_ids_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	before = h_checksum(DB);
	r = janitor(cfg, "check", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED);
	assert_int_equal(h_json_field(r.out, "remaining"), MIXED_DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	r = janitor(cfg, "--dry-run", "--batch-size", "2", "repair");
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
root_provider_ids_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
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

/*
 * A chain of n providers with NULL roots, the top's id highest (children
 * come first in key order): top 1000, then 999, 998, ... each the parent
 * of the next.
 */
static void
seed_chain(long long n)
{
	char sql[512];

	seed_file(NULL);
	snprintf(sql, sizeof(sql),
	    "SET FOREIGN_KEY_CHECKS = 0;"
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id, parent_provider_id, updated_at)"
	    " SELECT 1001 - seq, CONCAT('chain-', seq), CONCAT('chain-', seq),"
	    " seq, NULL, IF(seq = 1, NULL, 1002 - seq), '2000-01-02'"
	    " FROM seq_1_to_%lld;"
	    "SET FOREIGN_KEY_CHECKS = 1;"
	    "DROP TABLE rp_before;"
	    "CREATE TABLE rp_before (PRIMARY KEY (id)) AS SELECT * FROM resource_providers;",
	    n);
	h_sql(DB, sql);
}

/* Depth 11: every NULL root of the chain repaired in one run, whatever
 * the batch size. */
static void
root_provider_ids_deep_chain(void **state)
{
	static const char *const batches[] = { "1", "4", "500" };
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		seed_chain(12);
		r = janitor(cfg, "--batch-size", batches[i], "repair", NULL);
		if (r.exit_code != 0 || h_json_field(r.out, "repaired") != 12)
			fail_msg("batch %s: exit %d: %s %s", batches[i],
			    r.exit_code, r.out, r.err);
		h_result_free(&r);
		assert_int_equal(h_query_int(DB,
		                     "SELECT COUNT(*) FROM resource_providers"
		                     " WHERE root_provider_id = 1000"),
		    12);
		check_archive(12);
		assert_int_equal(h_query_int(DB,
		                     "SELECT COUNT(*) FROM resource_providers r"
		                     " JOIN rp_before b ON b.id = r.id"
		                     " WHERE r.generation = b.generation"),
		    12);
	}
	free(cfg);
}

/* 70 levels: the 65 within reach of the walk (the top and 64 below it)
 * are repaired; the 5 deeper ones are reported, failed and untouched. */
static void
root_provider_ids_too_deep(void **state)
{
	const char *verbose[] = { "--config", NULL, "-v", "--pass",
		"root_provider_ids", "check", NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_chain(70);
	verbose[1] = cfg;
	r = h_run(verbose, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(count(r.err, "want=1000\n"), 65);
	assert_int_equal(count(r.err, "parent chain deeper than 64"), 5);
	h_result_free(&r);
	before = rows_sum("id <= 1001 - 66");
	r = janitor(cfg, "--batch-size", "7", "repair", NULL);
	assert_int_equal(r.exit_code, 2);
	assert_int_equal(h_json_field(r.out, "found"), 70);
	assert_int_equal(h_json_field(r.out, "repaired"), 65);
	assert_int_equal(h_json_field(r.out, "failed"), 5);
	assert_int_equal(h_json_field(r.out, "remaining"), 5);
	assert_non_null(strstr(r.out, "parent chain deeper than 64"));
	h_result_free(&r);
	after = rows_sum("id <= 1001 - 66");
	assert_string_equal(before, after);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM resource_providers"
	                     " WHERE root_provider_id = 1000"),
	    65);
	check_archive(65);
	free(before);
	free(after);
	free(cfg);
}

/* A root with 500 NULL-root children next to a healthy tree as wide. */
static void
root_provider_ids_wide_tree(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_file(NULL);
	h_sql(DB,
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id, parent_provider_id, updated_at) VALUES"
	    " (5000, 'top-5000', 'top-5000', 1, NULL, NULL, '2000-01-02'),"
	    " (6000, 'top-6000', 'top-6000', 1, 6000, NULL, '2000-01-02');"
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id, parent_provider_id, updated_at)"
	    " SELECT seq, CONCAT('kid-', seq), CONCAT('kid-', seq), seq,"
	    " IF(seq % 2 = 0, NULL, 6000), IF(seq % 2 = 0, 5000, 6000),"
	    " '2000-01-02' FROM seq_1_to_1000;"
	    "DROP TABLE rp_before;"
	    "CREATE TABLE rp_before (PRIMARY KEY (id)) AS SELECT * FROM resource_providers;");
	before = rows_sum("id = 6000 OR parent_provider_id = 6000");
	r = janitor(cfg, "--batch-size", "64", "repair", NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), 501);
	assert_int_equal(h_json_field(r.out, "repaired"), 501);
	h_result_free(&r);
	after = rows_sum("id = 6000 OR parent_provider_id = 6000");
	assert_string_equal(before, after);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM resource_providers"
	                     " WHERE root_provider_id = 5000"),
	    501);
	check_archive(501);
	free(before);
	free(after);
	free(cfg);
}

/*
 * Cycles and missing parents are found, reported with their reason (-v
 * and the report's error), counted as failed, never changed, and the run
 * ends; the repairable row next to them is still repaired.
 */
static void
root_provider_ids_hostile_chains(void **state)
{
	static const char *const reasons[] = {
		"id=10 root_provider_id=10 parent chain loops",
		"id=11 root_provider_id=10 parent chain loops",
		"id=12 root_provider_id=NULL parent chain loops",
		"id=14 root_provider_id=NULL parent chain loops",
		"id=15 root_provider_id=15 parent chain loops",
		"id=16 root_provider_id=10 parent chain loops",
		"id=17 root_provider_id=17 parent chain reaches missing"
		" provider 999",
		"id=18 root_provider_id=17 parent chain reaches missing"
		" provider 999",
		"id=3 root_provider_id=NULL want=3",
	};
	const char *verbose[] = { "--config", NULL, "-v", "--pass",
		"root_provider_ids", "check", NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;
	size_t i;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids_hostile.sql");
	verbose[1] = cfg;
	r = h_run(verbose, NULL);
	assert_int_equal(r.exit_code, 1);
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		if (strstr(r.err, reasons[i]) == NULL)
			fail_msg("-v lacks \"%s\": %s", reasons[i], r.err);
	}
	h_result_free(&r);
	before = rows_sum("id <> 3");
	r = janitor(cfg, "--batch-size", "4", "repair", NULL);
	assert_int_equal(r.exit_code, 2);
	assert_int_equal(h_json_field(r.out, "found"), 10);
	assert_int_equal(h_json_field(r.out, "repaired"), 1);
	assert_int_equal(h_json_field(r.out, "failed"), 9);
	assert_int_equal(h_json_field(r.out, "remaining"), 9);
	assert_non_null(strstr(r.out,
	    "\"error\":\"provider 10: parent chain loops at provider 10:"
	    " not repaired\""));
	assert_non_null(strstr(r.err,
	    "provider 17: parent chain reaches"
	    " missing provider 999: not repaired"));
	assert_non_null(strstr(r.err,
	    "provider 16: parent chain loops at"
	    " provider 10: not repaired"));
	h_result_free(&r);
	after = rows_sum("id <> 3");
	assert_string_equal(before, after);
	assert_int_equal(h_query_int(DB,
	                     "SELECT root_provider_id FROM resource_providers"
	                     " WHERE id = 3"),
	    3);
	check_archive(1);
	/* Again: the same 9, nothing else; the run still ends. */
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 2);
	assert_int_equal(h_json_field(r.out, "found"), 9);
	assert_int_equal(h_json_field(r.out, "failed"), 9);
	h_result_free(&r);
	free(before);
	free(after);
	free(cfg);
}

/*
 * Tree 8 is moved under tree 1 by a writer that holds its locks while the
 * pass runs (found against the old tree). The walk locks every ancestor,
 * so it waits and repairs 9 and 10 to the committed root, 1, not to the 8
 * it found; 11, whose root was 1 already, is found but healthy by then.
 */
static void
root_provider_ids_ancestor_reparented_meanwhile(void **state)
{
	/* A slow Placement write re-parenting 8 and fixing 19's root. */
	static const char *const sql[] = {
		"UPDATE resource_providers SET parent_provider_id = 1,"
		" root_provider_id = 1, generation = generation + 1"
		" WHERE id = 8",
		"UPDATE resource_providers SET root_provider_id = 1,"
		" generation = generation + 1 WHERE id = 19",
		NULL,
	};
	char *cfg =
	    h_config(DB, "worker:\n  retries: 8\n  retry_backoff: 200ms\n");
	struct h_result r;
	pid_t holder;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	holder = h_hold(DB, sql, NULL, 0, 1500, true);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	h_reap(holder);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED);
	/* The lock, not the generation guard, kept it right. */
	assert_int_equal(h_json_field(r.out, "conflicts"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), MIXED_DAMAGED - 1);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM resource_providers"
	                     " WHERE id IN (8, 9, 10, 11, 19)"
	                     " AND root_provider_id = 1"),
	    5);
	check_archive(MIXED_DAMAGED - 1);
	free(cfg);
}

/* A pass in report mode finds but never repairs. */
static void
root_provider_ids_report_mode(void **state)
{
	char *cfg =
	    h_config(DB, "passes:\n  root_provider_ids:\n    mode: report\n");
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* --pass root_provider_ids runs this pass and no other. */
static void
root_provider_ids_pass_alone(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	/* Damage for incomplete_consumers, which must stay. */
	h_sql(DB,
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'no-such-consumer', 0, 1);");
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out,
	    "\"passes\":[{\"name\":"
	    "\"root_provider_ids\""));
	assert_null(strstr(r.out, "incomplete_consumers"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	free(cfg);
}

/*
 * One batch by hand, as the engine runs it, with 3 damaged too: 17 was
 * repaired after the find (not counted, not archived), the others are
 * fixed to the top of their chains. Until COMMIT no one can re-parent a
 * provider of a chain walked (2, healthy, between 3 and its top; 8, the
 * top above 9, 10, 11), while providers of no chain walked stay free (4,
 * 14).
 */
static void
root_provider_ids_batch_locks_and_rechecks(void **state)
{
	static const char SQL_MOVE[] =
	    "UPDATE resource_providers SET parent_provider_id = 1 WHERE id = ?";
	static const char SQL_BUMP[] =
	    "UPDATE resource_providers SET generation = generation + 1"
	    " WHERE id = ?";
	const struct pj_pass *pass = &pj_pass_root_provider_ids;
	struct pj_param p2 = PJ_INT(2), p8 = PJ_INT(8), p4 = PJ_INT(4);
	struct pj_param p14 = PJ_INT(14);
	struct pj_key keys[32];
	struct pj_batch b = { keys, 0, 32 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;
	size_t repaired = 0, i;

	(void)state;
	seed_file("tests/integration/fixtures/root_provider_ids.sql");
	h_sql(DB,
	    "UPDATE resource_providers SET root_provider_id = NULL WHERE id = 3");
	h_pass_ctx(&ctx, &cfg, DB, true);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, MIXED_DAMAGED + 1);
	h_sql(DB,
	    "UPDATE resource_providers SET root_provider_id = 16 WHERE id = 17");

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(pj_db_begin(ctx.db, &err), PJ_OK);
	assert_int_equal(pass->repair_batch(&ctx, &b, &repaired, &err), PJ_OK);
	assert_int_equal(repaired, MIXED_DAMAGED);
	assert_int_equal(h_try_exec(other, SQL_MOVE, &p2, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_MOVE, &p8, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_BUMP, &p4, 1), PJ_OK);
	assert_int_equal(h_try_exec(other, SQL_BUMP, &p14, 1), PJ_OK);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);
	pj_db_close(other);
	pj_db_close(ctx.db);

	for (i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
		char sql[128];

		snprintf(sql, sizeof(sql),
		    "SELECT root_provider_id FROM resource_providers"
		    " WHERE id = %lld",
		    mixed[i].id);
		assert_int_equal(h_query_int(DB, sql), mixed[i].want);
	}
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    MIXED_DAMAGED);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM placement_janitor_archive"
	                     " WHERE row_key = '17'"),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(root_provider_ids_repairs_only_damage),
		cmocka_unit_test(root_provider_ids_dry_run_changes_nothing),
		cmocka_unit_test(root_provider_ids_second_run_changes_nothing),
		cmocka_unit_test(root_provider_ids_deep_chain),
		cmocka_unit_test(root_provider_ids_too_deep),
		cmocka_unit_test(root_provider_ids_wide_tree),
		cmocka_unit_test(root_provider_ids_hostile_chains),
		cmocka_unit_test(
		    root_provider_ids_ancestor_reparented_meanwhile),
		cmocka_unit_test(root_provider_ids_batch_locks_and_rechecks),
		cmocka_unit_test(root_provider_ids_report_mode),
		cmocka_unit_test(root_provider_ids_pass_alone),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
