/*
 * Hostile values through every pass and restore, through the binary.
 * Every text column a pass reads holds quotes, backslashes, SQL text,
 * control bytes next to NUL (\x01, \x1f, \x7f), multibyte text, non-UUID
 * ids and values as long as the column allows, and each kind of damage a
 * pass repairs or reports sits on such rows, beside healthy rows the
 * passes must not touch. check, repair (every pass, archive on) and
 * restore --run must end with their documented exit codes and no error;
 * the healthy rows never change and the restored rows come back byte for
 * byte (HEX of every column). Invalid UTF-8 never reaches the tables: the
 * server refuses it, or (sql_mode without STRICT) stores '?' instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define DB "pj_it_hostile"
#define DB_UTF8 "pj_it_hostile_utf8"

/*
 * The hostile values, as SQL user variables of the seeding session:
 *   @drop  SQL text: x'; DROP TABLE consumers; --
 *   @bs    backslashes, double and single quotes
 *   @ctl   control bytes: \x01 \x1f \x7f, a tab and a newline
 *   @uni   two- and three-byte UTF-8
 *   @id36  36 characters (the uuid columns' limit), 108 bytes
 *   @s200  200 characters of quotes, backslashes and semicolons
 *   @s255  255 characters, 764 bytes: one of two bytes, then three-byte
 *          ones (a key's text keeps 255 bytes: cut inside a character)
 *   @q255  255 characters of quotes and backslashes
 */
#define HOSTILE_VARS \
	"SET NAMES utf8mb4;" \
	"SET @drop = 'x''; DROP TABLE consumers; --';" \
	"SET @bs = CONCAT('b', CHAR(92), CHAR(92), '\"q\"', CHAR(39), 'z'," \
	" CHAR(92));" \
	"SET @ctl = CONCAT('c', CHAR(1), CHAR(31), CHAR(127), CHAR(9)," \
	" CHAR(10), 'd');" \
	"SET @uni = '\xc3\xbcn\xc3\xaf-c\xc3\xb8" \
	"d\xc3\xa9-\xe2\x82\xac';" \
	"SET @id36 = CONCAT(REPEAT('\xe2\x82\xac', 35), CHAR(39));" \
	"SET @s200 = REPEAT(CONCAT(CHAR(39), CHAR(92), ';', '\xe2\x82\xac')," \
	" 50);" \
	"SET @s255 = CONCAT('\xc3\xa9', REPEAT('\xe2\x82\xac', 254));" \
	"SET @q255 = REPEAT(CONCAT(CHAR(39), CHAR(92), '\"'), 85);"

/*
 * Healthy rows (providers 1-2, consumers 1000-1004, allocations and
 * inventories 100 and up, links of provider 1, projects and users 1-2,
 * classes, trait 1, aggregate 1) and hostile ones with damage:
 *   incomplete_consumers   allocations 10-14: hostile consumer ids, no
 *                          consumer (created by repair, never restored)
 *   orphaned_allocations   allocations 20-24 on provider 99 (gone) of
 *                          consumers 20-24, which then have none
 *   orphaned_inventories   inventories 30-32 on provider 98 (gone)
 *   orphaned_provider_links  provider 97 (gone) linked to hostile
 *                          aggregate 2 and trait 2
 *   dangling_consumer_refs consumer 40: project 55 and user 56 gone
 *   root_provider_ids      provider 3 (hostile uuid and name): NULL root
 *   orphaned_consumers     consumer 50: no allocations, created 2020
 *   unused_projects_users  projects 3-6 and users 3-5 (report)
 *   dangling_resource_classes  allocation 60: class 10001 (report)
 */
