/* Command-line parsing: commands, overrides and usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/cli.h"

#define MAX_ARGS 12

struct good_case {
	const char *args[MAX_ARGS]; /* after argv[0] */
	enum pj_command command;
	int64_t batch_size, max_rows, max_runtime_ms;
	int format, verbosity;
	bool dry_run;
	size_t n_passes;
};

static const struct good_case good[] = {
	{ { "check" }, PJ_CMD_CHECK, -1, -1, -1, -1, 0, false, 0 },
	{ { "repair" }, PJ_CMD_REPAIR, -1, -1, -1, -1, 0, false, 0 },
	{ { "run" }, PJ_CMD_RUN, -1, -1, -1, -1, 0, false, 0 },
	{ { "config-check" }, PJ_CMD_CONFIG_CHECK, -1, -1, -1, -1, 0, false,
	    0 },
	{ { "grants" }, PJ_CMD_GRANTS, -1, -1, -1, -1, 0, false, 0 },
	{ { "version" }, PJ_CMD_VERSION, -1, -1, -1, -1, 0, false, 0 },
	{ { "--help" }, PJ_CMD_HELP, -1, -1, -1, -1, 0, false, 0 },
	{ { "-V" }, PJ_CMD_VERSION, -1, -1, -1, -1, 0, false, 0 },
	{ { "--dry-run", "repair" }, PJ_CMD_REPAIR, -1, -1, -1, -1, 0, true,
	    0 },
	{ { "--batch-size", "250", "--max-rows", "0", "repair" }, PJ_CMD_REPAIR,
	    250, 0, -1, -1, 0, false, 0 },
	{ { "--max-runtime", "5m", "--format", "json", "check" }, PJ_CMD_CHECK,
	    -1, -1, 300000, PJ_REPORT_JSON, 0, false, 0 },
	{ { "-v", "-v", "-q", "check" }, PJ_CMD_CHECK, -1, -1, -1, -1, 1, false,
	    0 },
	{ { "--pass", "incomplete_consumers", "-p", "incomplete_consumers",
	      "repair" },
	    PJ_CMD_REPAIR, -1, -1, -1, -1, 0, false, 1 },
	{ { "--batch-size=100000", "check" }, PJ_CMD_CHECK, 100000, -1, -1, -1,
	    0, false, 0 },
};

#define UUID36 "5d7c1a9e-0b2f-4c6d-8e1a-2b3c4d5e6f70"

struct bad_case {
	const char *args[MAX_ARGS];
	const char *message; /* a part of the error */
};

static const struct bad_case bad[] = {
	{ { NULL }, "no command given" },
	{ { "fix" }, "unknown command \"fix\"" },
	{ { "check", "extra" }, "unexpected argument \"extra\"" },
	{ { "--batch-size", "0", "check" }, "--batch-size: expected" },
	{ { "--batch-size", "100001", "check" }, "--batch-size: expected" },
	{ { "--batch-size", "-5", "check" }, "--batch-size: expected" },
	{ { "--batch-size", "12abc", "check" }, "--batch-size: expected" },
	{ { "--max-rows", "99999999999999999999", "check" },
	    "--max-rows: expected" },
	{ { "--max-runtime", "5 minutes", "check" }, "--max-runtime" },
	{ { "--format", "xml", "check" }, "--format: expected table or json" },
	{ { "--pass", "no_such_pass", "check" }, "unknown pass" },
	{ { "--bogus", "check" }, "bad option" },
	{ { "check", "--batch-size" }, "bad option or missing argument" },
	{ { "--provider", "", "check" }, "--provider: expected a uuid" },
	{ { "--provider", UUID36 "0", "check" },
	    "--provider: expected a uuid (hex digits and dashes, at most 36)" },
	{ { "--consumer", "c1'; DELETE FROM consumers; --", "repair" },
	    "--consumer: expected a uuid" },
	{ { "--consumer", "ab cd", "check" }, "--consumer: expected a uuid" },
	{ { "--consumer", "g1", "check" }, "--consumer: expected a uuid" },
	{ { "check", "--provider" }, "bad option or missing argument" },
	{ { "--provider", "a1", "grants" },
	    "--provider: only with check, repair or run" },
	{ { "--consumer", "c1", "config-check" },
	    "--consumer: only with check, repair or run" },
	{ { "restore", "--run", "ab", "--provider", "a1" },
	    "--provider: only with check, repair or run" },
	{ { "archive", "list", "--consumer", "c1" },
	    "--consumer: only with check, repair or run" },
};

