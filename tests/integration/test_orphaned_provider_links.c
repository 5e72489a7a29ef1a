/* The orphaned_provider_links pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/pass.h"

#define DB "pj_it_orphaned_provider_links"
#define PASS "orphaned_provider_links"
#define FIXTURE "tests/integration/fixtures/orphaned_provider_links.sql"

/* The fixture's damage: 5 aggregate links and 4 trait links. */
#define FIXTURE_LINKS 9

/*
 * The bulk on top of the fixture: providers 101-140 (generation 1) with
 * aggregates 1-3 and traits 1-3 (healthy) plus aggregate 9 and trait 9
 * (gone); providers 141-160 are gone and keep their aggregate links
 * (3 each), providers 141-150 their trait 1 link: 150 damaged links.
 */
static const char SEED_BULK[] =
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id) SELECT seq, CONCAT('rp-', seq), CONCAT('cn', seq),"
    " 1, seq FROM seq_101_to_140;"
    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
    " aggregate_id) SELECT p.seq, a.seq FROM seq_101_to_160 p"
    " JOIN seq_1_to_3 a;"
    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
    " aggregate_id) SELECT seq, 9 FROM seq_101_to_140;"
    "SET FOREIGN_KEY_CHECKS = 0;"
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id)"
    " SELECT t.seq, p.seq FROM seq_101_to_140 p JOIN seq_1_to_3 t;"
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id)"
    " SELECT 9, seq FROM seq_101_to_140;"
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id)"
    " SELECT 1, seq FROM seq_141_to_150;";
#define BULK_LINKS 150

/* Fixed batch sizes: batch counts are part of what the tests check. */
static const char REPAIR_YAML[] =
    "worker:\n  batch_target: 0ms\n"
    "passes:\n  orphaned_provider_links:\n    mode: repair\n";

/* Damaged links, now. */
static const char SQL_DAMAGED[] =
    "SELECT (SELECT COUNT(*) FROM resource_provider_aggregates rpa"
    " LEFT JOIN resource_providers rp ON rp.id = rpa.resource_provider_id"
    " LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id"
    " WHERE rp.id IS NULL OR pa.id IS NULL)"
    " + (SELECT COUNT(*) FROM resource_provider_traits rpt"
    " LEFT JOIN resource_providers rp ON rp.id = rpt.resource_provider_id"
    " LEFT JOIN traits t ON t.id = rpt.trait_id"
    " WHERE rp.id IS NULL OR t.id IS NULL)";
/* Healthy links, every column. */
static const char SQL_HEALTHY_SUM[] =
    "SELECT CONCAT((SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',',"
    " rpa.resource_provider_id, rpa.aggregate_id, rpa.created_at,"
    " rpa.updated_at)))) FROM resource_provider_aggregates rpa"
    " JOIN resource_providers rp ON rp.id = rpa.resource_provider_id"
    " JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id), ' ',"
    " (SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', rpt.trait_id,"
    " rpt.resource_provider_id, rpt.created_at, rpt.updated_at))))"
    " FROM resource_provider_traits rpt"
    " JOIN resource_providers rp ON rp.id = rpt.resource_provider_id"
    " JOIN traits t ON t.id = rpt.trait_id))";
/* Providers that lose no link: 2 (healthy links only) and 10 (generation
 * NULL: nothing to bump), every column. */
static const char SQL_UNTOUCHED_SUM[] =
    "SELECT SUM(CRC32(CONCAT_WS(',', id, uuid, name, generation,"
    " root_provider_id, parent_provider_id, created_at, updated_at)))"
    " FROM resource_providers WHERE id IN (2, 10)";

/* A Placement writer moving a provider's generation, slowly. */
static const char SQL_HOLD_BUMP[] =
    "UPDATE resource_providers SET generation = generation + 1,"
    " updated_at = UTC_TIMESTAMP() WHERE id = ?";

static void
seed(bool bulk)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql_file(DB, FIXTURE);
	if (bulk)
		h_sql(DB, SEED_BULK);
}