static const char SEED[] = HOSTILE_VARS
    "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');"
    "INSERT INTO consumer_types (id, name) VALUES (1, @q255);"
    "INSERT INTO resource_classes (id, name) VALUES (0, 'VCPU'),"
    " (1, 'MEMORY_MB'), (2, 'DISK_GB'), (10000, CONCAT('CUSTOM_', @drop));"
    "INSERT INTO projects (id, external_id) VALUES (1, 'proj-healthy'),"
    " (2, '00000000-0000-0000-0000-000000000000'), (3, @s255), (4, @drop),"
    " (5, @ctl), (6, @q255);"
    "INSERT INTO users (id, external_id) VALUES (1, 'user-healthy'),"
    " (2, '00000000-0000-0000-0000-000000000000'), (3, @q255), (4, @bs),"
    " (5, @uni);"
    "INSERT INTO traits (id, name) VALUES (1, 'HW_CPU_X86_AVX'),"
    " (2, @q255);"
    "INSERT INTO placement_aggregates (id, uuid) VALUES (1, 'agg-healthy'),"
    " (2, @id36);"
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id, parent_provider_id, created_at, updated_at) VALUES"
    " (1, 'rp-1', 'cn1', 4, 1, NULL, '2024-01-01 00:00:00', NULL),"
    " (2, 'rp-2', 'cn1-numa0', 2, 1, 1, NULL, NULL),"
    " (3, CONCAT(REPEAT(CHAR(92), 10), LEFT(@drop, 26)), @s200, 7, NULL,"
    " NULL, NULL, '2024-02-02 02:02:02');"
    /* healthy consumers and their allocations and inventories */
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " consumer_type_id, created_at) SELECT 999 + seq,"
    " CONCAT('healthy-', seq), 1, 1, seq, 1, '2020-01-01 00:00:00'"
    " FROM seq_1_to_5;"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used) SELECT 99 + seq, 1 + seq % 2,"
    " CONCAT('healthy-', 1 + seq % 5), seq % 3, seq FROM seq_1_to_10;"
    "INSERT INTO inventories (id, resource_provider_id, resource_class_id,"
    " total, reserved, min_unit, max_unit, step_size, allocation_ratio)"
    " VALUES (100, 1, 0, 64, 0, 1, 64, 1, 16), (101, 1, 1, 1024, 0, 1,"
    " 1024, 1, 1.5), (102, 2, 2, 10, 0, 1, 10, 1, 1);"
    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
    " aggregate_id) VALUES (1, 1), (97, 2);"
    "SET FOREIGN_KEY_CHECKS = 0;"
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id)"
    " VALUES (1, 1), (2, 97);"
    "SET FOREIGN_KEY_CHECKS = 1;"
    /* incomplete_consumers */
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used) VALUES (10, 1, @drop, 0, 1),"
    " (11, 1, @bs, 1, 2), (12, 1, @ctl, 0, 3), (13, 1, 'not-a-uuid', 2, 4),"
    " (14, 1, @id36, 0, 5);"
    /* orphaned_allocations */
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " consumer_type_id, created_at, updated_at) VALUES"
    " (20, CONCAT('oa', @drop), 1, 1, 3, 1, '2024-03-03 03:03:03', NULL),"
    " (21, CONCAT('oa', @bs), 1, 1, 9, NULL, NULL, NULL),"
    " (22, CONCAT('oa', @ctl), 1, 1, 0, NULL, NULL, '2024-01-01 00:00:00'),"
    " (23, CONCAT('oa', @uni), 1, 1, 1, NULL, NULL, NULL),"
    " (24, CONCAT(REPEAT('\xe2\x82\xac', 34), 'oa'), 1, 1, 2, NULL, NULL,"
    " NULL);"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used, created_at) SELECT id, 99, uuid, 0, id,"
    " created_at FROM consumers WHERE id BETWEEN 20 AND 24;"
    /* orphaned_inventories */
    "INSERT INTO inventories (id, resource_provider_id, resource_class_id,"
    " total, reserved, min_unit, max_unit, step_size, allocation_ratio)"
    " VALUES (30, 98, 0, 8, 0, 1, 8, 1, 0.3333333),"
    " (31, 98, 1, 512, 1, 1, 512, 2, 3.4e38),"
    " (32, 98, 10000, 1, 0, 1, 1, 1, 1.5e-44);"
    /* dangling_consumer_refs, dangling_resource_classes */
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " created_at) VALUES (40, CONCAT('dr', @drop), 55, 56, 5,"
    " '2020-01-01 00:00:00');"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used) VALUES (41, 1, CONCAT('dr', @drop), 0, 1),"
    " (60, 1, CONCAT('dr', @drop), 10001, 1);"
    /* orphaned_consumers */
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " created_at, updated_at) VALUES (50, CONCAT('oc', @ctl), 1, 1, 6,"
    " '2020-01-01 00:00:00', '2020-01-02 00:00:00');";

