/*
 * --provider and --consumer against the sandbox MariaDB: every pass finds
 * and repairs only rows of the providers and consumers given, with the
 * same damage outside the scope (between them in every key order) left
 * as it was; unknown uuids are reported and the rest of the run is done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define DB "pj_it_scope"
#define FIXTURE "tests/integration/fixtures/scope.sql"

/* Every destructive pass in repair mode; fixed batch sizes. */
static const char REPAIR_YAML[] =
    "worker:\n  batch_target: 0ms\n"
    "passes:\n"
    "  orphaned_allocations:\n    mode: repair\n"
    "  orphaned_inventories:\n    mode: repair\n";

static const char SQL_ROOTS[] =
    "SELECT GROUP_CONCAT(CONCAT(id, ':', COALESCE(root_provider_id, 'N'))"
    " ORDER BY id) FROM resource_providers";
static const char SQL_LINKS_77[] =
    "SELECT GROUP_CONCAT(resource_provider_id ORDER BY resource_provider_id)"
    " FROM resource_provider_aggregates WHERE aggregate_id = 77";
static const char SQL_DANGLING_REFS[] =
    "SELECT GROUP_CONCAT(uuid ORDER BY id) FROM consumers"
    " WHERE project_id = 55";
static const char SQL_CONSUMERS[] =
    "SELECT GROUP_CONCAT(uuid ORDER BY uuid) FROM consumers";
static const char SQL_ORPHAN_ALLOCATIONS[] =
    "SELECT GROUP_CONCAT(id ORDER BY id) FROM allocations"
    " WHERE resource_provider_id = 99";
static const char SQL_ARCHIVED[] =
    "SELECT GROUP_CONCAT(CONCAT(pass, ':', row_key) ORDER BY pass, row_key)"
    " FROM placement_janitor_archive";

static void
seed(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql_file(DB, FIXTURE);
}

/* The query's text names what is checked. */
static void
expect_query(const char *sql, const char *want)
{
	h_expect_query(DB, sql, want, sql);
}

static void
expect_scope(const char *json, const char *pass, const char *scope)
{
	char member[96];

	snprintf(member, sizeof(member), "\"scope\":\"%s\"", scope);
	if (!h_pass_has(pass, json, member))
		fail_msg("pass %s: not %s in %s", pass, member, json);
}

/* check, and repair --dry-run, with a scope change no table. */
static void
scope_check_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *check[] = { "--provider", "a1", "--consumer", "c1", "check",
		NULL };
	const char *dry[] = { "--provider", "a1", "--provider", "a3",
		"--consumer", "c1", "--dry-run", "repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed();
	before = h_checksum(DB);
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check --provider");
	assert_int_equal(
	    h_pass_field("orphaned_allocations", r.out, "found"), 2);
	assert_int_equal(
	    h_pass_field("orphaned_provider_links", r.out, "found"), 1);
	h_result_free(&r);
	r = h_run_json(cfg, dry);
	h_expect_exit(&r, 1, "repair --dry-run --provider");
	assert_int_equal(h_pass_field("root_provider_ids", r.out, "found"), 4);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* Two providers with a third between them: only theirs is repaired. */
static void
scope_providers_repair_only_their_rows(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--provider", "a1", "--provider", "A3", "repair",
		NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	/* dangling_resource_classes reports what it found: exit 1. */
	h_expect_exit(&r, 1, "repair --provider a1 --provider A3");
	assert_non_null(strstr(r.out,
	    "\"scope\":{\"providers\":[\"a1\",\"A3\"],\"consumers\":[],"
	    "\"not_found\":{\"providers\":[],\"consumers\":[]}}"));
	assert_int_equal(
	    h_pass_field("incomplete_consumers", r.out, "repaired"), 2);
	assert_int_equal(
	    h_pass_field("orphaned_provider_links", r.out, "repaired"), 2);
	assert_int_equal(
	    h_pass_field("dangling_consumer_refs", r.out, "repaired"), 2);
	assert_int_equal(
	    h_pass_field("root_provider_ids", r.out, "repaired"), 4);
	/* a1: allocation 30 and inventory 2; a3: inventory 4. */
	assert_int_equal(
	    h_pass_field("dangling_resource_classes", r.out, "found"), 3);
	expect_scope(r.out, "incomplete_consumers", "providers");
	expect_scope(r.out, "orphaned_allocations", "not_applicable");
	expect_scope(r.out, "orphaned_inventories", "not_applicable");
	expect_scope(r.out, "orphaned_consumers", "not_applicable");
	expect_scope(r.out, "unused_projects_users", "not_applicable");
	assert_true(h_pass_has("orphaned_allocations", r.out, "\"ran\":false"));
	h_result_free(&r);

	/* a2 (id 2) and its child 6 keep their damage, in SQL. */
	expect_query(SQL_ROOTS, "1:1,2:N,3:3,4:1,5:1,6:N");
	expect_query(SQL_LINKS_77, "2");
	expect_query(SQL_DANGLING_REFS, "c2");
	expect_query(SQL_CONSUMERS, "c1,c2,c3,d1,d2,d3,e1,e3,ok1");
	/* Passes that cannot apply did not run: their damage is all there. */
	expect_query(SQL_ORPHAN_ALLOCATIONS, "10,11,12,13");
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM inventories"
	                     " WHERE resource_provider_id = 99"),
	    1);
	free(cfg);
}