/* Every archived link holds its whole old row, read from the copies. */
static void
expect_archived_rows(void)
{
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(row_key ORDER BY row_key)"
	    " FROM placement_janitor_archive WHERE pass = '" PASS
	    "' AND action = 'delete'"
	    " AND table_name = 'resource_provider_aggregates'",
	    "1,9,10,7,3,8,5,1,5,9", "archived aggregate links");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(row_key ORDER BY row_key)"
	    " FROM placement_janitor_archive WHERE pass = '" PASS
	    "' AND action = 'delete'"
	    " AND table_name = 'resource_provider_traits'",
	    "2,6,7,4,8,4,9,1", "archived trait links (trait, provider)");
	assert_int_equal(
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM t_rpa b JOIN placement_janitor_archive a"
	        " ON a.row_key = CONCAT(b.resource_provider_id, ',',"
	        " b.aggregate_id) AND a.table_name ="
	        " 'resource_provider_aggregates'"
	        " WHERE JSON_VALUE(a.row_data, '$.resource_provider_id') ="
	        " b.resource_provider_id"
	        " AND JSON_VALUE(a.row_data, '$.aggregate_id') = b.aggregate_id"
	        " AND JSON_VALUE(a.row_data, '$.created_at') <=> b.created_at"
	        " AND JSON_VALUE(a.row_data, '$.updated_at') <=> b.updated_at"
	        " AND JSON_LENGTH(a.row_data) = 4"),
	    5);
	assert_int_equal(
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM t_rpt b JOIN placement_janitor_archive a"
	        " ON a.row_key = CONCAT(b.trait_id, ',',"
	        " b.resource_provider_id) AND a.table_name ="
	        " 'resource_provider_traits'"
	        " WHERE JSON_VALUE(a.row_data, '$.resource_provider_id') ="
	        " b.resource_provider_id"
	        " AND JSON_VALUE(a.row_data, '$.trait_id') = b.trait_id"
	        " AND JSON_VALUE(a.row_data, '$.created_at') <=> b.created_at"
	        " AND JSON_VALUE(a.row_data, '$.updated_at') <=> b.updated_at"
	        " AND JSON_LENGTH(a.row_data) = 4"),
	    4);
}

/*
 * Deletes exactly the damaged links, archives each, bumps the generation
 * of every surviving provider that lost a link once per batch (and its
 * updated_at), and leaves healthy links and other providers alone. Table-
 * driven over batch sizes: each batch is one transaction with its own
 * bump.
 */
static void
orphaned_provider_links_repairs_only_damage(void **state)
{
	static const struct {
		bool bulk;
		const char *batch;
		long long found, batches;
		const char *generations; /* of providers 1, 3, 4 */
	} cases[] = {
		{ false, "500", FIXTURE_LINKS, 2, "5,1,8" },
		{ false, "2", FIXTURE_LINKS, 5, "5,1,9" },
		{ false, "1", FIXTURE_LINKS, 9, "5,1,9" },
		{ true, "7", FIXTURE_LINKS + BULK_LINKS, 23, "5,1,8" },
	};
	char *cfg = h_config(DB, REPAIR_YAML);
	char *healthy_before, *healthy_after, *untouched_before;
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "--pass", PASS, "--batch-size",
			cases[i].batch, "repair", NULL };

		seed(cases[i].bulk);
		h_sql(DB,
		    "CREATE TABLE t_rpa SELECT * FROM"
		    " resource_provider_aggregates;"
		    "CREATE TABLE t_rpt SELECT * FROM resource_provider_traits");
		healthy_before = h_query(DB, SQL_HEALTHY_SUM);
		untouched_before = h_query(DB, SQL_UNTOUCHED_SUM);
		r = h_run_json(cfg, args);
		h_expect_exit(&r, 0, cases[i].batch);
		if (h_pass_field(PASS, r.out, "found") != cases[i].found ||
		    h_pass_field(PASS, r.out, "repaired") != cases[i].found ||
		    h_pass_field(PASS, r.out, "remaining") != 0 ||
		    h_pass_field(PASS, r.out, "batches") != cases[i].batches ||
		    h_pass_field(PASS, r.out, "conflicts") != 0)
			fail_msg("batch size %s: %s", cases[i].batch, r.out);
		h_result_free(&r);

		assert_int_equal(h_query_int(DB, SQL_DAMAGED), 0);
		healthy_after = h_query(DB, SQL_HEALTHY_SUM);
		assert_string_equal(healthy_before, healthy_after);
		h_expect_query(DB, SQL_UNTOUCHED_SUM, untouched_before,
		    "providers 2 and 10");
		h_expect_query(DB,
		    "SELECT GROUP_CONCAT(generation ORDER BY id)"
		    " FROM resource_providers WHERE id IN (1, 3, 4)",
		    cases[i].generations, cases[i].batch);
		/* A bump sets updated_at, as Placement's does. */
		assert_int_equal(h_query_int(DB,
		                     "SELECT COUNT(*) FROM resource_providers"
		                     " WHERE id IN (1, 3, 4) AND updated_at >"
		                     " '2024-01-01 00:00:00'"),
		    3);
		if (cases[i].bulk)
			assert_int_equal(h_query_int(DB,
			                     "SELECT COUNT(*) FROM"
			                     " resource_providers WHERE id"
			                     " BETWEEN 101 AND 140 AND"
			                     " generation = 3"),
			    40);
		assert_int_equal(
		    h_query_int(
		        DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
		    cases[i].found);
		if (!cases[i].bulk)
			expect_archived_rows();
		free(healthy_before);
		free(healthy_after);
		free(untouched_before);
	}
	free(cfg);
}

