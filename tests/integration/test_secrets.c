/* The password never shows: every command, every verbosity, good and bad
 * passwords, every source, a broken config, and the metrics file. */
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

#define DB "pj_it_secrets"
#define USER "pj_secret_user"
/* A marker that cannot appear by chance. */
#define MARKER "Zq7-marker-8c1f42e9"

static char dir[64];

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 1 << 16);
	size_t n = 0;

	assert_non_null(text);
	if (f != NULL) {
		n = fread(text, 1, (1 << 16) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* A config (0600) for USER with the password from source. */
static void
config_for(const char *path, const char *source, const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text),
	    "database:\n  socket: \"%s\"\n  name: %s\n  user: %s\n  %s\n"
	    "worker:\n  lock:\n    run_dir: %s/run\n"
	    "report:\n  metrics_file: %s/janitor.prom\n%s",
	    getenv("PJ_TEST_SOCKET"), DB, USER, source, dir, dir,
	    extra != NULL ? extra : "");
	write_file(path, text, 0600);
}

static void
assert_hidden(const char *what, const struct h_result *r)
{
	char path[128];
	char *metrics;

	snprintf(path, sizeof(path), "%s/janitor.prom", dir);
	metrics = slurp(path);
	if (strstr(r->out, MARKER) != NULL || strstr(r->err, MARKER) != NULL ||
	    strstr(metrics, MARKER) != NULL)
		fail_msg("%s: the password appears in the output", what);
	free(metrics);
}

static void
sweep(const char *config, const char *what)
{
	static const char *const commands[][4] = {
		{ "check", NULL },
		{ "repair", NULL },
		{ "-v", "repair", NULL },
		{ "-v", "--format", "json", "check" },
		{ "config-check", NULL },
		{ "-v", "config-check", NULL },
		{ "grants", NULL },
		{ "archive", "list", NULL },
		{ "-v", "restore", "--run",
		    "00000000-0000-4000-8000-000000000000" },
	};
	const char *argv[8];
	struct h_result r;
	size_t i, j, n;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		n = 0;
		argv[n++] = "--config";
		argv[n++] = config;
		for (j = 0; j < 4 && commands[i][j] != NULL; j++)
			argv[n++] = commands[i][j];
		argv[n] = NULL;
		r = h_run(
		    argv, (const char *const[]){ "PJ_SECRET=" MARKER, NULL });
		if (r.exit_code == 70 || r.exit_code >= 128)
			fail_msg("%s: %s %s: exit %d: %s", what, argv[2],
			    argv[3] != NULL ? argv[3] : "", r.exit_code, r.err);
		assert_hidden(what, &r);
		h_result_free(&r);
	}
}

static void
secrets_never_shown(void **state)
{
	char config[128], pwfile[128], source[256];

	(void)state;
	snprintf(config, sizeof(config), "%s/janitor.yaml", dir);
	snprintf(pwfile, sizeof(pwfile), "%s/db-password", dir);
	write_file(pwfile, MARKER "\n", 0600);

	/* The right password, from each source. */
	h_sql(DB,
	    "DROP USER IF EXISTS '" USER
	    "'@'%';"
	    "CREATE USER '" USER "'@'%' IDENTIFIED BY '" MARKER
	    "';"
	    "GRANT ALL ON " DB ".* TO '" USER "'@'%';");
	config_for(config, "password: \"" MARKER "\"", NULL);
	sweep(config, "inline password");
	snprintf(source, sizeof(source), "password_file: \"%s\"", pwfile);
	config_for(config, source, NULL);
	sweep(config, "password file");
	config_for(config, "password_env: PJ_SECRET", NULL);
	sweep(config, "password from the environment");

	/* A wrong password: the server refuses; still never shown. */
	h_sql(DB, "ALTER USER '" USER "'@'%' IDENTIFIED BY 'other-pw';");
	config_for(config, "password: \"" MARKER "\"", NULL);
	sweep(config, "refused password");

	/* A broken config holding the password: refused, never echoed. */
	config_for(config, "password: \"" MARKER "\"",
	    "passes:\n  incomplete_consumers:\n    mode: " MARKER "\n");
	sweep(config, "broken config");
	config_for(config, "password: [\"" MARKER "\"]", NULL);
	sweep(config, "password of the wrong type");
	/* World-readable: refused without showing what it holds. */
	config_for(config, "password: \"" MARKER "\"", NULL);
	assert_int_equal(chmod(config, 0644), 0);
	sweep(config, "world-readable config");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_never_shown),
	};
	char cmd[160];
	int failed;

	h_require_sandbox();
	snprintf(dir, sizeof(dir), "/tmp/pj-secrets-%ld", (long)getpid());
	if (mkdir(dir, 0700) != 0)
		return 1;
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_sql(DB, "DROP USER IF EXISTS '" USER "'@'%';");
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	if (system(cmd) != 0)
		failed++;
	h_cleanup();
	return failed;
}
