/* The dangling_consumer_refs pass against the sandbox MariaDB. */
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

#define DB "pj_it_dangling_refs"
#define SENTINEL "00000000-0000-0000-0000-000000000000"
#define FIXTURE "tests/integration/fixtures/dangling_consumer_refs.sql"

/* fixtures/dangling_consumer_refs.sql: each consumer's project and user
 * after repair ("S" for the incomplete sentinel), and whether it was
 * damaged. */
static const struct {
	long long id;
	const char *project, *user;
	bool damaged;
} mixed[] = {
	{ 1, "1", "1", false },
	{ 2, "2", "2", false },
	{ 3, "S", "1", true },
	{ 4, "1", "S", true },
	{ 5, "S", "S", true },
	{ 6, "50", "60", false },
	{ 7, "S", "S", true },
	{ 8, "2", "60", false },
	{ 9, "S", "2", true },
};
#define MIXED_DAMAGED 5

/* A consumer as seen by the tests: the sentinel ids shown as "S". */
#define SHOWN \
	"IF(c.project_id <=> (SELECT id FROM projects WHERE external_id = '" SENTINEL \
	"'), 'S', c.project_id), ' '," \
	" IF(c.user_id <=> (SELECT id FROM users WHERE external_id = '" SENTINEL \
	"'), 'S', c.user_id)"

#define ALLOCATIONS_SUM \
	"SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS(',', id," \
	" resource_provider_id, consumer_id, resource_class_id, used))))" \
	" FROM allocations"

/* Runs the pass alone, with a JSON report, and up to four more words. */
static struct h_result
janitor(const char *config, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	const char *argv[] = { "--config", config, "--format", "json", "--pass",
		"dangling_consumer_refs", a1, a2, a3, a4, NULL };

	return h_run(argv, NULL);
}

static void
seed(const char *extra_sql)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	h_sql_file(DB, FIXTURE);
	if (extra_sql != NULL)
		h_sql(DB, extra_sql);
	/* The rows as seeded, to check the archive against. */
	h_sql(DB,
	    "CREATE TABLE c_before (PRIMARY KEY (id)) AS SELECT * FROM consumers");
}

static long long
sentinel_count(void)
{
	return h_query_int(DB,
	           "SELECT COUNT(*) FROM projects WHERE external_id = '" SENTINEL
	           "'") *
	    100 +
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM users WHERE external_id = '" SENTINEL
	        "'");
}

/* Each archived row is a damaged consumer's whole old row, once, as an
 * update by this pass; nothing else is archived. */
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
	        " JOIN c_before b ON b.id = CAST(a.row_key AS UNSIGNED)"
	        " AND CAST(b.id AS CHAR) = a.row_key"
	        " WHERE a.pass = 'dangling_consumer_refs'"
	        " AND a.table_name = 'consumers'"
	        " AND a.action = 'update' AND a.restored_at IS NULL"
	        " AND JSON_EQUALS(a.row_data, JSON_OBJECT('id', b.id,"
	        " 'uuid', b.uuid, 'project_id', b.project_id,"
	        " 'user_id', b.user_id, 'generation', b.generation,"
	        " 'consumer_type_id', b.consumer_type_id,"
	        " 'created_at', b.created_at, 'updated_at', b.updated_at))"),
	    want_rows);
}

/* After repair of the fixture: references as `mixed` says; damaged rows
 * archived and touched (updated_at) but not their generation; healthy rows
 * exactly as seeded. */