static void
orphaned_provider_links_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *check[] = { "--pass", PASS, "check", NULL };
	const char *dry[] = { "--pass", PASS, "--dry-run", "--batch-size", "2",
		"repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(false);
	before = h_checksum(DB);
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_LINKS);
	assert_int_equal(h_pass_field(PASS, r.out, "remaining"), FIXTURE_LINKS);
	h_result_free(&r);
	r = h_run_json(cfg, dry);
	h_expect_exit(&r, 1, "repair --dry-run");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_LINKS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
orphaned_provider_links_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(true);
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

/* In report mode `repair` finds and never writes; -v lists every link
 * with its table and the side that is gone. */
static void
orphaned_provider_links_report_mode_never_writes(void **state)
{
	static const char *const lines[] = {
		"table=resource_provider_aggregates resource_provider_id=1"
		" aggregate_id=9: aggregate gone",
		"table=resource_provider_aggregates resource_provider_id=5"
		" aggregate_id=1: provider gone",
		"table=resource_provider_aggregates resource_provider_id=5"
		" aggregate_id=9: provider gone",
		"table=resource_provider_traits resource_provider_id=4"
		" trait_id=8: trait gone",
		"table=resource_provider_traits resource_provider_id=6"
		" trait_id=2: provider gone",
	};
	char *cfg = h_config(
	    DB, "passes:\n  orphaned_provider_links:\n    mode: report\n");
	const char *args[] = { "-v", "--pass", PASS, "--batch-size", "3",
		"repair", NULL };
	char *before, *after;
	struct h_result r;
	size_t i;

	(void)state;
	seed(false);
	before = h_checksum(DB);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "repair in report mode");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_LINKS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (strstr(r.err, lines[i]) == NULL)
			fail_msg("no line '%s' in:\n%s", lines[i], r.err);
	}
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* A Placement write moves a provider's generation while the pass waits
 * for its lock: the bump starts from the generation read under the lock,
 * so neither write is lost and no conflict is needed. Provider 3 loses an
 * aggregate link, provider 4 two trait links. */
static void
orphaned_provider_links_generation_read_under_lock(void **state)
{
	/* A session that bumps a provider's generation, committed later. */
	static const char *const bump[] = { SQL_HOLD_BUMP, NULL };
	static const struct {
		long long provider, generation; /* before: 0 and 7 */
	} cases[] = { { 3, 2 }, { 4, 10 } };
	char *cfg = h_config_db(DB, "  lock_wait_timeout: 20s\n", REPAIR_YAML);
	/* One link a batch: no batch but the provider's own reads it. */
	const char *args[] = { "--pass", PASS, "--batch-size", "1", "repair",
		NULL };
	struct h_result r;
	char sql[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = 0;
		struct pj_param id = PJ_INT(cases[i].provider);
		pid_t holder;

		seed(false);
		holder = h_hold(DB, bump, &id, 1, 1500, true);
		r = h_run_json(cfg, args);
		assert_int_equal(waitpid(holder, &status, 0), holder);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		h_expect_exit(&r, 0, "repair during a provider write");
		if (h_pass_field(PASS, r.out, "repaired") != FIXTURE_LINKS ||
		    h_pass_field(PASS, r.out, "conflicts") != 0)
			fail_msg("provider %lld: %s", cases[i].provider, r.out);
		h_result_free(&r);
		/* +1 by the writer, +1 by each batch of the pass. */
		snprintf(sql, sizeof(sql),
		    "SELECT generation FROM resource_providers WHERE id = %lld",
		    cases[i].provider);
		assert_int_equal(h_query_int(DB, sql), cases[i].generation);
		assert_int_equal(h_query_int(DB, SQL_DAMAGED), 0);
	}
	free(cfg);
}