/*
 * Consumers: c1's orphaned allocations 10 and 12 are one batch whose id
 * range holds c2's orphan 11, which must stay (locked, re-checked and
 * deleted by consumer, not by range alone).
 */
static void
scope_consumers_repair_only_their_rows(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--consumer", "c1", "--consumer", "d1",
		"--consumer", "D3", "--consumer", "e1", "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	/* dangling_resource_classes reports c1's allocation 30: exit 1. */
	h_expect_exit(&r, 1, "repair --consumer");
	assert_int_equal(
	    h_pass_field("orphaned_allocations", r.out, "repaired"), 2);
	assert_int_equal(
	    h_pass_field("orphaned_consumers", r.out, "repaired"), 2);
	assert_int_equal(
	    h_pass_field("dangling_consumer_refs", r.out, "repaired"), 1);
	assert_int_equal(
	    h_pass_field("incomplete_consumers", r.out, "repaired"), 1);
	/* A consumer holds allocations, never inventories. */
	assert_int_equal(
	    h_pass_field("dangling_resource_classes", r.out, "found"), 1);
	expect_scope(r.out, "orphaned_allocations", "consumers");
	expect_scope(r.out, "root_provider_ids", "not_applicable");
	expect_scope(r.out, "orphaned_provider_links", "not_applicable");
	h_result_free(&r);

	expect_query(SQL_ORPHAN_ALLOCATIONS, "11,13");
	/* c1 keeps allocations 1 and 30: its generation moved once. */
	assert_int_equal(
	    h_query_int(DB, "SELECT generation FROM consumers WHERE id = 1"),
	    6);
	assert_int_equal(
	    h_query_int(DB, "SELECT generation FROM consumers WHERE id = 2"),
	    6);
	expect_query(SQL_DANGLING_REFS, "c2,c3");
	expect_query(SQL_CONSUMERS, "c1,c2,c3,d2,e1,ok1");
	expect_query(SQL_ARCHIVED,
	    "dangling_consumer_refs:1,"
	    "orphaned_allocations:10,orphaned_allocations:12,"
	    "orphaned_consumers:4,orphaned_consumers:6");
	expect_query(SQL_ROOTS, "1:N,2:N,3:N,4:N,5:2,6:N");
	free(cfg);
}

/* An unknown uuid is reported (exit 1), and the rest is still done. */
static void
scope_unknown_uuid_is_reported(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--provider", "ffff", "--provider", "a1",
		"--consumer", "0123-abcd", "--pass", "orphaned_provider_links",
		"repair", NULL };
	const char *known[] = { "--provider", "a3", "--pass",
		"orphaned_provider_links", "repair", NULL };
	const char *table[] = { "--config", NULL, "--provider", "ffff", "check",
		NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "repair with unknown uuids");
	assert_non_null(strstr(r.out,
	    "\"not_found\":{\"providers\":[\"ffff\"],"
	    "\"consumers\":[\"0123-abcd\"]}"));
	assert_int_equal(
	    h_pass_field("orphaned_provider_links", r.out, "repaired"), 1);
	assert_non_null(strstr(r.err, "event=scope_not_found"));
	h_result_free(&r);
	expect_query(SQL_LINKS_77, "2,3");

	/* Every uuid known and every damage in scope repaired: exit 0. */
	r = h_run_json(cfg, known);
	h_expect_exit(&r, 0, "repair --provider a3");
	h_result_free(&r);
	expect_query(SQL_LINKS_77, "2");

	table[1] = cfg;
	r = h_run(table, NULL);
	h_expect_exit(&r, 1, "check --provider ffff");
	assert_non_null(strstr(r.out, "scope: provider ffff not found\n"));
	assert_non_null(strstr(r.out, "(scope uuid not found"));
	h_result_free(&r);
	free(cfg);
}