static void
check_mixed_repaired(const char *batch)
{
	char sql[1024], want[64];
	char *got;
	size_t i;

	for (i = 0; i < sizeof(mixed) / sizeof(mixed[0]); i++) {
		snprintf(sql, sizeof(sql),
		    "SELECT CONCAT(" SHOWN
		    ", ' ', c.generation = b.generation,"
		    " ' ', c.uuid = b.uuid, ' ', c.updated_at = b.updated_at,"
		    " ' ', IFNULL(c.updated_at >= UTC_TIMESTAMP()"
		    " - INTERVAL 1 HOUR, 0), ' ', (SELECT COUNT(*)"
		    " FROM placement_janitor_archive WHERE row_key = '%lld'))"
		    " FROM consumers c JOIN c_before b ON b.id = c.id"
		    " WHERE c.id = %lld",
		    mixed[i].id, mixed[i].id);
		got = h_query(DB, sql);
		snprintf(want, sizeof(want), "%s %s 1 1 %s", mixed[i].project,
		    mixed[i].user, mixed[i].damaged ? "0 1 1" : "1 0 0");
		if (strcmp(got, want) != 0)
			fail_msg(
			    "batch %s consumer %lld: got \"%s\", want"
			    " \"%s\" (project, user, same generation, same"
			    " uuid, same updated_at, updated now, archived)",
			    batch, mixed[i].id, got, want);
		free(got);
	}
	check_archive(MIXED_DAMAGED);
}

static void
dangling_consumer_refs_repairs_only_damage(void **state)
{
	static const char *const batches[] = { "1", "2", "500" };
	char *cfg = h_config(DB, NULL);
	char *alloc_before, *alloc_after;
	struct h_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		seed(NULL);
		alloc_before = h_query(DB, ALLOCATIONS_SUM);
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
		alloc_after = h_query(DB, ALLOCATIONS_SUM);
		assert_string_equal(alloc_before, alloc_after);
		free(alloc_before);
		free(alloc_after);
		assert_int_equal(sentinel_count(), 101);
	}
	free(cfg);
}

static void
dangling_consumer_refs_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(NULL);
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
	assert_int_equal(sentinel_count(), 0);
	free(before);
	free(after);
	free(cfg);
}

static void
dangling_consumer_refs_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(NULL);
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
 * The sentinel project and user are made once over many batches, or
 * reused when present. A missing id that the new sentinel itself takes
 * (the next AUTO_INCREMENT value) leaves that consumer healthy, pointing
 * at the sentinel, without an error.
 */
static void
dangling_consumer_refs_sentinels_created_once(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	seed(
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('gen-', seq), 1000 + seq, 1, seq"
	    " FROM seq_1_to_40;");
	r = janitor(cfg, "--batch-size", "3", "repair", NULL);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "repaired"), MIXED_DAMAGED + 40);
	h_result_free(&r);
	assert_int_equal(sentinel_count(), 101);
	check_archive(MIXED_DAMAGED + 40);

	/* Present beforehand (made by Placement): reused, not duplicated. */
	seed(
	    "INSERT INTO projects (id, external_id) VALUES (77, '" SENTINEL
	    "');"
	    "INSERT INTO users (id, external_id) VALUES (88, '" SENTINEL "');");
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(sentinel_count(), 101);
	check_mixed_repaired("500, sentinels present");
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers WHERE"
	                     " project_id = 77 AND user_id = 88"),
	    2);

	/* Consumer 10 names project 51 and user 61: the ids the sentinels
	 * are about to get. */
	seed(
	    "INSERT INTO consumers (id, uuid, project_id, user_id,"
	    " generation, created_at, updated_at)"
	    " VALUES (10, 'c-10', 51, 61, 5, '2000-01-01', '2000-01-02');");
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), MIXED_DAMAGED + 1);
	assert_int_equal(h_json_field(r.out, "repaired"), MIXED_DAMAGED);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers c WHERE c.id = 10"
	                     " AND CONCAT(" SHOWN ") = 'S S'"
	                     " AND c.updated_at = '2000-01-02'"),
	    1);
	check_archive(MIXED_DAMAGED);
	free(cfg);
}

/* With the archive turned off the repair is the same, archiving nothing. */
static void
dangling_consumer_refs_archive_off(void **state)
{
	char *cfg = h_config(DB, "archive:\n  enabled: false\n");
	struct h_result r;

	(void)state;
	seed(NULL);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "repaired"), MIXED_DAMAGED);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    0);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers c"
	                     " LEFT JOIN projects p ON p.id = c.project_id"
	                     " LEFT JOIN users u ON u.id = c.user_id"
	                     " WHERE p.id IS NULL OR u.id IS NULL"),
	    0);
	free(cfg);
}

