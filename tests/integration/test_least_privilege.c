/* The worker as an account made only from `placement-janitor grants`. */
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

#define DB "pj_it_grants"
#define USER "pj_least"
/* A marker: it must never appear in any output. */
#define PASSWORD "Marker-pw-7f3a9c41"

static char config_path[256];
static char password_path[256];

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

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

	snprintf(password_path, sizeof(password_path), "/tmp/pj-least-%ld.pw",
	    (long)getpid());
	snprintf(config_path, sizeof(config_path), "/tmp/pj-least-%ld.yaml",
	    (long)getpid());
	write_file(password_path, PASSWORD "\n");
	snprintf(text, sizeof(text),
	    "database:\n  socket: \"%s\"\n  name: %s\n  user: %s\n"
	    "  password_file: \"%s\"\n",
	    getenv("PJ_TEST_SOCKET"), DB, USER, password_path);
	write_file(config_path, text);
}

static struct h_result
janitor(const char *command)
{
	const char *argv[] = { "--config", config_path, "--format", "json",
		"-v", command, NULL };

	return h_run(argv, NULL);
}

static void
assert_no_marker(const struct h_result *r)
{
	if (strstr(r->out, PASSWORD) != NULL ||
	    strstr(r->err, PASSWORD) != NULL)
		fail_msg("the password appears in the output");
}

/* Recreates the account with exactly the printed GRANTs. */
static void
grant_from_output(void)
{
	struct h_result r = janitor("grants");

	assert_int_equal(r.exit_code, 0);
	h_sql(DB,
	    "DROP USER IF EXISTS '" USER
	    "'@'%';"
	    "CREATE USER '" USER "'@'%' IDENTIFIED BY '" PASSWORD "';");
	h_sql(DB, r.out);
	h_result_free(&r);
}

static void
seed(int incomplete)
{
	char sql[768];

	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	/* Only incomplete consumers: the provider and the class exist, so
	 * no report-mode pass finds anything. */
	snprintf(sql, sizeof(sql),
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1);"
	    "INSERT INTO resource_classes (id, name) VALUES (1, 'MEMORY_MB');"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1,"
	    " CONCAT('c-', seq), 1, 1 FROM seq_1_to_%d;",
	    incomplete);
	h_sql(DB, sql);
}

/* sql/grants.sql is what `grants` prints for the example config. */
static void
grants_sql_matches_example(void **state)
{
	const char *argv[] = { "--config",
		PJ_SOURCE_DIR "/config/placement-janitor.yaml", "grants",
		NULL };
	char *shipped = read_text(PJ_SOURCE_DIR "/sql/grants.sql");
	struct h_result r = h_run(argv, NULL);

	(void)state;
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, shipped);
	assert_null(strstr(r.out, "ALL"));
	assert_null(strstr(r.out, "CREATE"));
	h_result_free(&r);
	free(shipped);
}

static void
least_privilege_repair_works(void **state)
{
	struct h_result r;

	(void)state;
	seed(40);
	grant_from_output();
	r = janitor("repair");
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_no_marker(&r);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 40);
}

/* One privilege less: exit 77, the message names the privilege and the
 * table, and the batch left nothing behind (not even the sentinels). */
static void
least_privilege_missing_insert_is_access_error(void **state)
{
	struct h_result r;

	(void)state;
	seed(10);
	grant_from_output();
	h_sql(DB, "REVOKE INSERT ON " DB ".consumers FROM '" USER "'@'%';");
	r = janitor("repair");
	assert_int_equal(r.exit_code, 77);
	assert_no_marker(&r);
	if (strstr(r.err, "INSERT") == NULL ||
	    strstr(r.err, "consumers") == NULL)
		fail_msg("message does not name the privilege: %s", r.err);
	h_result_free(&r);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM consumers"), 0);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM projects"), 0);
}

/* A SELECT-only account can check, and run every pass in report mode. */
static void
least_privilege_select_only_checks(void **state)
{
	struct h_result r;

	(void)state;
	seed(5);
	h_sql(DB,
	    "DROP USER IF EXISTS '" USER
	    "'@'%';"
	    "CREATE USER '" USER "'@'%' IDENTIFIED BY '" PASSWORD
	    "';"
	    "GRANT SELECT ON " DB ".* TO '" USER "'@'%';");
	r = janitor("check");
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.out, "\"found\":5"));
	assert_no_marker(&r);
	h_result_free(&r);
}

/* A wrong password: exit 77, and the password is not shown. */
static void
least_privilege_wrong_password(void **state)
{
	struct h_result r;

	(void)state;
	seed(1);
	grant_from_output();
	h_sql(DB, "ALTER USER '" USER "'@'%' IDENTIFIED BY 'other';");
	r = janitor("check");
	assert_int_equal(r.exit_code, 77);
	assert_no_marker(&r);
	h_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grants_sql_matches_example),
		cmocka_unit_test(least_privilege_repair_works),
		cmocka_unit_test(
		    least_privilege_missing_insert_is_access_error),
		cmocka_unit_test(least_privilege_select_only_checks),
		cmocka_unit_test(least_privilege_wrong_password),
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
