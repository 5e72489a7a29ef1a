/* archive list, archive purge, and the GRANTs restore and purge need. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"
#include "worker/archive.h"

#define DB "pj_it_archive_cmd"
#define RUN_A "0a0a0a0a-1111-4222-8333-944445555666"
#define RUN_B "0b0b0b0b-1111-4222-8333-944445555666"
#define USER "pj_restore_least"
#define PASSWORD "Marker-pw-archive-5d2e"

static struct h_result
janitor(const char *config, const char *const *args)
{
	const char *argv[24] = { "--config", config };
	size_t n = 2;

	while (*args != NULL && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	return h_run(argv, NULL);
}

static long long
field(const char *json, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(json, key);
	return p != NULL ? atoll(p + strlen(key)) : -1;
}

static void
fresh(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
}

#define ROW(run, pass, table, action, at, restored) \
	"('" run "', '" pass "', '" table "', '1', '" action "', '{}', " at \
	", " restored ")"

/* Two runs, a month apart; run A has three groups, one row restored. */
static const char TWO_RUNS[] =
    "INSERT INTO placement_janitor_archive (run_id, pass, table_name,"
    " row_key, action, row_data, archived_at, restored_at) VALUES " ROW(RUN_B,
        "root_provider_ids", "resource_providers", "update",
        "'2026-02-01 00:00:00'", "NULL") ", " ROW(RUN_A, "orphaned_allocations",
        "allocations", "delete", "'2026-01-01 10:00:00'",
        "NULL") ", " ROW(RUN_A, "orphaned_allocations", "allocations", "delete",
        "'2026-01-01 10:00:01.5'", "'2026-01-03 00:00:00'") ", " ROW(RUN_A,
        "orphaned_allocations", "allocations", "delete",
        "'2026-01-01 10:00:02'", "NULL") ", " ROW(RUN_A, "orphaned_allocations",
        "consumers", "delete", "'2026-01-01 10:00:05'",
        "NULL") ", " ROW(RUN_A, "dangling_consumer_refs", "consumers", "update",
        "'2026-01-01 10:00:00'", "NULL") ", " ROW(RUN_B, "root_provider_ids",
        "resource_providers", "update", "'2026-02-01 00:00:09'", "NULL") ";";

static void
archive_list_shows_runs(void **state)
{
	char *cfg = h_config(DB, NULL);
	const char *p;
	struct h_result r;
	int runs = 0;

	(void)state;
	fresh();
	h_sql(DB, TWO_RUNS);
	r = janitor(cfg, (const char *const[]){ "archive", "list", NULL });
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	/* Oldest run first, its span and totals, then one line a group. */
	p = strstr(r.out,
	    "run " RUN_A
	    "  2026-01-01T10:00:00Z .. 2026-01-01T10:00:05Z"
	    "  rows 5  restored 1\n");
	assert_non_null(p);
	assert_non_null(strstr(p, "dangling_consumer_refs"));
	assert_non_null(strstr(r.out,
	    "  orphaned_allocations        allocations                   "
	    "delete          3          1\n"));
	assert_non_null(
	    strstr(p,
	        "run " RUN_B "  2026-02-01T00:00:00Z .. 2026-02-01T00:00:09Z"
	        "  rows 2  restored 0\n"));
	h_result_free(&r);

	r = janitor(cfg,
	    (const char *const[]){
	        "--format", "json", "archive", "list", "--run", RUN_B, NULL });
	assert_int_equal(r.exit_code, 0);
	assert_null(strstr(r.out, RUN_A));
	assert_non_null(
	    strstr(r.out,
	        "\"runs\":[{\"run_id\":\"" RUN_B "\","
	        "\"first_archived_at\":\"2026-02-01T00:00:00Z\","
	        "\"last_archived_at\":\"2026-02-01T00:00:09Z\",\"rows\":2,"
	        "\"restored\":0,\"groups\":[{\"pass\":\"root_provider_ids\","
	        "\"table\":\"resource_providers\",\"action\":\"update\","
	        "\"rows\":2,\"restored\":0,"));
	assert_non_null(strstr(r.out, "}]}]}\n"));
	h_result_free(&r);

	/* JSON with both runs: two run objects, four groups. */
	r = janitor(cfg,
	    (const char *const[]){
	        "--format", "json", "archive", "list", NULL });
	assert_int_equal(r.exit_code, 0);
	p = strstr(r.out, RUN_A);
	assert_non_null(p);
	assert_non_null(strstr(p, RUN_B));
	assert_int_equal(field(r.out, "schema_version"), 1);
	for (p = r.out; (p = strstr(p, "\"groups\"")) != NULL; p++)
		runs++;
	assert_int_equal(runs, 2);
	h_result_free(&r);
	free(cfg);
}