#define RUN36 "4b1f0c2e-6204-42a7-a4e6-9520d4063a5d"

/* restore and archive: their options, and what they need. */
struct archive_case {
	const char *args[MAX_ARGS];
	enum pj_command command;
	const char *run_id; /* NULL: not given */
	int64_t older_than_ms;
	bool dry_run;
	size_t n_passes;
};

static const struct archive_case archive_good[] = {
	{ { "restore", "--run", RUN36 }, PJ_CMD_RESTORE, RUN36, -1, false, 0 },
	{ { "--run", "ABCDEF-0", "--dry-run", "-p", "incomplete_consumers",
	      "restore" },
	    PJ_CMD_RESTORE, "ABCDEF-0", -1, true, 1 },
	{ { "--run=0", "restore" }, PJ_CMD_RESTORE, "0", -1, false, 0 },
	{ { "archive", "list" }, PJ_CMD_ARCHIVE_LIST, NULL, -1, false, 0 },
	{ { "archive", "list", "--run", RUN36 }, PJ_CMD_ARCHIVE_LIST, RUN36, -1,
	    false, 0 },
	{ { "archive", "purge", "--older-than", "90d" }, PJ_CMD_ARCHIVE_PURGE,
	    NULL, INT64_C(7776000000), false, 0 },
	{ { "--older-than=1s", "--dry-run", "archive", "purge" },
	    PJ_CMD_ARCHIVE_PURGE, NULL, 1000, true, 0 },
	{ { "--run", RUN36, "--help" }, PJ_CMD_HELP, RUN36, -1, false, 0 },
};

static const struct bad_case archive_bad[] = {
	{ { "restore" }, "restore: --run ID is required" },
	{ { "restore", "--run", "" }, "--run: expected a run id" },
	{ { "restore", "--run", "x'; DROP TABLE consumers; --" },
	    "--run: expected a run id" },
	{ { "restore", "--run", RUN36 "0" }, "--run: expected a run id" },
	{ { "restore", "--run", "4b1f0c2e 6204" }, "--run: expected" },
	{ { "restore", "--run", "\"quoted\"" }, "--run: expected" },
	{ { "restore", "--run" }, "bad option or missing argument" },
	{ { "check", "--run", "abc" },
	    "--run: only with restore or archive list" },
	{ { "archive" }, "archive: expected list or purge" },
	{ { "archive", "drop" },
	    "archive: expected list or purge, got \"drop\"" },
	{ { "archive", "list", "extra" }, "unexpected argument \"extra\"" },
	{ { "archive", "purge" }, "--older-than DURATION is required" },
	{ { "archive", "purge", "--older-than", "0" }, "must be more than 0" },
	{ { "archive", "purge", "--older-than", "90 days" }, "--older-than: " },
	{ { "archive", "purge", "--older-than", "-5d" }, "--older-than: " },
	{ { "restore", "--run", "ab", "--older-than", "1d" },
	    "--older-than: only with archive purge" },
	{ { "archive", "purge", "--older-than", "1d", "--run", "ab" },
	    "--run: only with restore or archive list" },
	{ { "archive", "purge", "--older-than", "1d", "--pass",
	      "incomplete_consumers" },
	    "--pass: not with archive" },
	{ { "archive", "list", "-p", "incomplete_consumers" },
	    "--pass: not with archive" },
	{ { "restore", "--run", "ab", "-p", "incomplete_consumers", "-p",
	      "orphaned_allocations" },
	    "--pass at most once" },
	{ { "restore", "--run", "ab", "-p", "no_such_pass" }, "unknown pass" },
};

