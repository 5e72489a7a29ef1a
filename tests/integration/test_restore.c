/* restore against the sandbox MariaDB: archived rows put back, exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"
#include "worker/archive.h"

#define DB "pj_it_restore"
#define RUN "5f0c0a8e-1111-4222-8333-944445555666"
#define RUN2 "6e1d1b9f-2222-4333-8444-a55556666777"

/*
 * Placement rows with what restore must carry through JSON unharmed:
 * NULL and set timestamps, floats that are not short decimals, quotes,
 * backslashes, SQL text, tabs, trailing spaces, non-ASCII and 36-character
 * ids. Damage: provider 99, 98 and 97 do not exist (allocations,
 * inventories, links on them), consumer 4's project and user are gone,
 * provider 3's root is NULL, consumer 5 has no allocations.
 */
static const char SEED[] =
    "INSERT INTO consumer_types (id, name) VALUES (1, 'INSTANCE');"
    "INSERT INTO projects (id, external_id) VALUES (1, 'proj-a'),"
    " (2, '00000000-0000-0000-0000-000000000000');"
    "INSERT INTO users (id, external_id) VALUES (1, 'user-a'),"
    " (2, '00000000-0000-0000-0000-000000000000');"
    "INSERT INTO traits (id, name) VALUES (1, 'HW_CPU_X86_AVX'),"
    " (2, 'CUSTOM_T');"
    "INSERT INTO placement_aggregates (id, uuid) VALUES (1, 'agg-1'),"
    " (2, 'agg-2');"
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id, parent_provider_id, created_at, updated_at) VALUES"
    " (1, 'rp-1', 'cn1', 4, 1, NULL, '2024-01-01 00:00:00', NULL),"
    " (2, 'rp-2', 'cn1 \\\\numa'' \"0\"', 2, 1, 1, NULL, NULL),"
    " (3, 'rp-3', 'cn''3\\\\; DROP TABLE x; --', 7, NULL, NULL, NULL,"
    " '2024-02-02 02:02:02');"
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " consumer_type_id, created_at, updated_at) VALUES"
    " (1, 'x''; DROP TABLE consumers; --', 1, 1, 3, NULL, NULL, NULL),"
    " (2, '\"quoted\" \\\\ ''single''', 1, 1, 9, 1,"
    " '2024-03-03 03:03:03', NULL),"
    " (3, 'abcdef01-2345-6789-abcd-ef0123456789', 1, 1, 2, 1,"
    " '2024-01-01 00:00:00', '2024-01-02 00:00:00'),"
    " (4, '\xc3\xbcn\xc3\xaf-c\xc3\xb8"
    "d\xc3\xa9', 55, 56, 1, NULL,"
    " NULL, '2024-05-05 05:05:05'),"
    " (5, 'tab\\there', 1, 1, 0, NULL, '2020-01-01 00:00:00', NULL),"
    " (6, 'trailing  ', 1, 1, 11, NULL, NULL, NULL);"
    /* 20 consumers with all their allocations on a vanished provider */
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation)"
    " SELECT 100 + seq, CONCAT('bulk-', LPAD(seq, 3, '0')), 1, 1, seq"
    " FROM seq_1_to_20;"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used, created_at, updated_at)"
    " SELECT 1000 + s.seq * 2 + r.seq, 99,"
    " CONCAT('bulk-', LPAD(s.seq, 3, '0')), r.seq, s.seq + r.seq,"
    " IF(s.seq % 2 = 0, NULL, '2024-06-06 06:06:06'), NULL"
    " FROM seq_1_to_20 s JOIN seq_0_to_1 r;"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used, created_at, updated_at) VALUES"
    " (10, 99, 'x''; DROP TABLE consumers; --', 0, 1, NULL, NULL),"
    " (11, 99, '\"quoted\" \\\\ ''single''', 1, 2,"
    " '2024-03-03 03:03:03', '2024-04-04 04:04:04'),"
    " (12, 1, 'abcdef01-2345-6789-abcd-ef0123456789', 0, 4, NULL, NULL),"
    " (13, 1, '\xc3\xbcn\xc3\xaf-c\xc3\xb8"
    "d\xc3\xa9', 1, 8, NULL, NULL),"
    " (14, 1, 'trailing  ', 2, 16, NULL, NULL);"
    "INSERT INTO inventories (id, resource_provider_id, resource_class_id,"
    " total, reserved, min_unit, max_unit, step_size, allocation_ratio,"
    " created_at, updated_at) VALUES"
    " (1, 98, 0, 64, 0, 1, 64, 1, 0.3333333, NULL, NULL),"
    " (2, 98, 1, 1024, 512, 1, 1024, 256, 1.0000001,"
    " '2024-01-01 01:01:01', NULL),"
    " (3, 98, 2, 10, 0, 1, 10, 1, 3.4e38, NULL, '2024-07-07 07:07:07'),"
    " (4, 98, 3, 10, 0, 1, 10, 1, 1.5e-44, NULL, NULL),"
    " (5, 98, 4, 10, 0, 1, 10, 1, 16, NULL, NULL),"
    " (6, 1, 0, 8, 0, 1, 8, 1, 0.3333333, NULL, NULL);"
    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
    " aggregate_id, created_at, updated_at) VALUES"
    " (97, 1, NULL, NULL), (97, 2, '2024-08-08 08:08:08', NULL),"
    " (1, 1, NULL, NULL);"
    "SET FOREIGN_KEY_CHECKS = 0;"
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id,"
    " created_at, updated_at) VALUES (1, 97, NULL, NULL),"
    " (2, 97, '2024-09-09 09:09:09', NULL), (1, 1, NULL, NULL);"
    "SET FOREIGN_KEY_CHECKS = 1;";