/* Rows no pass may touch, by table: (table, predicate, columns). */
static const char *const HEALTHY[][3] = {
	{ "resource_providers", "id IN (1, 2)",
	    "uuid, name, generation, root_provider_id, parent_provider_id,"
	    " created_at, updated_at" },
	{ "consumers", "id BETWEEN 1000 AND 1004",
	    "uuid, project_id, user_id, generation, consumer_type_id,"
	    " created_at, updated_at" },
	{ "allocations", "id >= 100",
	    "resource_provider_id, consumer_id, resource_class_id, used,"
	    " created_at, updated_at" },
	{ "inventories", "id >= 100",
	    "resource_provider_id, resource_class_id, total, reserved,"
	    " min_unit, max_unit, step_size, allocation_ratio" },
	{ "resource_provider_aggregates", "resource_provider_id = 1",
	    "resource_provider_id, aggregate_id, created_at, updated_at" },
	{ "resource_provider_traits", "resource_provider_id = 1",
	    "trait_id, resource_provider_id, created_at, updated_at" },
	{ "projects", "id IN (1, 2)", "external_id, created_at" },
	{ "users", "id IN (1, 2)", "external_id, created_at" },
	{ "resource_classes", "TRUE", "name" },
	{ "consumer_types", "TRUE", "name" },
};

/* Rows the repair deletes or changes and restore puts back. */
static const char *const RESTORED[][3] = {
	{ "resource_providers", "id = 3",
	    "uuid, name, generation, root_provider_id, parent_provider_id,"
	    " created_at, updated_at" },
	{ "consumers", "id < 100",
	    "uuid, project_id, user_id, generation, consumer_type_id,"
	    " created_at, updated_at" },
	{ "allocations", "id < 100",
	    "resource_provider_id, consumer_id, resource_class_id, used,"
	    " created_at, updated_at" },
	{ "inventories", "id < 100",
	    "resource_provider_id, resource_class_id, total, reserved,"
	    " min_unit, max_unit, step_size, allocation_ratio" },
	{ "resource_provider_aggregates", "resource_provider_id = 97",
	    "resource_provider_id, aggregate_id, created_at, updated_at" },
	{ "resource_provider_traits", "resource_provider_id = 97",
	    "trait_id, resource_provider_id, created_at, updated_at" },
	{ "projects", "id > 2", "external_id, created_at" },
	{ "users", "id > 2", "external_id, created_at" },
	{ "traits", "TRUE", "name" },
	{ "placement_aggregates", "TRUE", "uuid" },
};

#define N_HEALTHY (sizeof(HEALTHY) / sizeof(HEALTHY[0]))
#define N_RESTORED (sizeof(RESTORED) / sizeof(RESTORED[0]))

static const char PASSES_YAML[] =
    "passes:\n"
    "  incomplete_consumers:\n    mode: repair\n"
    "  orphaned_allocations:\n    mode: repair\n"
    "  orphaned_inventories:\n    mode: repair\n"
    "  orphaned_provider_links:\n    mode: repair\n"
    "  dangling_consumer_refs:\n    mode: repair\n"
    "  root_provider_ids:\n    mode: repair\n"
    "  orphaned_consumers:\n    mode: repair\n    min_age: 2m\n"
    "  unused_projects_users:\n    mode: report\n"
    "  dangling_resource_classes:\n    mode: report\n";

/*
 * Every row of table matching where, each column as HEX (N for NULL),
 * in primary key order, one row per line (caller frees). A column list
 * is a test constant; nothing here comes from the rows.
 */
static char *
hex_rows(const char *table, const char *where, const char *columns)
{
	char sql[2048], list[1024] = "";
	const char *p = columns;
	char *out;
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, ",");
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%sIFNULL(HEX(%.*s), 'N')", list[0] != '\0' ? ", " : "",
		    (int)n, p);
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	snprintf(sql, sizeof(sql),
	    "SET SESSION group_concat_max_len = 16777216;"
	    "SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(':', %s) ORDER BY %s"
	    " SEPARATOR '|'), '') FROM %s WHERE %s",
	    list,
	    strcmp(table, "resource_provider_aggregates") == 0
	        ? "resource_provider_id, aggregate_id"
	        : strcmp(table, "resource_provider_traits") == 0
	        ? "trait_id, resource_provider_id"
	        : "id",
	    table, where);
	out = h_query(DB, sql);
	return out;
}

/* hex_rows of every entry of set, to compare whole (caller frees). */
static char **
snapshot(const char *const (*set)[3], size_t n)
{
	char **snap = calloc(n, sizeof(*snap));
	size_t i;

	assert_non_null(snap);
	for (i = 0; i < n; i++)
		snap[i] = hex_rows(set[i][0], set[i][1], set[i][2]);
	return snap;
}

static void
assert_same(
    const char *const (*set)[3], size_t n, char **before, const char *when)
{
	char **now = snapshot(set, n);
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(before[i], now[i]) != 0)
			fail_msg(
			    "%s: %s WHERE %s changed\nbefore: %s\nnow:    %s",
			    when, set[i][0], set[i][1], before[i], now[i]);
	}
	for (i = 0; i < n; i++)
		free(now[i]);
	free(now);
}