static int
parse(const char *const *args, struct pj_cli *cli, struct pj_error *err)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = (char *)"placement-janitor";
	while (argc <= MAX_ARGS && args[argc - 1] != NULL) {
		argv[argc] = (char *)args[argc - 1];
		argc++;
	}
	argv[argc] = NULL;
	memset(err, 0, sizeof(*err));
	return pj_cli_parse(argc, argv, cli, err);
}

static void
test_good(void **state)
{
	struct pj_error err;
	struct pj_cli cli;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct good_case *c = &good[i];

		if (parse(c->args, &cli, &err) != PJ_OK)
			fail_msg("case %zu (%s): %s", i, c->args[0], err.msg);
		if (cli.command != c->command || cli.dry_run != c->dry_run ||
		    cli.batch_size != c->batch_size ||
		    cli.max_rows != c->max_rows ||
		    cli.max_runtime_ms != c->max_runtime_ms ||
		    cli.format != c->format || cli.verbosity != c->verbosity ||
		    cli.n_passes != c->n_passes)
			fail_msg("case %zu (%s): parsed wrong", i, c->args[0]);
	}
}

static void
test_bad(void **state)
{
	struct pj_error err;
	struct pj_cli cli;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i].args, &cli, &err);

		if (rc != PJ_EINVAL)
			fail_msg("case %zu: accepted", i);
		if (strstr(err.msg, bad[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
			    bad[i].message);
	}
}

/* --provider and --consumer: kept in order, each with its kind. */
static void
test_scope_good(void **state)
{
	static const char *const args[] = { "--provider", UUID36, "--consumer",
		"C1", "--provider", "a3", "repair", NULL };
	static const char *const none[] = { "check", NULL };
	struct pj_error err;
	struct pj_cli cli;

	(void)state;
	if (parse(args, &cli, &err) != PJ_OK)
		fail_msg("scope: %s", err.msg);
	assert_int_equal(cli.n_scope, 3);
	assert_string_equal(cli.scope[0].uuid, UUID36);
	assert_false(cli.scope[0].consumer);
	assert_string_equal(cli.scope[1].uuid, "C1");
	assert_true(cli.scope[1].consumer);
	assert_string_equal(cli.scope[2].uuid, "a3");
	assert_false(cli.scope[2].consumer);
	if (parse(none, &cli, &err) != PJ_OK)
		fail_msg("no scope: %s", err.msg);
	assert_int_equal(cli.n_scope, 0);
}

/* PJ_MAX_SCOPE entries are fine, one more is a usage error. */
static void
test_scope_limit(void **state)
{
	char *argv[2 * (PJ_MAX_SCOPE + 1) + 3];
	struct pj_error err;
	struct pj_cli cli;
	int argc, n, i;

	(void)state;
	for (n = PJ_MAX_SCOPE; n <= PJ_MAX_SCOPE + 1; n++) {
		argc = 0;
		argv[argc++] = (char *)"placement-janitor";
		for (i = 0; i < n; i++) {
			argv[argc++] =
			    (char *)(i % 2 == 0 ? "--provider" : "--consumer");
			argv[argc++] = (char *)"ab";
		}
		argv[argc++] = (char *)"check";
		argv[argc] = NULL;
		memset(&err, 0, sizeof(err));
		if (n == PJ_MAX_SCOPE) {
			if (pj_cli_parse(argc, argv, &cli, &err) != PJ_OK)
				fail_msg("%d entries: %s", n, err.msg);
			assert_int_equal(cli.n_scope, PJ_MAX_SCOPE);
		} else {
			assert_int_equal(
			    pj_cli_parse(argc, argv, &cli, &err), PJ_EINVAL);
			assert_non_null(strstr(err.msg, "at most 100"));
		}
	}
}

