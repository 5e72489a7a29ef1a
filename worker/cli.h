/* The command line: options and command, checked before anything runs. */
#ifndef PJ_WORKER_CLI_H
#define PJ_WORKER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/error.h"
#include "config/config.h"
#include "worker/report.h"

enum pj_command {
	PJ_CMD_NONE,
	PJ_CMD_CHECK,
	PJ_CMD_REPAIR,
	PJ_CMD_RUN,
	PJ_CMD_CONFIG_CHECK,
	PJ_CMD_GRANTS,
	PJ_CMD_VERSION,
	PJ_CMD_HELP,
	PJ_CMD_RESTORE,       /* restore --run ID */
	PJ_CMD_ARCHIVE_LIST,  /* archive list [--run ID] */
	PJ_CMD_ARCHIVE_PURGE, /* archive purge --older-than D */
};

/* What the command line asked for; -1 and NULL mean "not given". */
struct pj_cli {
	enum pj_command command;
	const char *command_name; /* as typed, for the report */
	const char *config_path;  /* --config; else env, else default */
	bool dry_run;
	const char *passes[PJ_MAX_PASSES]; /* --pass, checked names */
	size_t n_passes;
	int64_t batch_size;
	int64_t max_rows;
	int64_t max_runtime_ms;
	int format;            /* enum pj_report_format, or -1 */
	int verbosity;         /* +1 per -v, -1 per -q */
	const char *run_id;    /* --run: restore, archive list */
	int64_t older_than_ms; /* --older-than: archive purge */
	/* --provider and --consumer, in the order given (argv strings). */
	struct {
		const char *uuid;
		bool consumer;
	} scope[PJ_MAX_SCOPE];
	size_t n_scope;
};

/*
 * Parses argv (getopt_long; argv is not changed beyond getopt's own
 * permutation). PJ_EINVAL with err saying what is wrong for a usage error
 * (exit 64). Pass names are checked against the registry; --run must look
 * like a run id (hex digits and dashes, at most 36); restore needs --run,
 * archive purge --older-than, and neither goes with another command.
 * --provider and --consumer (hex digits and dashes, at most 36; at most
 * PJ_MAX_SCOPE together) go with check, repair and run only.
 */
int pj_cli_parse(int argc, char **argv, struct pj_cli *cli,
    struct pj_error *err) PJ_MUSTCHECK;

/* The config path to load: --config, $PLACEMENT_JANITOR_CONFIG, default. */
const char *pj_cli_config_path(const struct pj_cli *cli);

/* Applies the overriding options to cfg. */
void pj_cli_apply(const struct pj_cli *cli, struct pj_config *cfg);

/* The --help text. */
void pj_cli_usage(FILE *out);

#endif