/* -v names each damaged consumer and which reference is missing. */
static void
dangling_consumer_refs_verbose(void **state)
{
	static const char *const lines[] = {
		"consumer=\"c-03\" project_id=5 missing",
		"consumer=\"c-04\" user_id=7 missing",
		"consumer=\"c-05\" project_id=8 user_id=9 missing",
		"consumer=\"c-07\" project_id=60 user_id=50 missing",
		"consumer=\"c-09\" project_id=3 missing",
	};
	const char *argv[] = { "--config", NULL, "-v", "--pass",
		"dangling_consumer_refs", "check", NULL };
	char *cfg = h_config(DB, NULL);
	struct h_result r;
	size_t i;

	(void)state;
	seed(NULL);
	argv[1] = cfg;
	r = h_run(argv, NULL);
	assert_int_equal(r.exit_code, 1);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (strstr(r.err, lines[i]) == NULL)
			fail_msg("-v lacks \"%s\": %s", lines[i], r.err);
	}
	assert_null(strstr(r.err, "consumer=\"c-01\""));
	h_result_free(&r);
	free(cfg);
}

/*
 * A Placement allocation write bumps consumer 3's generation and holds the
 * row while the pass runs. The pass waits for it, reads the new generation
 * under lock, archives that row and repairs it without losing the bump.
 */
static void
dangling_consumer_refs_generation_bumped_meanwhile(void **state)
{
	/* A slow Placement write on consumers 3 and 1, committed later. */
	static const char *const sql[] = {
		"UPDATE consumers SET generation = generation + 1,"
		" updated_at = '2000-01-03' WHERE id = 3",
		"UPDATE consumers SET generation = generation + 1,"
		" updated_at = '2000-01-03' WHERE id = 1",
		NULL,
	};
	char *cfg =
	    h_config(DB, "worker:\n  retries: 8\n  retry_backoff: 200ms\n");
	struct h_result r;
	pid_t holder;

	(void)state;
	seed(NULL);
	holder = h_hold(DB, sql, NULL, 0, 1500, true);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	h_reap(holder);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	/* The lock, not the generation guard, kept it right. */
	assert_int_equal(h_json_field(r.out, "conflicts"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), MIXED_DAMAGED);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB,
	        "SELECT COUNT(*) FROM consumers c WHERE c.id = 3"
	        " AND c.generation = 14 AND CONCAT(" SHOWN ") = 'S 1'"),
	    1);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM placement_janitor_archive"
	                     " WHERE row_key = '3' AND JSON_VALUE(row_data,"
	                     " '$.generation') = 14 AND JSON_VALUE(row_data,"
	                     " '$.updated_at') = '2000-01-03 00:00:00'"),
	    1);
	assert_int_equal(
	    h_query_int(DB, "SELECT generation FROM consumers WHERE id = 1"),
	    12);
	free(cfg);
}

/*
 * One batch by hand, as the engine runs it. After the find, consumer 4 is
 * repaired by someone else, 5's generation moves (still dangling) and 7 is
 * deleted: the batch repoints 3, 5 and 9 only, archives each as it was
 * under the lock (5 at its new generation), and until COMMIT no one can
 * change a batch consumer nor create the project 9 named, while the
 * healthy consumer 2 stays free for Placement.
 */