static void
archive_list_empty(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	fresh();
	r = janitor(cfg, (const char *const[]){ "archive", "list", NULL });
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "the archive is empty\n");
	h_result_free(&r);
	r = janitor(cfg,
	    (const char *const[]){
	        "--format", "json", "archive", "list", "--run", RUN_A, NULL });
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "\"runs\":[]}"));
	h_result_free(&r);
	free(cfg);
}

/*
 * 30 rows archived 100 days ago, 5 ten days ago, 5 now, with ids that do
 * not follow time (an old row between new ones, new ones first): purge
 * of 90d, in batches of 7, deletes exactly the 30.
 */
static void
seed_ages(void)
{
	fresh();
	h_sql(DB,
	    "INSERT INTO placement_janitor_archive (id, run_id, pass,"
	    " table_name, row_key, action, row_data, archived_at)"
	    " SELECT seq, '" RUN_B
	    "', 'p', 'allocations', seq, 'delete', '{}',"
	    " UTC_TIMESTAMP(6) FROM seq_1_to_5;"
	    "INSERT INTO placement_janitor_archive (id, run_id, pass,"
	    " table_name, row_key, action, row_data, archived_at)"
	    " SELECT 100 + seq, '" RUN_A
	    "', 'p', 'allocations', seq, 'delete',"
	    " '{}', UTC_TIMESTAMP(6) - INTERVAL 100 DAY FROM seq_1_to_29;"
	    "INSERT INTO placement_janitor_archive (id, run_id, pass,"
	    " table_name, row_key, action, row_data, archived_at) VALUES"
	    " (3000, '" RUN_A
	    "', 'p', 'consumers', '1', 'delete', '{}',"
	    " UTC_TIMESTAMP(6) - INTERVAL 91 DAY);"
	    "INSERT INTO placement_janitor_archive (id, run_id, pass,"
	    " table_name, row_key, action, row_data, archived_at)"
	    " SELECT 4000 + seq, '" RUN_B
	    "', 'p', 'consumers', seq, 'delete',"
	    " '{}', UTC_TIMESTAMP(6) - INTERVAL 10 DAY FROM seq_1_to_5;");
}

static void
archive_purge_deletes_only_old_rows(void **state)
{
	const char *dry[] = { "--format", "json", "--dry-run", "archive",
		"purge", "--older-than", "90d", NULL };
	const char *purge[] = { "--format", "json", "--batch-size", "7",
		"archive", "purge", "--older-than", "90d", NULL };
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_ages();
	before = h_checksum(DB);
	r = janitor(cfg, dry);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(field(r.out, "purged"), 30);
	assert_non_null(strstr(r.out, "\"dry_run\":true"));
	assert_non_null(strstr(r.out, "\"older_than\":\"90d\""));
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);

	r = janitor(cfg, purge);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(field(r.out, "purged"), 30);
	assert_int_equal(field(r.out, "batches"), 5);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    10);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM placement_janitor_archive"
	                     " WHERE archived_at < UTC_TIMESTAMP()"
	                     " - INTERVAL 90 DAY"),
	    0);
	/* Again: nothing old is left. */
	r = janitor(cfg, purge);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(field(r.out, "purged"), 0);
	h_result_free(&r);
	/* The table format says what it did. */
	r = janitor(cfg,
	    (const char *const[]){
	        "archive", "purge", "--older-than", "9d", NULL });
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out,
	    "archive purge: 5 rows archived more"
	    " than 9d ago"));
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    5);
	free(before);
	free(after);
	free(cfg);
}

