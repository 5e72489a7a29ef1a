/* The unused_projects_users pass (report only) against the sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/integration/harness.h"

#define DB "pj_it_unused_projects_users"
#define PASS "unused_projects_users"
#define FIXTURE "tests/integration/fixtures/unused_projects_users.sql"

/* Unused in the fixture, with either incomplete project and user. */
#define FIXTURE_UNUSED 5

/* The tests' own incomplete ids: rows 4 spell them differently. */
static const char OWN_SENTINELS[] =
    "placement:\n"
    "  incomplete_project_id: \"Incomplete-Proj\"\n"
    "  incomplete_user_id: \"INCOMPLETE-USER \"\n";

/* The fixture, plus n unused projects and n - 5 unused users (ids from
 * 1000) and n used ones of each (ids from 2000). */
static void
seed(int bulk)
{
	char sql[1024];

	h_reset_db(DB);
	h_sql_file(DB, FIXTURE);
	if (bulk == 0)
		return; /* seq_1_to_0 counts down: two rows */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO projects (id, external_id) SELECT 1000 + seq,"
	    " CONCAT('bulk-p-', seq) FROM seq_1_to_%d;"
	    "INSERT INTO users (id, external_id) SELECT 1000 + seq,"
	    " CONCAT('bulk-u-', seq) FROM seq_1_to_%d;"
	    "INSERT INTO projects (id, external_id) SELECT 2000 + seq,"
	    " CONCAT('used-p-', seq) FROM seq_1_to_%d;"
	    "INSERT INTO users (id, external_id) SELECT 2000 + seq,"
	    " CONCAT('used-u-', seq) FROM seq_1_to_%d;"
	    "INSERT INTO consumers (uuid, project_id, user_id)"
	    " SELECT CONCAT('bulk-c-', seq), 2000 + seq, 2000 + seq"
	    " FROM seq_1_to_%d;",
	    bulk, bulk - 5, bulk, bulk, bulk);
	h_sql(DB, sql);
}