#define ARCHIVE_INSERT \
	"INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
#define ARCHIVE_AS(run, pass, table, key, action) \
	ARCHIVE_INSERT " SELECT '" run "', '" pass "', '" table "', " key \
	               ", '" action "', "

/*
 * The repair as the passes do it, by hand, through the same archive
 * fragments: archive the rows, then delete or change exactly them. No
 * surviving consumer or provider loses rows, so no generation moves.
 */
static const char REPAIR[] = ARCHIVE_AS(RUN, "orphaned_allocations",
    "allocations", "CAST(a.id AS CHAR)", "delete") PJ_ARCHIVE_ALLOCATION
    ", UTC_TIMESTAMP(6) FROM allocations a"
    " WHERE a.resource_provider_id = 99;"
    "DELETE FROM allocations WHERE resource_provider_id = 99;" ARCHIVE_AS(RUN,
        "orphaned_allocations", "consumers", "CAST(c.id AS CHAR)", "delete")
        PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6) FROM consumers c WHERE c.id <> 5 AND NOT EXISTS"
    " (SELECT 1 FROM allocations a WHERE a.consumer_id = c.uuid);"
    "DELETE c FROM consumers c WHERE c.id <> 5 AND NOT EXISTS"
    " (SELECT 1 FROM allocations a WHERE a.consumer_id = c.uuid);" ARCHIVE_AS(
        RUN, "orphaned_inventories", "inventories", "CAST(i.id AS CHAR)",
        "delete") PJ_ARCHIVE_INVENTORY
    ", UTC_TIMESTAMP(6) FROM inventories i WHERE i.resource_provider_id = 98;"
    "DELETE FROM inventories WHERE resource_provider_id = 98;" ARCHIVE_AS(RUN,
        "orphaned_provider_links", "resource_provider_aggregates",
        "CONCAT(rpa.resource_provider_id, ',', rpa.aggregate_id)", "delete")
        PJ_ARCHIVE_PROVIDER_AGGREGATE
    ", UTC_TIMESTAMP(6) FROM resource_provider_aggregates rpa"
    " WHERE rpa.resource_provider_id = 97;"
    "DELETE FROM resource_provider_aggregates WHERE resource_provider_id = 97;" ARCHIVE_AS(
        RUN, "orphaned_provider_links", "resource_provider_traits",
        "CONCAT(rpt.trait_id, ',', rpt.resource_provider_id)", "delete")
        PJ_ARCHIVE_PROVIDER_TRAIT
    ", UTC_TIMESTAMP(6) FROM resource_provider_traits rpt"
    " WHERE rpt.resource_provider_id = 97;"
    "DELETE FROM resource_provider_traits WHERE resource_provider_id = 97;" ARCHIVE_AS(
        RUN, "dangling_consumer_refs", "consumers", "CAST(c.id AS CHAR)",
        "update") PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6) FROM consumers c WHERE c.id = 4;"
    "UPDATE consumers SET project_id = 2, user_id = 2,"
    " updated_at = UTC_TIMESTAMP() WHERE id = 4;" ARCHIVE_AS(RUN,
        "root_provider_ids", "resource_providers", "CAST(rp.id AS CHAR)",
        "update") PJ_ARCHIVE_PROVIDER
    ", UTC_TIMESTAMP(6) FROM resource_providers rp WHERE rp.id = 3;"
    "UPDATE resource_providers SET root_provider_id = 3,"
    " updated_at = UTC_TIMESTAMP() WHERE id = 3;" ARCHIVE_AS(
        RUN, "orphaned_consumers", "consumers", "CAST(c.id AS CHAR)", "delete")
        PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6) FROM consumers c WHERE c.id = 5;"
    "DELETE FROM consumers WHERE id = 5;";