static void
test_archive_commands_good(void **state)
{
	struct pj_error err;
	struct pj_cli cli;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(archive_good) / sizeof(archive_good[0]); i++) {
		const struct archive_case *c = &archive_good[i];

		if (parse(c->args, &cli, &err) != PJ_OK)
			fail_msg("case %zu (%s): %s", i, c->args[0], err.msg);
		if (cli.command != c->command || cli.dry_run != c->dry_run ||
		    cli.older_than_ms != c->older_than_ms ||
		    cli.n_passes != c->n_passes ||
		    (c->run_id == NULL) != (cli.run_id == NULL) ||
		    (c->run_id != NULL && strcmp(c->run_id, cli.run_id) != 0))
			fail_msg("case %zu (%s): parsed wrong", i, c->args[0]);
	}
	/* The command name the reports show. */
	assert_int_equal(parse(archive_good[5].args, &cli, &err), PJ_OK);
	assert_string_equal(cli.command_name, "archive purge");
	assert_int_equal(parse(archive_good[0].args, &cli, &err), PJ_OK);
	assert_string_equal(cli.command_name, "restore");
}

static void
test_archive_commands_bad(void **state)
{
	struct pj_error err;
	struct pj_cli cli;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(archive_bad) / sizeof(archive_bad[0]); i++) {
		int rc = parse(archive_bad[i].args, &cli, &err);

		if (rc != PJ_EINVAL)
			fail_msg("case %zu (%s): accepted", i,
			    archive_bad[i].args[0]);
		if (strstr(err.msg, archive_bad[i].message) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
			    archive_bad[i].message);
	}
}

static void
test_apply_overrides(void **state)
{
	const char *args[] = { "--batch-size", "7", "--max-rows", "9",
		"--max-runtime", "2s", "--format", "json", "-q", "repair",
		NULL };
	struct pj_config cfg;
	struct pj_error err;
	struct pj_cli cli;

	(void)state;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	assert_int_equal(parse(args, &cli, &err), PJ_OK);
	pj_cli_apply(&cli, &cfg);
	assert_int_equal(cfg.worker.batch_size, 7);
	assert_int_equal(cfg.worker.max_rows, 9);
	assert_int_equal(cfg.worker.max_runtime_ms, 2000);
	assert_int_equal(cfg.report.format, PJ_REPORT_JSON);
	assert_int_equal(cfg.logging.level, PJ_LOG_WARN);
}

static void
test_config_path_order(void **state)
{
	const char *with[] = { "--config", "/x.yaml", "check", NULL };
	const char *without[] = { "check", NULL };
	struct pj_error err;
	struct pj_cli cli;

	(void)state;
	setenv(PJ_CFG_ENV_PATH, "/from-env.yaml", 1);
	assert_int_equal(parse(with, &cli, &err), PJ_OK);
	assert_string_equal(pj_cli_config_path(&cli), "/x.yaml");
	assert_int_equal(parse(without, &cli, &err), PJ_OK);
	assert_string_equal(pj_cli_config_path(&cli), "/from-env.yaml");
	unsetenv(PJ_CFG_ENV_PATH);
	assert_string_equal(pj_cli_config_path(&cli), PJ_CFG_DEFAULT_PATH);
}

static void
test_usage_lists_every_exit_code(void **state)
{
	static const char *const codes[] = { " 0  ", " 1  ", " 2  ", " 3  ",
		"64  ", "65  ", "69  ", "70  ", "77  ", "78  " };
	char *text = NULL;
	size_t size = 0, i;
	FILE *out = open_memstream(&text, &size);

	(void)state;
	assert_non_null(out);
	pj_cli_usage(out);
	fclose(out);
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strstr(text, codes[i]) == NULL)
			fail_msg("--help lacks exit code %s", codes[i]);
	}
	assert_non_null(strstr(text, "incomplete_consumers"));
	assert_non_null(strstr(text, "restore"));
	assert_non_null(strstr(text, "archive list"));
	assert_non_null(strstr(text, "archive purge"));
	assert_non_null(strstr(text, "--run ID"));
	assert_non_null(strstr(text, "--older-than D"));
	assert_non_null(strstr(text, "--provider UUID"));
	assert_non_null(strstr(text, "--consumer UUID"));
	assert_non_null(strstr(text, "--consumer uuid was not found"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_scope_good),
		cmocka_unit_test(test_scope_limit),
		cmocka_unit_test(test_archive_commands_good),
		cmocka_unit_test(test_archive_commands_bad),
		cmocka_unit_test(test_apply_overrides),
		cmocka_unit_test(test_config_path_order),
		cmocka_unit_test(test_usage_lists_every_exit_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