/* Purge holds the run lock like repair: exit 3 while another run has it;
 * list and a dry run do not need it. */
static void
archive_purge_takes_the_run_lock(void **state)
{
	const char *purge[] = { "archive", "purge", "--older-than", "90d",
		NULL };
	const char *dry[] = { "--dry-run", "archive", "purge", "--older-than",
		"90d", NULL };
	char *cfg = h_config(DB, NULL);
	struct pj_error err = { 0 };
	struct pj_db *holder;
	struct h_result r;

	(void)state;
	seed_ages();
	holder = h_connect(DB);
	assert_int_equal(
	    pj_db_exec(holder, "SELECT GET_LOCK('placement_janitor', 0)", NULL,
	        0, NULL, &err),
	    PJ_OK);
	r = janitor(cfg, purge);
	assert_int_equal(r.exit_code, 3);
	h_result_free(&r);
	r = janitor(cfg, dry);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	r = janitor(cfg, (const char *const[]){ "archive", "list", NULL });
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    40);
	pj_db_close(holder);
	r = janitor(cfg, purge);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    10);
	free(cfg);
}

/* No archive table: list and purge say what to run, exit 65. */
static void
archive_commands_need_the_table(void **state)
{
	char *cfg = h_config(DB, NULL);
	struct h_result r;

	(void)state;
	h_reset_db(DB);
	r = janitor(cfg, (const char *const[]){ "archive", "list", NULL });
	assert_int_equal(r.exit_code, 65);
	assert_non_null(strstr(r.err, "sql/archive.sql"));
	h_result_free(&r);
	r = janitor(cfg,
	    (const char *const[]){
	        "archive", "purge", "--older-than", "1d", NULL });
	assert_int_equal(r.exit_code, 65);
	h_result_free(&r);
	free(cfg);
}

static char config_path[256];
static char password_path[256];

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

/* A config for the least-privilege account, password from a file. */
static void
write_configs(void)
{
	char text[1024];

	snprintf(password_path, sizeof(password_path),
	    "/tmp/pj-restore-least-%ld.pw", (long)getpid());
	snprintf(config_path, sizeof(config_path),
	    "/tmp/pj-restore-least-%ld.yaml", (long)getpid());
	write_file(password_path, PASSWORD "\n");
	snprintf(text, sizeof(text),
	    "database:\n  socket: \"%s\"\n  name: %s\n  user: %s\n"
	    "  password_file: \"%s\"\n",
	    getenv("PJ_TEST_SOCKET"), DB, USER, password_path);
	write_file(config_path, text);
}

/* The account made from `grants`, cut at its restore block or not. */
static void
grant(bool with_restore_block)
{
	struct h_result r;
	char *cut;

	r = janitor(config_path, (const char *const[]){ "grants", NULL });
	assert_int_equal(r.exit_code, 0);
	cut = strstr(r.out, "-- For restore and archive purge");
	assert_non_null(cut);
	if (!with_restore_block)
		*cut = '\0';
	h_sql(DB,
	    "DROP USER IF EXISTS '" USER
	    "'@'%';"
	    "CREATE USER '" USER "'@'%' IDENTIFIED BY '" PASSWORD "';");
	h_sql(DB, r.out);
	h_result_free(&r);
}