/* --pass runs this pass alone: other damage is left to its own pass. */
static void
orphaned_provider_links_only_this_pass(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	struct h_result r;

	(void)state;
	seed(false);
	h_sql(DB,
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'no-such-consumer', 0, 1)");
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair --pass");
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), FIXTURE_LINKS);
	assert_null(strstr(r.out, "incomplete_consumers"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	free(cfg);
}

/* Touches one link in its own transaction on db; its status. */
static int
try_touch_link(struct pj_db *db, int64_t provider, int64_t aggregate)
{
	struct pj_param p[2] = { PJ_INT(provider), PJ_INT(aggregate) };

	return h_try_exec(db,
	    "UPDATE resource_provider_aggregates SET updated_at = UTC_TIMESTAMP()"
	    " WHERE resource_provider_id = ? AND aggregate_id = ?",
	    p, 2);
}

/*
 * One batch run by hand: it locks exactly its own links (a healthy link
 * of the same provider stays free for Placement), re-checks them under
 * the lock (a link whose aggregate came back is kept), and bumps only the
 * providers that lost a link.
 */
static void
orphaned_provider_links_batch_locks_and_rechecks(void **state)
{
	const struct pj_pass *pass = &pj_pass_orphaned_provider_links;
	struct pj_key keys[8];
	struct pj_batch b = { keys, 0, 8 };
	struct pj_error err = { 0 };
	struct pj_param three = PJ_INT(3);
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;
	size_t repaired = 0;

	(void)state;
	seed(false);
	h_pass_ctx(&ctx, &cfg, DB, true);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, 5); /* the aggregate links */
	/* Aggregate 9 comes back: link (1, 9) is healthy again. */
	h_sql(DB,
	    "INSERT INTO placement_aggregates (id, uuid) VALUES (9, 'agg-9')");

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(pj_db_begin(ctx.db, &err), PJ_OK);
	assert_int_equal(pass->repair_batch(&ctx, &b, &repaired, &err), PJ_OK);
	assert_int_equal(repaired, 4);
	assert_int_equal(try_touch_link(other, 1, 9), PJ_ERETRY);
	assert_int_equal(try_touch_link(other, 3, 1), PJ_OK);
	assert_int_equal(h_try_exec(other,
	                     "UPDATE resource_providers SET generation ="
	                     " generation + 1 WHERE id = ?",
	                     &three, 1),
	    PJ_ERETRY);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);

	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(CONCAT(resource_provider_id, ':', aggregate_id)"
	    " ORDER BY resource_provider_id, aggregate_id)"
	    " FROM resource_provider_aggregates",
	    "1:1,1:9,2:2,2:3,3:1,3:2,4:3", "links left");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(row_key ORDER BY row_key)"
	    " FROM placement_janitor_archive",
	    "10,7,3,8,5,1,5,9", "links archived");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(CONCAT(id, ':', IFNULL(generation, '-'))"
	    " ORDER BY id) FROM resource_providers",
	    "1:3,2:5,3:1,4:7,10:-", "generations: only provider 3 bumped");
	pj_db_close(other);
	pj_db_close(ctx.db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orphaned_provider_links_repairs_only_damage),
		cmocka_unit_test(
		    orphaned_provider_links_dry_run_changes_nothing),
		cmocka_unit_test(
		    orphaned_provider_links_second_run_changes_nothing),
		cmocka_unit_test(
		    orphaned_provider_links_report_mode_never_writes),
		cmocka_unit_test(
		    orphaned_provider_links_generation_read_under_lock),
		cmocka_unit_test(orphaned_provider_links_only_this_pass),
		cmocka_unit_test(
		    orphaned_provider_links_batch_locks_and_rechecks),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