/* Archive rows of RUN written by REPAIR: 40 + 2 allocations, 22 + 1
 * consumers deleted, 5 inventories, 2 + 2 links, 2 updates. */
#define ARCHIVED 76

static struct h_result
janitor(const char *config, const char *const *args)
{
	const char *argv[24] = { "--config", config, "--format", "json" };
	size_t n = 4;

	while (*args != NULL && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	return h_run(argv, NULL);
}

/* A number after "field": in a JSON document, before its "steps" (the
 * top level), or -1. */
static long long
top(const char *json, const char *field)
{
	char key[64];
	const char *p, *end = strstr(json, "\"steps\"");

	snprintf(key, sizeof(key), "\"%s\":", field);
	p = strstr(json, key);
	if (p == NULL || (end != NULL && p > end))
		return -1;
	return atoll(p + strlen(key));
}

/* The checksum line of one table in h_checksum's output (caller frees). */
static char *
table_sum(const char *sums, const char *table)
{
	char key[128];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), DB ".%s\t", table);
	p = strstr(sums, key);
	if (p == NULL)
		fail_msg("no checksum for %s in:\n%s", table, sums);
	n = strcspn(p, "\n");
	return strndup(p, n);
}

/* Every table but the archive (emptied here) and those named in skip. */
static void
assert_same_tables(
    const char *before, const char *after, const char *const *skip)
{
	static const char *const tables[] = { "allocations", "consumers",
		"inventories", "resource_provider_aggregates",
		"resource_provider_traits", "resource_providers", "projects",
		"users", "traits", "placement_aggregates", "consumer_types",
		"resource_classes", NULL };
	const char *const *t, *const *s;
	char *x, *y;

	for (t = tables; *t != NULL; t++) {
		bool skipped = false;

		for (s = skip; s != NULL && *s != NULL; s++)
			skipped = skipped || strcmp(*s, *t) == 0;
		if (skipped)
			continue;
		x = table_sum(before, *t);
		y = table_sum(after, *t);
		if (strcmp(x, y) != 0)
			fail_msg("table %s changed: %s -> %s", *t, x, y);
		free(x);
		free(y);
	}
}

static void
seed(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql(DB, SEED);
}

/* Seeds, takes the checksum, repairs by hand; returns the checksum. */
static char *
seed_and_repair(void)
{
	char *before;

	seed();
	before = h_checksum(DB);
	h_sql(DB, REPAIR);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    ARCHIVED);
	return before;
}

static long long
unrestored(const char *run)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	    "SELECT COUNT(*) FROM placement_janitor_archive"
	    " WHERE run_id = '%s' AND restored_at IS NULL",
	    run);
	return h_query_int(DB, sql);
}

/* The whole run back, in batches of 3: every table checksum-identical
 * to before the repair, every archive row marked. */