static void
free_snapshot(char **snap, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(snap[i]);
	free(snap);
}

/* No run may log an error, or a raw control byte from the data. */
static void
assert_clean_log(const struct h_result *r, const char *what)
{
	const char *p;

	if (strstr(r->err, "level=error") != NULL ||
	    strstr(r->err, "\"level\":\"error\"") != NULL ||
	    strstr(r->out, "\"error\":\"") != NULL)
		fail_msg("%s reported an error:\n%s\n%s", what, r->err, r->out);
	for (p = r->err; *p != '\0'; p++) {
		if (*p == '\x01' || *p == '\x1f' || *p == '\x7f')
			fail_msg("%s: raw control byte 0x%02x in the log:\n%s",
			    what, (unsigned int)(unsigned char)*p, r->err);
	}
}

/* Valid UTF-8, as every log line must be. */
static bool
utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		n = (*s & 0xe0) == 0xc0   ? 2
		    : (*s & 0xf0) == 0xe0 ? 3
		    : (*s & 0xf8) == 0xf0 ? 4
		                          : 0;
		if (n == 0)
			return false;
		for (i = 1; i < n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
		}
		s += n;
	}
	return true;
}

static const char *const PASS_NAMES[] = { "incomplete_consumers",
	"orphaned_allocations", "orphaned_inventories",
	"orphaned_provider_links", "dangling_consumer_refs",
	"root_provider_ids", "orphaned_consumers", "unused_projects_users",
	"dangling_resource_classes" };
#define N_PASSES (sizeof(PASS_NAMES) / sizeof(PASS_NAMES[0]))

/* What check finds on the seed, pass by pass (see SEED). */
static const long long FOUND[N_PASSES] = { 5, 5, 3, 2, 1, 1, 1, 7, 1 };

static void
expect_found(const char *json, const long long *found, const char *what)
{
	size_t i;

	for (i = 0; i < N_PASSES; i++) {
		long long got = h_pass_field(PASS_NAMES[i], json, "found");

		if (got != found[i])
			fail_msg("%s: %s found %lld, expected %lld\n%s", what,
			    PASS_NAMES[i], got, found[i], json);
	}
}

static char *
run_id_of(const char *json)
{
	const char *p = strstr(json, "\"run_id\":\"");

	assert_non_null(p);
	return strndup(p + 10, 36);
}

/* check, repair with every pass, restore --run, check: exit codes as
 * documented, no error, healthy rows unchanged throughout, the repaired
 * rows back byte for byte, the consumers repair created as the ids. */