/* A deleted allocation and consumer, archived as a pass does. */
static const char REPAIRED[] =
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation)"
    " VALUES (1, 'c-1', 1, 1, 3), (2, 'c-2', 1, 1, 5);"
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used) VALUES (1, 9, 'c-1', 0, 1),"
    " (2, 9, 'c-2', 0, 1), (3, 1, 'c-2', 1, 1);"
    "INSERT INTO resource_providers (id, uuid, name, generation,"
    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, NULL);"
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS " SELECT '" RUN_A
    "', 'orphaned_allocations', 'allocations', a.id,"
    " 'delete', " PJ_ARCHIVE_ALLOCATION
    ", UTC_TIMESTAMP(6)"
    " FROM allocations a WHERE a.resource_provider_id = 9;"
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS " SELECT '" RUN_A
    "', 'orphaned_allocations', 'consumers', c.id,"
    " 'delete', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6)"
    " FROM consumers c WHERE c.id = 1;"
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS " SELECT '" RUN_A
    "', 'root_provider_ids', 'resource_providers', rp.id,"
    " 'update', " PJ_ARCHIVE_PROVIDER
    ", UTC_TIMESTAMP(6)"
    " FROM resource_providers rp WHERE rp.id = 1;"
    "DELETE FROM allocations WHERE resource_provider_id = 9;"
    "DELETE FROM consumers WHERE id = 1;"
    "UPDATE consumers SET generation = 6 WHERE id = 2;"
    "UPDATE resource_providers SET root_provider_id = 1 WHERE id = 1;"
    "UPDATE placement_janitor_archive SET archived_at = archived_at"
    " - INTERVAL 200 DAY WHERE table_name = 'consumers';";

static void
assert_no_marker(const struct h_result *r)
{
	if (strstr(r->out, PASSWORD) != NULL ||
	    strstr(r->err, PASSWORD) != NULL)
		fail_msg("the password appears in the output");
}

/* With exactly the printed GRANTs the account restores (every table it
 * writes: inserts, updates, generation bumps, archive marks) and purges. */
static void
least_privilege_restore_and_purge(void **state)
{
	struct h_result r;

	(void)state;
	fresh();
	h_sql(DB, REPAIRED);
	grant(true);
	r = janitor(config_path,
	    (const char *const[]){ "restore", "--run", RUN_A, NULL });
	if (r.exit_code != 0)
		fail_msg("exit %d: %s\n%s", r.exit_code, r.err, r.out);
	assert_no_marker(&r);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM allocations"), 3);
	assert_int_equal(h_query_int(DB,
	                     "SELECT generation FROM consumers"
	                     " WHERE id = 2"),
	    7);
	assert_int_equal(h_query_int(DB,
	                     "SELECT root_provider_id IS NULL"
	                     " FROM resource_providers"),
	    1);
	r = janitor(config_path,
	    (const char *const[]){
	        "archive", "purge", "--older-than", "90d", NULL });
	if (r.exit_code != 0)
		fail_msg("exit %d: %s\n%s", r.exit_code, r.err, r.out);
	assert_no_marker(&r);
	h_result_free(&r);
	assert_int_equal(
	    h_query_int(DB, "SELECT COUNT(*) FROM placement_janitor_archive"),
	    3);
}

/* The worker's GRANTs alone: restore and purge are refused (77), the
 * message names what is missing, and nothing was changed. */
static void
least_privilege_worker_grants_cannot_restore(void **state)
{
	char *before, *after;
	struct h_result r;

	(void)state;
	fresh();
	h_sql(DB, REPAIRED);
	grant(false);
	before = h_checksum(DB);
	r = janitor(config_path,
	    (const char *const[]){ "restore", "--run", RUN_A, NULL });
	assert_int_equal(r.exit_code, 77);
	assert_non_null(strstr(r.err, "denied"));
	assert_no_marker(&r);
	h_result_free(&r);
	r = janitor(config_path,
	    (const char *const[]){
	        "archive", "purge", "--older-than", "90d", NULL });
	assert_int_equal(r.exit_code, 77);
	assert_non_null(strstr(r.err, "DELETE"));
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(archive_list_shows_runs),
		cmocka_unit_test(archive_list_empty),
		cmocka_unit_test(archive_purge_deletes_only_old_rows),
		cmocka_unit_test(archive_purge_takes_the_run_lock),
		cmocka_unit_test(archive_commands_need_the_table),
		cmocka_unit_test(least_privilege_restore_and_purge),
		cmocka_unit_test(least_privilege_worker_grants_cannot_restore),
	};
	int failed;

	h_require_sandbox();
	write_configs();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_sql(DB, "DROP USER IF EXISTS '" USER "'@'%';");
	unlink(config_path);
	unlink(password_path);
	h_cleanup();
	return failed;
}