static void
restore_round_trip_is_checksum_identical(void **state)
{
	const char *args[] = { "--batch-size", "3", "restore", "--run", RUN,
		NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	before = seed_and_repair();
	r = janitor(cfg, args);
	if (r.exit_code != 0)
		fail_msg(
		    "restore exited %d: %s\n%s", r.exit_code, r.err, r.out);
	assert_int_equal(top(r.out, "archived"), ARCHIVED);
	assert_int_equal(top(r.out, "restored"), ARCHIVED);
	assert_int_equal(top(r.out, "remaining"), 0);
	assert_int_equal(top(r.out, "key_taken"), 0);
	assert_int_equal(top(r.out, "generations_bumped"), 0);
	h_result_free(&r);
	assert_int_equal(unrestored(RUN), 0);
	/* The archive keeps its rows (marked): empty it to compare. */
	h_sql(DB, "DELETE FROM placement_janitor_archive;");
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* A second restore of the run finds everything restored: no change. */
static void
restore_second_run_changes_nothing(void **state)
{
	const char *args[] = { "restore", "--run", RUN, NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	free(seed_and_repair());
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	before = h_checksum(DB);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(top(r.out, "already_restored"), ARCHIVED);
	assert_int_equal(top(r.out, "restored"), 0);
	assert_int_equal(top(r.out, "remaining"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* --dry-run counts what would go back and writes nothing, archive
 * included. */
static void
restore_dry_run_changes_nothing(void **state)
{
	const char *args[] = { "--dry-run", "--batch-size", "5", "restore",
		"--run", RUN, NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	free(seed_and_repair());
	h_sql(DB,
	    "INSERT INTO allocations (id, resource_provider_id,"
	    " consumer_id, resource_class_id, used) VALUES"
	    " (10, 1, 'someone-else', 0, 1);");
	before = h_checksum(DB);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.out, "\"dry_run\":true"));
	assert_int_equal(top(r.out, "restored"), ARCHIVED - 1);
	assert_int_equal(top(r.out, "key_taken"), 1);
	assert_int_equal(top(r.out, "remaining"), 1);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	assert_int_equal(unrestored(RUN), ARCHIVED);
	free(before);
	free(after);
	free(cfg);
}

/*
 * Keys taken meanwhile are reported and never overwritten: an allocation
 * id, a consumer uuid in another spelling (case, trailing space: the same
 * key by the collation), a consumer id, an inventory's (provider, class),
 * a link pair. Everything else goes back; -v lists each one left.
 */
static void
restore_never_overwrites_taken_keys(void **state)
{
	const char *args[] = { "-v", "--batch-size", "4", "restore", "--run",
		RUN, NULL };
	char *cfg = h_config(DB, NULL);
	const char *p;
	struct h_result r;
	int listed = 0;

	(void)state;
	free(seed_and_repair());
	h_sql(DB,
	    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1002, 5, 'new', 0, 77);"
	    "INSERT INTO consumers (id, uuid, project_id, user_id, generation)"
	    " VALUES (500, 'BULK-003 ', 1, 1, 0), (104, 'other', 1, 1, 0);"
	    "INSERT INTO inventories (id, resource_provider_id,"
	    " resource_class_id, total, reserved, min_unit, max_unit,"
	    " step_size, allocation_ratio) VALUES (50, 98, 2, 1, 0, 1, 1, 1, 1);"
	    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
	    " aggregate_id) VALUES (97, 2);");
	r = janitor(cfg, args);
	if (r.exit_code != 1)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(top(r.out, "key_taken"), 5);
	assert_int_equal(top(r.out, "restored"), ARCHIVED - 5);
	assert_int_equal(top(r.out, "remaining"), 5);
	for (p = r.err; (p = strstr(p, "event=restore_skipped")) != NULL; p++) {
		listed++;
		assert_non_null(strstr(p, "reason=key_taken"));
	}
	assert_int_equal(listed, 5);
	h_result_free(&r);
	/* The new rows are as they were written, not the archived ones. */
	assert_int_equal(h_query_int(DB,
	                     "SELECT used FROM allocations"
	                     " WHERE id = 1002"),
	    77);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers"
	                     " WHERE uuid = 'bulk-003'"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT id FROM consumers"
	                     " WHERE uuid = 'bulk-003'"),
	    500);
	assert_int_equal(h_query_int(DB,
	                     "SELECT uuid = 'other' FROM consumers"
	                     " WHERE id = 104"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT total FROM inventories"
	                     " WHERE resource_provider_id = 98"
	                     " AND resource_class_id = 2"),
	    1);
	assert_int_equal(unrestored(RUN), 5);
	/* Again: the same five are still refused, nothing else moves. */
	r = janitor(cfg, args + 3);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(top(r.out, "restored"), 0);
	assert_int_equal(top(r.out, "key_taken"), 5);
	h_result_free(&r);
	free(cfg);
}

/*
 * An update goes back only onto the row with the archived generation: a
 * consumer and a provider that Placement changed since (generation moved)
 * and a provider deleted since are reported as changed, and kept.
 */
static void
restore_update_only_if_unchanged(void **state)
{
	const char *args[] = { "-v", "restore", "--run", RUN, NULL };
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	free(seed_and_repair());
	h_sql(DB,
	    "UPDATE consumers SET generation = generation + 1 WHERE id = 4;" ARCHIVE_AS(
	        RUN2, "root_provider_ids", "resource_providers",
	        "CAST(rp.id AS CHAR)", "update") PJ_ARCHIVE_PROVIDER
	    ", UTC_TIMESTAMP(6) FROM resource_providers rp WHERE rp.id IN (1, 2);"
	    "UPDATE resource_providers SET generation = 5 WHERE id = 1;"
	    "DELETE FROM resource_providers WHERE id = 2;");
	r = janitor(cfg, args);
	if (r.exit_code != 1)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(top(r.out, "changed_since"), 1);
	assert_int_equal(top(r.out, "restored"), ARCHIVED - 1);
	assert_non_null(strstr(r.err, "reason=changed_since"));
	h_result_free(&r);
	/* Still the project and user Placement would now see. */
	assert_int_equal(h_query_int(DB,
	                     "SELECT project_id * 10 + user_id"
	                     " FROM consumers WHERE id = 4"),
	    22);
	r = janitor(
	    cfg, (const char *const[]){ "restore", "--run", RUN2, NULL });
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(top(r.out, "changed_since"), 2);
	assert_int_equal(top(r.out, "restored"), 0);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM"
	                     " resource_providers WHERE id = 1"),
	    5);
	free(cfg);
}