static void
hostile_rows_through_every_pass_and_restore(void **state)
{
	char *cfg = h_config(DB, PASSES_YAML);
	const char *check[] = { "-v", "check", NULL };
	const char *repair[] = { "-v", "--batch-size", "2", "repair", NULL };
	const char *restore[] = { "-v", "--batch-size", "2", "restore", "--run",
		NULL, NULL };
	long long found_after[N_PASSES];
	char **healthy, **hostile;
	struct h_result r;
	char *run, *made;
	size_t i;

	(void)state;
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql(DB, SEED);
	/* What the server stored is what was meant: the longest values. */
	assert_int_equal(h_query_int(DB,
	                     "SELECT CHAR_LENGTH(external_id) * 10000 +"
	                     " LENGTH(external_id) FROM projects WHERE id = 3"),
	    255 * 10000 + 764);
	assert_int_equal(h_query_int(DB,
	                     "SELECT LENGTH(consumer_id) FROM allocations"
	                     " WHERE id = 14"),
	    106);
	assert_int_equal(h_query_int(DB,
	                     "SELECT HEX(consumer_id) = '63011F7F090A64'"
	                     " FROM allocations WHERE id = 12"),
	    1);
	healthy = snapshot(HEALTHY, N_HEALTHY);
	hostile = snapshot(RESTORED, N_RESTORED);

	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check");
	assert_clean_log(&r, "check");
	if (!utf8_valid(r.err))
		fail_msg("log lines are not valid UTF-8:\n%s", r.err);
	expect_found(r.out, FOUND, "check");
	h_result_free(&r);

	r = h_run_json(cfg, repair);
	h_expect_exit(&r, 1, "repair (two passes report)");
	assert_clean_log(&r, "repair");
	expect_found(r.out, FOUND, "repair");
	for (i = 0; i < 7; i++) {
		if (h_pass_field(PASS_NAMES[i], r.out, "repaired") != FOUND[i])
			fail_msg("%s repaired %lld of %lld\n%s", PASS_NAMES[i],
			    h_pass_field(PASS_NAMES[i], r.out, "repaired"),
			    FOUND[i], r.out);
	}
	run = run_id_of(r.out);
	h_result_free(&r);
	assert_same(HEALTHY, N_HEALTHY, healthy, "after repair");
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM consumers WHERE id < 100"),
	    1);
	/* The consumers made for allocations 10-14 carry their ids exactly. */
	made = h_query(DB,
	    "SELECT COUNT(*) FROM allocations a JOIN consumers c"
	    " ON HEX(c.uuid) = HEX(a.consumer_id) WHERE a.id BETWEEN 10 AND 14"
	    " AND c.id > 1004 AND c.project_id = 2 AND c.user_id = 2");
	assert_string_equal(made, "5");
	free(made);

	restore[5] = run;
	r = h_run_json(cfg, restore);
	h_expect_exit(&r, 0, "restore");
	assert_clean_log(&r, "restore");
	h_result_free(&r);
	assert_same(HEALTHY, N_HEALTHY, healthy, "after restore");
	assert_same(RESTORED, N_RESTORED, hostile, "after restore");

	/* The damage is back, but for the consumers repair created. */
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check after restore");
	assert_clean_log(&r, "check after restore");
	memcpy(found_after, FOUND, sizeof(found_after));
	found_after[0] = 0;
	expect_found(r.out, found_after, "check after restore");
	h_result_free(&r);

	/* JSON log lines stay valid UTF-8 with every hostile value in them. */
	free(cfg);
	cfg = h_config(DB, "logging:\n  format: json\n");
	r = h_run_json(cfg, check);
	h_expect_exit(&r, 1, "check, JSON logs");
	assert_clean_log(&r, "check, JSON logs");
	assert_non_null(strstr(r.err, "DROP TABLE consumers; --"));
	if (!utf8_valid(r.err))
		fail_msg("JSON log lines are not valid UTF-8:\n%s", r.err);
	h_result_free(&r);

	free(run);
	free_snapshot(healthy, N_HEALTHY);
	free_snapshot(hostile, N_RESTORED);
	free(cfg);
}

static const char SQL_INSERT_PROJECT[] =
    "INSERT INTO projects (external_id) VALUES (?)";
static const char SQL_NOT_STRICT[] = "SET SESSION sql_mode = ''";

/* Invalid UTF-8 (and 4-byte UTF-8, beyond utf8mb3) in an external id:
 * refused by the server as Placement runs it (strict), stored as '?'
 * without STRICT; either way what a pass reads is valid text. */
static void
hostile_invalid_utf8_never_stored(void **state)
{
	static const char *const bad[] = { "bad\xc3(utf8", "bad\xff",
		"smile\xf0\x9f\x98\x80", "cut\xe2\x82" };
	struct pj_error err = { 0 };
	struct pj_db *db;
	size_t i;
	char *stored;

	(void)state;
	h_reset_db(DB_UTF8);
	db = h_connect(DB_UTF8);
	for (i = 0; i < 4; i++) {
		struct pj_param p = PJ_TEXT(bad[i]);

		assert_int_equal(
		    pj_db_exec(db, SQL_INSERT_PROJECT, &p, 1, NULL, &err),
		    PJ_EINVAL);
		pj_error_clear(&err);
	}
	assert_int_equal(
	    h_query_int(DB_UTF8, "SELECT COUNT(*) FROM projects"), 0);
	assert_int_equal(
	    pj_db_exec(db, SQL_NOT_STRICT, NULL, 0, NULL, &err), PJ_OK);
	for (i = 0; i < 4; i++) {
		struct pj_param p = PJ_TEXT(bad[i]);

		assert_int_equal(
		    pj_db_exec(db, SQL_INSERT_PROJECT, &p, 1, NULL, &err),
		    PJ_OK);
	}
	pj_db_close(db);
	stored = h_query(DB_UTF8,
	    "SELECT GROUP_CONCAT(HEX(external_id) ORDER BY id SEPARATOR ',')"
	    " FROM projects");
	/* bad?(utf8, bad?, smile?, cut?? */
	assert_string_equal(
	    stored, "6261643F2875746638,6261643F,736D696C653F,6375743F3F");
	free(stored);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostile_rows_through_every_pass_and_restore),
		cmocka_unit_test(hostile_invalid_utf8_never_stored),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
