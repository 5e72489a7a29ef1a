/* Command-line parsing and the --help text. */
#include "worker/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/time.h"
#include "worker/pass.h"

static const struct {
	const char *name;
	enum pj_command command;
} commands[] = {
	{ "check", PJ_CMD_CHECK },
	{ "repair", PJ_CMD_REPAIR },
	{ "run", PJ_CMD_RUN },
	{ "config-check", PJ_CMD_CONFIG_CHECK },
	{ "grants", PJ_CMD_GRANTS },
	{ "version", PJ_CMD_VERSION },
	{ "help", PJ_CMD_HELP },
	{ "restore", PJ_CMD_RESTORE },
};

enum long_only {
	OPT_BATCH_SIZE = 256,
	OPT_MAX_ROWS,
	OPT_MAX_RUNTIME,
	OPT_FORMAT,
	OPT_RUN,
	OPT_OLDER_THAN,
	OPT_PROVIDER,
	OPT_CONSUMER,
};

static const struct option options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "dry-run", no_argument, NULL, 'n' },
	{ "pass", required_argument, NULL, 'p' },
	{ "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
	{ "max-rows", required_argument, NULL, OPT_MAX_ROWS },
	{ "max-runtime", required_argument, NULL, OPT_MAX_RUNTIME },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "run", required_argument, NULL, OPT_RUN },
	{ "older-than", required_argument, NULL, OPT_OLDER_THAN },
	{ "provider", required_argument, NULL, OPT_PROVIDER },
	{ "consumer", required_argument, NULL, OPT_CONSUMER },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* A whole decimal number in [min, max]; no sign, no spaces, no suffix. */
static int
parse_count(const char *opt, const char *text, int64_t min, int64_t max,
    int64_t *out, struct pj_error *err)
{
	int64_t v = 0;
	const char *s;

	for (s = text; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
			break;
		v = v * 10 + (*s - '0');
	}
	if (*text == '\0' || *s != '\0' || v < min || v > max)
		return pj_error_set(err, PJ_EINVAL,
		    "%s: expected a whole number %" PRId64 "..%" PRId64
		    ", got \"%.40s\"",
		    opt, min, max, text);
	*out = v;
	return PJ_OK;
}

static int
parse_runtime(const char *text, int64_t *ms, struct pj_error *err)
{
	struct pj_error why;

	memset(&why, 0, sizeof(why));
	if (pj_time_parse_duration(text, ms, &why) != PJ_OK)
		return pj_error_set(
		    err, PJ_EINVAL, "--max-runtime: %s", why.msg);
	return PJ_OK;
}

/* A run id as the worker makes them: hex digits and dashes, at most 36
 * characters. The database compares it; this only keeps junk out. */
static int
parse_run_id(const char *text, const char **out, struct pj_error *err)
{
	size_t n = strspn(text, "0123456789abcdefABCDEF-");

	if (text[0] == '\0' || text[n] != '\0' || n > 36)
		return pj_error_set(err, PJ_EINVAL,
		    "--run: expected a run id (hex digits and dashes, at "
		    "most 36), got \"%.40s\"",
		    text);
	*out = text;
	return PJ_OK;
}

/*
 * A --provider or --consumer uuid: Placement's ids are UUIDs, with or
 * without dashes, in any case. Only junk is kept out here; the database
 * compares it (its collation) and says whether it exists.
 */
static int
add_scope(
    struct pj_cli *cli, bool consumer, const char *text, struct pj_error *err)
{
	const char *opt = consumer ? "--consumer" : "--provider";
	size_t n = strspn(text, "0123456789abcdefABCDEF-");

	if (text[0] == '\0' || text[n] != '\0' || n > PJ_SCOPE_ID_MAX)
		return pj_error_set(err, PJ_EINVAL,
		    "%s: expected a uuid (hex digits and dashes, at most %d),"
		    " got \"%.40s\"",
		    opt, PJ_SCOPE_ID_MAX, text);
	if (cli->n_scope == PJ_MAX_SCOPE)
		return pj_error_set(err, PJ_EINVAL,
		    "%s: at most %d --provider and --consumer together", opt,
		    PJ_MAX_SCOPE);
	cli->scope[cli->n_scope].uuid = text;
	cli->scope[cli->n_scope].consumer = consumer;
	cli->n_scope++;
	return PJ_OK;
}