/* --provider and --consumer together: the union of both; an entry named
 * twice (in another case) runs once. */
static void
scope_mixed_and_duplicates(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *mixed[] = { "--provider", "a3", "--consumer", "C1",
		"--pass", "dangling_consumer_refs", "repair", NULL };
	const char *twice[] = { "--provider", "a1", "--provider", "A1",
		"--consumer", "c1", "--consumer", "C1", "check", NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, twice);
	h_expect_exit(&r, 1, "check, entries twice");
	assert_int_equal(
	    h_pass_field("orphaned_provider_links", r.out, "found"), 1);
	assert_int_equal(
	    h_pass_field("orphaned_allocations", r.out, "found"), 2);
	h_result_free(&r);

	r = h_run_json(cfg, mixed);
	h_expect_exit(&r, 0, "repair --provider a3 --consumer C1");
	assert_int_equal(
	    h_pass_field("dangling_consumer_refs", r.out, "repaired"), 2);
	expect_scope(
	    r.out, "dangling_consumer_refs", "providers_and_consumers");
	h_result_free(&r);
	expect_query(SQL_DANGLING_REFS, "c2");
	free(cfg);
}

/* A limit reached in one entry: the later entries count what remains. */
static void
scope_limit_counts_every_entry(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--max-rows", "1", "--batch-size", "1",
		"--provider", "a1", "--provider", "a3", "--pass",
		"root_provider_ids", "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "repair --max-rows 1");
	assert_int_equal(
	    h_pass_field("root_provider_ids", r.out, "repaired"), 1);
	/* a1's tree: 2 of 3 left; a3: 1. */
	assert_int_equal(
	    h_pass_field("root_provider_ids", r.out, "remaining"), 3);
	assert_non_null(strstr(r.out, "\"stopped_by\":\"max_rows\""));
	h_result_free(&r);
	free(cfg);
}

/*
 * incomplete_consumers: a1's incomplete consumers e1 and e4 are one batch
 * whose key range holds a2's e2 and a3's e3, which must stay without a
 * row (the repair goes by the batch's keys, not its range).
 */
static void
scope_incomplete_consumers_mid_range(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	const char *args[] = { "--provider", "a1", "--pass",
		"incomplete_consumers", "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	h_sql(DB,
	    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (23, 1, 'e4', 0, 1)");
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 0, "repair --provider a1");
	assert_int_equal(
	    h_pass_field("incomplete_consumers", r.out, "repaired"), 2);
	h_result_free(&r);
	expect_query(
	    "SELECT GROUP_CONCAT(uuid ORDER BY uuid) FROM consumers"
	    " WHERE uuid LIKE 'e%'",
	    "e1,e4");
	free(cfg);
}

/*
 * worker.on_batch_failure: stop ends the pass, not only the scope entry
 * whose batch failed: c3's entry never runs (a trigger refuses every
 * allocation delete, so c1's batch fails first).
 */
static void
scope_failed_batch_stops_the_pass(void **state)
{
	char *cfg = h_config(DB,
	    "worker:\n  batch_target: 0ms\n  on_batch_failure: stop\n"
	    "  retries: 0\n"
	    "passes:\n  orphaned_allocations:\n    mode: repair\n");
	const char *args[] = { "--consumer", "c1", "--consumer", "c3", "--pass",
		"orphaned_allocations", "repair", NULL };
	struct h_result r;

	(void)state;
	seed();
	h_sql(DB,
	    "CREATE TRIGGER refuse_delete BEFORE DELETE ON allocations"
	    " FOR EACH ROW SIGNAL SQLSTATE '45000'"
	    " SET MESSAGE_TEXT = 'refused by the test'");
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 2, "repair with every delete refused");
	assert_int_equal(
	    h_pass_field("orphaned_allocations", r.out, "found"), 2);
	assert_int_equal(
	    h_pass_field("orphaned_allocations", r.out, "failed"), 2);
	h_result_free(&r);
	expect_query(SQL_ORPHAN_ALLOCATIONS, "10,11,12,13");
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scope_check_changes_nothing),
		cmocka_unit_test(scope_providers_repair_only_their_rows),
		cmocka_unit_test(scope_consumers_repair_only_their_rows),
		cmocka_unit_test(scope_unknown_uuid_is_reported),
		cmocka_unit_test(scope_mixed_and_duplicates),
		cmocka_unit_test(scope_incomplete_consumers_mid_range),
		cmocka_unit_test(scope_failed_batch_stops_the_pass),
		cmocka_unit_test(scope_limit_counts_every_entry),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