static void
dangling_consumer_refs_batch_locks_and_rechecks(void **state)
{
	static const char SQL_TOUCH[] =
	    "UPDATE consumers SET generation = generation + 1 WHERE id = ?";
	static const char SQL_PROJECT_3[] =
	    "INSERT INTO projects (id, external_id) VALUES (3, 'late')";
	const struct pj_pass *pass = &pj_pass_dangling_consumer_refs;
	struct pj_key keys[16];
	struct pj_batch b = { keys, 0, 16 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx = {
		.cfg = &cfg, .run_id = "lock-test", .archive = true
	};
	struct pj_param id;
	struct pj_db *other;
	size_t repaired = 0;
	int rc, probe[3] = { -1, -1, -1 };

	(void)state;
	seed(NULL);
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	ctx.db = h_connect(DB);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, MIXED_DAMAGED);
	h_sql(DB,
	    "UPDATE consumers SET user_id = 1 WHERE id = 4;"
	    "UPDATE consumers SET generation = 1 WHERE id = 5;"
	    "DELETE FROM consumers WHERE id = 7;");

	/* Checked once both sessions are closed: a failure must not leave
	 * the batch's locks to stall the tests after it. */
	other = h_connect_waiting(DB, 1000);
	rc = pj_db_begin(ctx.db, &err);
	if (rc == PJ_OK)
		rc = pass->repair_batch(&ctx, &b, &repaired, &err);
	if (rc == PJ_OK) {
		id = PJ_INT(9);
		probe[0] = h_try_exec(other, SQL_TOUCH, &id, 1);
		probe[1] = h_try_exec(other, SQL_PROJECT_3, NULL, 0);
		id = PJ_INT(2);
		probe[2] = h_try_exec(other, SQL_TOUCH, &id, 1);
		rc = pj_db_commit(ctx.db, &err);
	}
	pj_db_close(other);
	pj_db_close(ctx.db);
	if (rc != PJ_OK || repaired != 3)
		fail_msg("status %d, repaired %zu: %s", rc, repaired, err.msg);
	/* Consumer 9 and project 3 locked, consumer 2 free. */
	assert_int_equal(probe[0], PJ_ERETRY);
	assert_int_equal(probe[1], PJ_ERETRY);
	assert_int_equal(probe[2], PJ_OK);

	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(c.id, ' ', " SHOWN
	    ", ' ', c.generation"
	    " ORDER BY c.id SEPARATOR ', ') FROM consumers c WHERE c.id > 2",
	    "3 S 1 13, 4 1 1 14, 5 S S 1, 6 50 60 16, 8 2 60 18, 9 S 2 19",
	    "consumers after the batch");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(row_key, ':', JSON_VALUE(row_data,"
	    " '$.generation'), ':', JSON_VALUE(row_data, '$.project_id')"
	    " ORDER BY row_key) FROM placement_janitor_archive",
	    "3:13:5,5:1:8,9:19:3", "archived rows");
}

/* A pass in report mode finds but never repairs. */
static void
dangling_consumer_refs_report_mode(void **state)
{
	char *cfg = h_config(
	    DB, "passes:\n  dangling_consumer_refs:\n    mode: report\n");
	char *before, *after;
	struct h_result r;

	(void)state;
	seed(NULL);
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

/* --pass dangling_consumer_refs runs this pass and no other. */
static void
dangling_consumer_refs_pass_alone(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	/* Damage for incomplete_consumers, which must stay. */
	seed(
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'no-such-consumer', 0, 1);");
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out,
	    "\"passes\":[{\"name\":"
	    "\"dangling_consumer_refs\""));
	assert_null(strstr(r.out, "incomplete_consumers"));
	h_result_free(&r);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM consumers"
	                     " WHERE uuid = 'no-such-consumer'"),
	    0);
	free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dangling_consumer_refs_repairs_only_damage),
		cmocka_unit_test(
		    dangling_consumer_refs_dry_run_changes_nothing),
		cmocka_unit_test(
		    dangling_consumer_refs_second_run_changes_nothing),
		cmocka_unit_test(dangling_consumer_refs_sentinels_created_once),
		cmocka_unit_test(dangling_consumer_refs_archive_off),
		cmocka_unit_test(dangling_consumer_refs_verbose),
		cmocka_unit_test(
		    dangling_consumer_refs_generation_bumped_meanwhile),
		cmocka_unit_test(
		    dangling_consumer_refs_batch_locks_and_rechecks),
		cmocka_unit_test(dangling_consumer_refs_report_mode),
		cmocka_unit_test(dangling_consumer_refs_pass_alone),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