static int
parse_older_than(const char *text, int64_t *ms, struct pj_error *err)
{
	struct pj_error why;
	int64_t v = 0;

	memset(&why, 0, sizeof(why));
	if (pj_time_parse_duration(text, &v, &why) != PJ_OK)
		return pj_error_set(
		    err, PJ_EINVAL, "--older-than: %s", why.msg);
	if (v <= 0)
		return pj_error_set(err, PJ_EINVAL,
		    "--older-than: must be more than 0 (e.g. 90d)");
	*ms = v;
	return PJ_OK;
}

static int
add_pass(struct pj_cli *cli, const char *name, struct pj_error *err)
{
	size_t i;

	if (pj_pass_find(name) == NULL)
		return pj_error_set(err, PJ_EINVAL,
		    "--pass: unknown pass \"%.64s\" (see --help)", name);
	for (i = 0; i < cli->n_passes; i++) {
		if (strcmp(cli->passes[i], name) == 0)
			return PJ_OK;
	}
	if (cli->n_passes == PJ_MAX_PASSES)
		return pj_error_set(err, PJ_EINVAL, "--pass: too many");
	cli->passes[cli->n_passes++] = name;
	return PJ_OK;
}

static int
parse_option(struct pj_cli *cli, int opt, const char *arg, struct pj_error *err)
{
	switch (opt) {
	case 'c':
		cli->config_path = arg;
		return PJ_OK;
	case 'n':
		cli->dry_run = true;
		return PJ_OK;
	case 'p':
		return add_pass(cli, arg, err);
	case OPT_BATCH_SIZE:
		return parse_count(
		    "--batch-size", arg, 1, 100000, &cli->batch_size, err);
	case OPT_MAX_ROWS:
		return parse_count("--max-rows", arg, 0, INT64_C(1000000000000),
		    &cli->max_rows, err);
	case OPT_MAX_RUNTIME:
		return parse_runtime(arg, &cli->max_runtime_ms, err);
	case OPT_RUN:
		return parse_run_id(arg, &cli->run_id, err);
	case OPT_OLDER_THAN:
		return parse_older_than(arg, &cli->older_than_ms, err);
	case OPT_PROVIDER:
		return add_scope(cli, false, arg, err);
	case OPT_CONSUMER:
		return add_scope(cli, true, arg, err);
	case OPT_FORMAT:
		if (strcmp(arg, "table") == 0)
			cli->format = PJ_REPORT_TABLE;
		else if (strcmp(arg, "json") == 0)
			cli->format = PJ_REPORT_JSON;
		else
			return pj_error_set(err, PJ_EINVAL,
			    "--format: expected table or json, got \"%.40s\"",
			    arg);
		return PJ_OK;
	case 'v':
		cli->verbosity++;
		return PJ_OK;
	case 'q':
		cli->verbosity--;
		return PJ_OK;
	case 'h':
		cli->command = PJ_CMD_HELP;
		return PJ_OK;
	case 'V':
		cli->command = PJ_CMD_VERSION;
		return PJ_OK;
	default:
		return pj_error_set(
		    err, PJ_EINVAL, "unknown option (see --help)");
	}
}

/* The command word at argv[optind]; "archive" takes a second one. */
static int
parse_command(struct pj_cli *c, int argc, char **argv, struct pj_error *err)
{
	const char *word = argv[optind];
	size_t i;

	if (strcmp(word, "archive") == 0) {
		word = optind + 1 < argc ? argv[optind + 1] : "";
		if (strcmp(word, "list") == 0) {
			c->command = PJ_CMD_ARCHIVE_LIST;
			c->command_name = "archive list";
		} else if (strcmp(word, "purge") == 0) {
			c->command = PJ_CMD_ARCHIVE_PURGE;
			c->command_name = "archive purge";
		} else {
			return pj_error_set(err, PJ_EINVAL,
			    "archive: expected list or purge, got \"%.64s\"",
			    word);
		}
		optind += 2;
		return PJ_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(word, commands[i].name) == 0) {
			c->command = commands[i].command;
			c->command_name = commands[i].name;
		}
	}
	if (c->command == PJ_CMD_NONE)
		return pj_error_set(err, PJ_EINVAL,
		    "unknown command \"%.64s\" (see --help)", word);
	optind++;
	return PJ_OK;
}

