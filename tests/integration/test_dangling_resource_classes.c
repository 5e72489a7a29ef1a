/* The dangling_resource_classes pass (report only) against the sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define DB "pj_it_dangling_resource_classes"
#define PASS "dangling_resource_classes"
#define FIXTURE "tests/integration/fixtures/dangling_resource_classes.sql"

/* Rows of the fixture holding a missing class: 4 allocations, 3
 * inventories. */
#define FIXTURE_ROWS 7

static const char NOT_SYNCED[] =
    "standard resource classes not synced (the "
    "Placement API syncs them when it starts)";

/* The fixture, plus n allocations of custom class 10005 (ids from 1000)
 * and n inventories of standard class 7 (providers 100 + k). */
static void
seed(int bulk)
{
	char sql[768];

	h_reset_db(DB);
	h_sql_file(DB, FIXTURE);
	if (bulk == 0)
		return; /* seq_1_to_0 counts down: two rows */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1000 + seq, 1, 'c1', 10005, 1"
	    " FROM seq_1_to_%d;"
	    "INSERT INTO inventories (id, resource_provider_id,"
	    " resource_class_id, total, reserved, min_unit, max_unit,"
	    " step_size, allocation_ratio) SELECT 1000 + seq, 100 + seq, 7,"
	    " 1, 0, 1, 1, 1, 1.0 FROM seq_1_to_%d;",
	    bulk, bulk);
	h_sql(DB, sql);
}

/* Occurrences of needle in haystack. */
static size_t
count_of(const char *haystack, const char *needle)
{
	size_t n = 0;
	const char *p;

	for (p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* -v names every row with its table, id, class and kind; the summary
 * names each missing class with its counts; healthy rows are not named. */
static void
dangling_resource_classes_reports_each_row(void **state)
{
	static const char *const present[] = {
		"table=allocations id=3 resource_class_id=5: standard class"
		" not synced",
		"table=allocations id=5 resource_class_id=10001: dangling"
		" custom class",
		"table=allocations id=6 resource_class_id=5: standard class"
		" not synced",
		"table=allocations id=7 resource_class_id=9999: standard class"
		" not synced",
		"table=inventories id=11 resource_class_id=5: standard class"
		" not synced",
		"table=inventories id=13 resource_class_id=10001: dangling"
		" custom class",
		"table=inventories id=14 resource_class_id=10002: dangling"
		" custom class",
		"resource_class_id=5 kind=standard allocations=2 inventories=1",
		"resource_class_id=9999 kind=standard allocations=1"
		" inventories=0",
		"resource_class_id=10001 kind=custom allocations=1"
		" inventories=1",
		"resource_class_id=10002 kind=custom allocations=0"
		" inventories=1",
	};
	static const char *const absent[] = {
		"table=allocations id=1 ",
		"table=allocations id=2 ",
		"table=allocations id=4 ",
		"table=inventories id=10 ",
		"table=inventories id=12 ",
		"resource_class_id=0 ",
		"resource_class_id=10000 ",
	};
	char *cfg = h_config(DB, NULL);
	const char *args[] = { "-v", "--pass", PASS, "check", NULL };
	struct h_result r;
	size_t i;

	(void)state;
	seed(0);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "check");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ROWS);
	assert_int_equal(h_pass_field(PASS, r.out, "remaining"), FIXTURE_ROWS);
	for (i = 0; i < sizeof(present) / sizeof(present[0]); i++) {
		if (strstr(r.err, present[i]) == NULL)
			fail_msg("no '%s' in:\n%s", present[i], r.err);
	}
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		if (strstr(r.err, absent[i]) != NULL)
			fail_msg("'%s' in:\n%s", absent[i], r.err);
	}
	/* The summary explains each kind once per class. */
	assert_int_equal(count_of(r.err, NOT_SYNCED), 2);
	assert_int_equal(count_of(r.err, "dangling custom resource class"), 2);
	h_result_free(&r);
	free(cfg);
}