/*
 * Rows back to a consumer or provider that survived the repair change
 * what it owns again: its generation moves on (never back). A consumer
 * that restore itself put back keeps its archived generation.
 */
static void
restore_bumps_surviving_owners(void **state)
{
	const char *args[] = { "restore", "--run", RUN2, NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed();
	h_sql(DB,
	    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES"
	    " (20, 99, 'abcdef01-2345-6789-abcd-ef0123456789', 5, 1),"
	    " (21, 99, 'ABCDEF01-2345-6789-ABCD-EF0123456789 ', 6, 1);");
	before = h_checksum(DB);
	/* Consumer 3 loses two of its three allocations (bumped to 3);
	 * provider 1 loses an aggregate link and a trait link (bumped). */
	h_sql(DB,
	    ARCHIVE_AS(RUN2, "orphaned_allocations", "allocations",
	        "CAST(a.id AS CHAR)", "delete") PJ_ARCHIVE_ALLOCATION
	    ", UTC_TIMESTAMP(6) FROM allocations a WHERE a.id IN (20, 21);"
	    "DELETE FROM allocations WHERE id IN (20, 21);"
	    "UPDATE consumers SET generation = 3 WHERE id = 3;" ARCHIVE_AS(RUN2,
	        "orphaned_provider_links", "resource_provider_aggregates",
	        "CONCAT(rpa.resource_provider_id, ',', rpa.aggregate_id)",
	        "delete") PJ_ARCHIVE_PROVIDER_AGGREGATE
	    ", UTC_TIMESTAMP(6) FROM resource_provider_aggregates rpa"
	    " WHERE rpa.resource_provider_id = 1;"
	    "DELETE FROM resource_provider_aggregates"
	    " WHERE resource_provider_id = 1;" ARCHIVE_AS(RUN2,
	        "orphaned_provider_links", "resource_provider_traits",
	        "CONCAT(rpt.trait_id, ',', rpt.resource_provider_id)", "delete")
	        PJ_ARCHIVE_PROVIDER_TRAIT
	    ", UTC_TIMESTAMP(6) FROM resource_provider_traits rpt"
	    " WHERE rpt.resource_provider_id = 1;"
	    "DELETE FROM resource_provider_traits WHERE resource_provider_id = 1;"
	    "UPDATE resource_providers SET generation = 5 WHERE id = 1;");
	r = janitor(cfg, args);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(top(r.out, "restored"), 4);
	/* consumer 3 once (both allocations in one batch), provider 1 once
	 * per table its links came back to. */
	assert_int_equal(top(r.out, "generations_bumped"), 3);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM consumers"
	                     " WHERE id = 3"),
	    4);
	assert_int_equal(h_query_int(DB,
	                     "SELECT updated_at >"
	                     " UTC_TIMESTAMP() - INTERVAL 1 HOUR"
	                     " FROM consumers WHERE id = 3"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM"
	                     " resource_providers WHERE id = 1"),
	    7);
	h_sql(DB, "DELETE FROM placement_janitor_archive;");
	after = h_checksum(DB);
	assert_same_tables(before, after,
	    (const char *const[]){ "consumers", "resource_providers", NULL });
	free(before);
	free(after);
	free(cfg);
}