/* Options that belong to one command only, and what a command needs. */
static int
check_combination(const struct pj_cli *c, struct pj_error *err)
{
	bool restore = c->command == PJ_CMD_RESTORE;
	bool list = c->command == PJ_CMD_ARCHIVE_LIST;
	bool purge = c->command == PJ_CMD_ARCHIVE_PURGE;

	if (c->command == PJ_CMD_HELP || c->command == PJ_CMD_VERSION)
		return PJ_OK;
	if (restore && c->run_id == NULL)
		return pj_error_set(err, PJ_EINVAL,
		    "restore: --run ID is required (archive list shows runs)");
	if (purge && c->older_than_ms < 0)
		return pj_error_set(err, PJ_EINVAL,
		    "archive purge: --older-than DURATION is required "
		    "(e.g. 90d)");
	if (c->run_id != NULL && !restore && !list)
		return pj_error_set(
		    err, PJ_EINVAL, "--run: only with restore or archive list");
	if (c->older_than_ms >= 0 && !purge)
		return pj_error_set(
		    err, PJ_EINVAL, "--older-than: only with archive purge");
	if (restore && c->n_passes > 1)
		return pj_error_set(
		    err, PJ_EINVAL, "restore: --pass at most once");
	if (c->n_passes > 0 && (list || purge))
		return pj_error_set(err, PJ_EINVAL,
		    "--pass: not with archive list or archive purge");
	if (c->n_scope > 0 && c->command != PJ_CMD_CHECK &&
	    c->command != PJ_CMD_REPAIR && c->command != PJ_CMD_RUN)
		return pj_error_set(err, PJ_EINVAL,
		    "--%s: only with check, repair or run",
		    c->scope[0].consumer ? "consumer" : "provider");
	return PJ_OK;
}