static size_t
count_of(const char *haystack, const char *needle)
{
	size_t n = 0;
	const char *p;

	for (p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* -v names exactly the unused rows; the incomplete project and user (as
 * configured, compared in the column's collation) are never named. */
static void
unused_projects_users_reports_only_unused(void **state)
{
	static const struct {
		const char *yaml;
		const char *present[FIXTURE_UNUSED];
		const char *absent[2];
	} cases[] = {
		{ NULL,
		    { "table=projects id=2 external_id=\"proj-unused\"",
		        "table=projects id=4 external_id=\"incomplete-proj\"",
		        "table=projects id=6 external_id=\"PROJ-UNUSED-2\"",
		        "table=users id=2 external_id=\"user-unused\"",
		        "table=users id=4 external_id=\"incomplete-user\"" },
		    { "table=projects id=3 ", "table=users id=3 " } },
		{ OWN_SENTINELS,
		    { "table=projects id=2 external_id=\"proj-unused\"",
		        "table=projects id=3 external_id=\"00000000-0000-0000-"
		        "0000-000000000000\"",
		        "table=projects id=6 external_id=\"PROJ-UNUSED-2\"",
		        "table=users id=2 external_id=\"user-unused\"",
		        "table=users id=3 external_id=\"00000000-0000-0000-"
		        "0000-000000000000\"" },
		    { "table=projects id=4 ", "table=users id=4 " } },
	};
	const char *args[] = { "-v", "--pass", PASS, "check", NULL };
	struct h_result r;
	size_t i, k;

	(void)state;
	seed(0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *cfg = h_config(DB, cases[i].yaml);

		r = h_run_json(cfg, args);
		h_expect_exit(&r, 1, "check");
		if (h_pass_field(PASS, r.out, "found") != FIXTURE_UNUSED ||
		    count_of(r.err, "event=found") != FIXTURE_UNUSED)
			fail_msg("case %zu: %s\n%s", i, r.out, r.err);
		for (k = 0; k < FIXTURE_UNUSED; k++) {
			if (strstr(r.err, cases[i].present[k]) == NULL)
				fail_msg("case %zu: no '%s' in:\n%s", i,
				    cases[i].present[k], r.err);
		}
		for (k = 0; k < 2; k++) {
			if (strstr(r.err, cases[i].absent[k]) != NULL)
				fail_msg("case %zu: '%s' in:\n%s", i,
				    cases[i].absent[k], r.err);
		}
		h_result_free(&r);
		free(cfg);
	}
}

/* check, repair (the pass has no repair) and --dry-run write nothing. */
static void
unused_projects_users_dry_run_changes_nothing(void **state)
{
	static const char *const commands[][4] = {
		{ "check", NULL },
		{ "repair", NULL },
		{ "--dry-run", "repair", NULL },
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
		if (h_pass_field(PASS, r.out, "found") != FIXTURE_UNUSED ||
		    h_pass_field(PASS, r.out, "repaired") != 0)
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

static void
unused_projects_users_second_run_changes_nothing(void **state)
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
	assert_int_equal(h_pass_field(PASS, r.out, "found"), FIXTURE_UNUSED);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* Small batches: each row once, projects then users. */
static void
unused_projects_users_crosses_batches(void **state)
{
	static const struct {
		int bulk;
		const char *batch;
	} cases[] = {
		{ 0, "1" },
		{ 0, "3" }, /* the projects fill exactly one batch */
		{ 30, "4" },
		{ 30, "500" },
	};
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[] = { "-v", "--pass", PASS, "--batch-size",
			cases[i].batch, "check", NULL };
		long long rows = FIXTURE_UNUSED +
		    (cases[i].bulk > 0 ? 2 * cases[i].bulk - 5 : 0);

		seed(cases[i].bulk);
		r = h_run_json(cfg, args);
		h_expect_exit(&r, 1, cases[i].batch);
		if (h_pass_field(PASS, r.out, "found") != rows ||
		    (long long)count_of(r.err, "event=found") != rows ||
		    count_of(r.err, "table=users id=2 ") != 1 ||
		    count_of(r.err, "table=projects id=6 ") != 1 ||
		    count_of(r.err, "used-") != 0)
			fail_msg("bulk %d, batch size %s: %s\n%s",
			    cases[i].bulk, cases[i].batch, r.out, r.err);
		h_result_free(&r);
	}
	free(cfg);
}

/* The config allows off and report only; off skips the pass. With
 * logging.redact_uuids the external ids are shortened. */
static void
unused_projects_users_modes(void **state)
{
	char *repair = h_config(DB, "passes:\n  " PASS ":\n    mode: repair\n");
	char *off = h_config(DB, "passes:\n  " PASS ":\n    mode: off\n");
	char *redact = h_config(DB, "logging:\n  redact_uuids: true\n");
	const char *check[] = { "check", NULL };
	const char *verbose[] = { "-v", "--pass", PASS, "check", NULL };
	struct h_result r;

	(void)state;
	seed(0);
	r = h_run_json(repair, check);
	h_expect_exit(&r, 78, "mode: repair");
	assert_non_null(strstr(r.err, "passes." PASS ".mode"));
	h_result_free(&r);
	r = h_run_json(off, check);
	assert_null(strstr(r.out, "\"name\":\"" PASS "\""));
	h_result_free(&r);
	r = h_run_json(redact, verbose);
	h_expect_exit(&r, 1, "redacted");
	if (strstr(r.err, "id=2 external_id=\"proj-unu\":") == NULL ||
	    strstr(r.err, "proj-unused") != NULL)
		fail_msg("not redacted: %s", r.err);
	h_result_free(&r);
	free(repair);
	free(off);
	free(redact);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unused_projects_users_reports_only_unused),
		cmocka_unit_test(unused_projects_users_dry_run_changes_nothing),
		cmocka_unit_test(
		    unused_projects_users_second_run_changes_nothing),
		cmocka_unit_test(unused_projects_users_crosses_batches),
		cmocka_unit_test(unused_projects_users_modes),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