/* check, repair (the pass has no repair) and --dry-run write nothing. */
static void
dangling_resource_classes_dry_run_changes_nothing(void **state)
{
	static const char *const commands[][4] = {
		{ "check", NULL },
		{ "repair", NULL },
		{ "--dry-run", "repair", NULL },
		{ "--batch-size", "2", "repair", NULL },
	};
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;
	size_t i;

	(void)state;
	seed(0);
	before = h_checksum(DB);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *args[8] = { "--pass", PASS };
		size_t n = 2, k;

		for (k = 0; commands[i][k] != NULL; k++)
			args[n++] = commands[i][k];
		args[n] = NULL;
		r = h_run_json(cfg, args);
		h_expect_exit(&r, 1, commands[i][0]);
		if (h_pass_field(PASS, r.out, "found") != FIXTURE_ROWS ||
		    h_pass_field(PASS, r.out, "repaired") != 0 ||
		    h_pass_field(PASS, r.out, "remaining") != FIXTURE_ROWS)
			fail_msg("%s: %s", commands[i][0], r.out);
		h_result_free(&r);
		after = h_checksum(DB);
		if (strcmp(before, after) != 0)
			fail_msg("%s changed the database", commands[i][0]);
		free(after);
	}
	free(before);
	free(cfg);
}

/* A report-only pass: a second run finds the same and changes nothing. */
static void
dangling_resource_classes_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *args[] = { "--pass", PASS, "repair", NULL };
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(0);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "first run");
	h_result_free(&r);
	before = h_checksum(DB);
	r = h_run_json(cfg, args);
	h_expect_exit(&r, 1, "second run");
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_ROWS);
	assert_int_equal(h_pass_field(PASS, r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* Small batches: each row once, allocations then inventories. */
static void
dangling_resource_classes_crosses_batches(void **state)
{
	static const struct {
		int bulk;
		const char *batch;
	} cases[] = {
		{ 0, "1" },
		{ 0, "4" }, /* the allocations fill exactly one batch */
		{ 40, "3" },
		{ 40, "500" },
	};
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "-v", "--pass", PASS, "--batch-size",
			cases[i].batch, "check", NULL };
		long long rows = FIXTURE_ROWS + 2 * cases[i].bulk;

		seed(cases[i].bulk);
		r = h_run_json(cfg, args);
		h_expect_exit(&r, 1, cases[i].batch);
		if (h_pass_field(PASS, r.out, "found") != rows ||
		    (long long)count_of(r.err, "event=found") != rows ||
		    (long long)count_of(r.err, "table=inventories id=1040 ") !=
		        (cases[i].bulk == 40) ||
		    count_of(r.err, "table=allocations id=7 ") != 1 ||
		    count_of(r.err, "table=inventories id=11 ") != 1)
			fail_msg("bulk %d, batch size %s: %s\n%s",
			    cases[i].bulk, cases[i].batch, r.out, r.err);
		h_result_free(&r);
	}
	free(cfg);
}

/* The config allows off and report only; off skips the pass. */
static void
dangling_resource_classes_modes(void **state)
{
	char *repair = h_config(DB, "passes:\n  " PASS ":\n    mode: repair\n");
	char *off = h_config(DB, "passes:\n  " PASS ":\n    mode: off\n");
	const char *args[] = { "check", NULL };
	struct h_result r;

	(void)state;
	seed(0);
	r = h_run_json(repair, args);
	h_expect_exit(&r, 78, "mode: repair");
	assert_non_null(strstr(r.err, "passes." PASS ".mode"));
	h_result_free(&r);
	r = h_run_json(off, args);
	assert_null(strstr(r.out, "\"name\":\"" PASS "\""));
	h_result_free(&r);
	free(repair);
	free(off);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dangling_resource_classes_reports_each_row),
		cmocka_unit_test(
		    dangling_resource_classes_dry_run_changes_nothing),
		cmocka_unit_test(
		    dangling_resource_classes_second_run_changes_nothing),
		cmocka_unit_test(dangling_resource_classes_crosses_batches),
		cmocka_unit_test(dangling_resource_classes_modes),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