int
pj_cli_parse(int argc, char **argv, struct pj_cli *cli, struct pj_error *err)
{
	struct pj_cli c;
	int opt;
	int rc = PJ_OK;

	memset(&c, 0, sizeof(c));
	c.batch_size = -1;
	c.max_rows = -1;
	c.max_runtime_ms = -1;
	c.format = -1;
	c.older_than_ms = -1;
	optind = 1;
	opterr = 0; /* our own message, through err */
	while (rc == PJ_OK &&
	    (opt = getopt_long(argc, argv, "c:np:vqhV", options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			rc = pj_error_set(err, PJ_EINVAL,
			    "bad option or missing argument: %.64s (see --help)",
			    argv[optind - 1]);
		else
			rc = parse_option(&c, opt, optarg, err);
	}
	if (rc)
		return rc;
	if (c.command == PJ_CMD_NONE) {
		if (optind >= argc)
			return pj_error_set(
			    err, PJ_EINVAL, "no command given (see --help)");
		rc = parse_command(&c, argc, argv, err);
		if (rc)
			return rc;
	}
	if (optind < argc)
		return pj_error_set(err, PJ_EINVAL,
		    "unexpected argument \"%.64s\"", argv[optind]);
	rc = check_combination(&c, err);
	if (rc)
		return rc;
	*cli = c;
	return PJ_OK;
}

const char *
pj_cli_config_path(const struct pj_cli *cli)
{
	const char *env;

	if (cli->config_path != NULL)
		return cli->config_path;
	env = getenv(PJ_CFG_ENV_PATH);
	if (env != NULL && env[0] != '\0')
		return env;
	return PJ_CFG_DEFAULT_PATH;
}

void
pj_cli_apply(const struct pj_cli *cli, struct pj_config *cfg)
{
	if (cli->batch_size >= 0)
		cfg->worker.batch_size = cli->batch_size;
	if (cli->max_rows >= 0)
		cfg->worker.max_rows = cli->max_rows;
	if (cli->max_runtime_ms >= 0)
		cfg->worker.max_runtime_ms = cli->max_runtime_ms;
	if (cli->format >= 0)
		cfg->report.format = (enum pj_report_format)cli->format;
	if (cli->verbosity > 0)
		cfg->logging.level = PJ_LOG_DEBUG;
	else if (cli->verbosity == -1)
		cfg->logging.level = PJ_LOG_WARN;
	else if (cli->verbosity < -1)
		cfg->logging.level = PJ_LOG_ERROR;
}

void
pj_cli_usage(FILE *out)
{
	const struct pj_pass *const *pp;

	fputs(
	    "usage: placement-janitor [options] COMMAND\n"
	    "\n"
	    "Finds and repairs damage in an OpenStack Placement database,\n"
	    "in short locked batches that are safe next to live API traffic.\n"
	    "\n"
	    "commands:\n"
	    "  check         report damage, change nothing\n"
	    "  repair        repair what the passes' modes allow\n"
	    "  run           repair, then again every worker.interval, until "
	    "signalled\n"
	    "  config-check  validate the config and print it, secrets "
	    "redacted\n"
	    "  grants        print the least-privilege GRANTs for the "
	    "account\n"
	    "  version       print the version\n"
	    "  restore       put back the rows a run archived (--run ID;\n"
	    "                --pass NAME: only that pass's; --dry-run: count)\n"
	    "  archive list  archived runs: time span, rows per pass, table\n"
	    "                and action, how many restored (--run ID: one)\n"
	    "  archive purge delete archive rows older than --older-than D\n"
	    "\n"
	    "options:\n"
	    "  -c, --config FILE     config file (default $" PJ_CFG_ENV_PATH
	    ",\n"
	    "                        else " PJ_CFG_DEFAULT_PATH
	    ")\n"
	    "  -n, --dry-run         find and count only; no writes, no "
	    "locks\n"
	    "  -p, --pass NAME       run only this pass (repeatable)\n"
	    "      --batch-size N    candidates per transaction (1..100000)\n"
	    "      --max-rows N      stop after repairing N rows (0: no "
	    "limit)\n"
	    "      --max-runtime D   stop after D (e.g. 30s, 10m; 0: no "
	    "limit)\n"
	    "      --format F        report as table or json\n"
	    "      --run ID          the run to restore or list (its run id)\n"
	    "      --older-than D    archive purge: rows archived more than D "
	    "ago\n"
	    "      --provider UUID   only rows of this resource provider "
	    "(repeatable)\n"
	    "      --consumer UUID   only rows of this consumer (repeatable)\n"
	    "  -v, --verbose         debug logging: every batch, every record "
	    "found\n"
	    "  -q, --quiet           warnings and errors only (-qq: errors)\n"
	    "  -h, --help            this text\n"
	    "  -V, --version         the version\n"
	    "\n"
	    "passes:\n",
	    out);
	for (pp = pj_passes; *pp != NULL; pp++)
		fprintf(out, "  %-26s %s\n", (*pp)->name, (*pp)->description);
	fputs(
	    "\n"
	    "exit status:\n"
	    "   0  clean, or every damage found was repaired; restore: every\n"
	    "      row put back; archive: done\n"
	    "   1  damage remains (check found some, a pass is in report mode,\n"
	    "      or a limit or signal stopped the run early), or a --provider\n"
	    "      or --consumer uuid was not found; restore: some rows could\n"
	    "      not go back (key taken, or changed since)\n"
	    "   2  some repairs (restore, purge: batches) failed after retries;"
	    "\n"
	    "      the rest was done\n"
	    "   3  another run holds the lock; nothing was done\n"
	    "  64  usage error, or restore of a run with nothing archived\n"
	    "  65  the database schema is not a Placement schema it knows\n"
	    "  69  database unreachable, or the connection was lost past "
	    "retries\n"
	    "  70  internal error (a bug: please report it)\n"
	    "  77  access denied, or a needed privilege is missing\n"
	    "  78  configuration error, or TLS refused\n",
	    out);
}