/* --pass puts back only that pass's rows; the rest stay for later. */
static void
restore_one_pass(void **state)
{
	const char *one[] = { "restore", "--run", RUN, "--pass",
		"orphaned_inventories", NULL };
	const char *all[] = { "restore", "--run", RUN, NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	before = seed_and_repair();
	r = janitor(cfg, one);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(top(r.out, "archived"), 5);
	assert_int_equal(top(r.out, "restored"), 5);
	assert_non_null(strstr(r.out, "\"pass\":\"orphaned_inventories\""));
	h_result_free(&r);
	assert_int_equal(unrestored(RUN), ARCHIVED - 5);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM inventories"), 6);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM allocations"), 3);
	r = janitor(cfg, all);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(top(r.out, "already_restored"), 5);
	assert_int_equal(top(r.out, "restored"), ARCHIVED - 5);
	h_result_free(&r);
	h_sql(DB, "DELETE FROM placement_janitor_archive;");
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* A run that archived nothing is a usage error (64), as is a pass that
 * archived nothing in it; the archive table missing is exit 65. */
static void
restore_unknown_run_and_missing_archive(void **state)
{
	const char *unknown[] = { "restore", "--run", RUN2, NULL };
	const char *no_pass[] = { "restore", "--run", RUN, "--pass",
		"root_provider_ids", NULL };
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	free(seed_and_repair());
	r = janitor(cfg, unknown);
	assert_int_equal(r.exit_code, 64);
	assert_non_null(strstr(r.err, "archived nothing"));
	h_result_free(&r);
	h_sql(DB,
	    "DELETE FROM placement_janitor_archive"
	    " WHERE pass = 'root_provider_ids';");
	r = janitor(cfg, no_pass);
	assert_int_equal(r.exit_code, 64);
	h_result_free(&r);
	h_sql(DB, "DROP TABLE placement_janitor_archive;");
	r = janitor(cfg, unknown);
	assert_int_equal(r.exit_code, 65);
	assert_non_null(strstr(r.err, "sql/archive.sql"));
	h_result_free(&r);
	free(cfg);
}

/* Restore writes: like repair it holds the run lock, and exits 3 with
 * nothing done while another run holds it; a dry run needs no lock. */
static void
restore_takes_the_run_lock(void **state)
{
	const char *args[] = { "restore", "--run", RUN, NULL };
	const char *dry[] = { "--dry-run", "restore", "--run", RUN, NULL };
	char *cfg = h_config(DB, NULL);
	struct pj_error err = { 0 };
	struct pj_db *holder;
	struct h_result r;

	(void)state;
	free(seed_and_repair());
	holder = h_connect(DB);
	assert_int_equal(
	    pj_db_exec(holder, "SELECT GET_LOCK('placement_janitor', 0)", NULL,
	        0, NULL, &err),
	    PJ_OK);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 3);
	assert_non_null(strstr(r.err, "event=locked"));
	h_result_free(&r);
	assert_int_equal(unrestored(RUN), ARCHIVED);
	r = janitor(cfg, dry);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	pj_db_close(holder);
	r = janitor(cfg, args);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(unrestored(RUN), 0);
	free(cfg);
}

/*
 * Round trip through the real passes: seed damage that needs no
 * generation to move, repair with every destructive pass, restore: every
 * table as before. Then a run whose survivors were bumped: only consumers
 * and providers differ, and their generations are higher.
 */
static const char PASSES_YAML[] =
    "passes:\n"
    "  incomplete_consumers:\n    mode: off\n"
    "  orphaned_allocations:\n    mode: repair\n"
    "  orphaned_inventories:\n    mode: repair\n"
    "  orphaned_provider_links:\n    mode: repair\n"
    "  dangling_consumer_refs:\n    mode: repair\n"
    "  root_provider_ids:\n    mode: repair\n"
    "  orphaned_consumers:\n    mode: repair\n    min_age: 2m\n"
    "  unused_projects_users:\n    mode: off\n"
    "  dangling_resource_classes:\n    mode: off\n";

/* The run id of a JSON report (caller frees). */
static char *
run_id_of(const char *json)
{
	const char *p = strstr(json, "\"run_id\":\"");

	assert_non_null(p);
	return strndup(p + 10, 36);
}

static void
repair_and_restore(const char *cfg, char **run)
{
	const char *repair[] = { "--batch-size", "4", "repair", NULL };
	const char *args[] = { "--batch-size", "4", "restore", "--run", NULL,
		NULL };
	struct h_result r;

	r = janitor(cfg, repair);
	if (r.exit_code != 0)
		fail_msg("repair exited %d: %s\n%s", r.exit_code, r.err, r.out);
	*run = run_id_of(r.out);
	h_result_free(&r);
	assert_int_equal(unrestored(*run) > 0, 1);
	args[4] = *run;
	r = janitor(cfg, args);
	if (r.exit_code != 0)
		fail_msg(
		    "restore exited %d: %s\n%s", r.exit_code, r.err, r.out);
	h_result_free(&r);
	assert_int_equal(unrestored(*run), 0);
}

static void
restore_after_repair_round_trip(void **state)
{
	char *cfg = h_config(DB, PASSES_YAML);
	char *before, *after, *run = NULL;
	struct h_result r;

	(void)state;
	seed();
	before = h_checksum(DB);
	repair_and_restore(cfg, &run);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(DISTINCT CONCAT(pass,"
	                     " table_name, action))"
	                     " FROM placement_janitor_archive"),
	    8);
	/* The damage is back: check finds it again. */
	r = janitor(cfg, (const char *const[]){ "check", NULL });
	assert_int_equal(r.exit_code, 1);
	h_result_free(&r);
	h_sql(DB, "DELETE FROM placement_janitor_archive;");
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(run);
	free(before);
	free(after);

	/* Survivors: consumer 3 and provider 1 lose rows, and are bumped by
	 * the passes and again by restore. */
	seed();
	h_sql(DB,
	    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES"
	    " (20, 99, 'abcdef01-2345-6789-abcd-ef0123456789', 5, 1);"
	    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
	    " aggregate_id) VALUES (1, 3);");
	before = h_checksum(DB);
	repair_and_restore(cfg, &run);
	h_sql(DB, "DELETE FROM placement_janitor_archive;");
	after = h_checksum(DB);
	assert_same_tables(before, after,
	    (const char *const[]){ "consumers", "resource_providers", NULL });
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM consumers"
	                     " WHERE id = 3"),
	    4);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM"
	                     " resource_providers WHERE id = 1"),
	    6);
	free(run);
	free(before);
	free(after);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restore_round_trip_is_checksum_identical),
		cmocka_unit_test(restore_second_run_changes_nothing),
		cmocka_unit_test(restore_dry_run_changes_nothing),
		cmocka_unit_test(restore_never_overwrites_taken_keys),
		cmocka_unit_test(restore_update_only_if_unchanged),
		cmocka_unit_test(restore_bumps_surviving_owners),
		cmocka_unit_test(restore_one_pass),
		cmocka_unit_test(restore_unknown_run_and_missing_archive),
		cmocka_unit_test(restore_takes_the_run_lock),
		cmocka_unit_test(restore_after_repair_round_trip),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
