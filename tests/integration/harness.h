/*
 * Helpers for integration tests against the sandbox MariaDB started by
 * scripts/sandbox-db.sh. Every function fails the running cmocka test on
 * error (these are tests: no status to check).
 */
#ifndef PJ_TESTS_HARNESS_H
#define PJ_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/db.h"

/*
 * Checks that the sandbox answers (PJ_TEST_SOCKET names its socket). If
 * not: exit 77 (skip) when PJ_TEST_ALLOW_SKIP=1 and CI is not "true",
 * saying why; otherwise print why and exit 1. Call first in main().
 */
void h_require_sandbox(void);
/* True when a test that cannot run may exit 77: PJ_TEST_ALLOW_SKIP=1 and
 * CI is not "true". */
bool h_skip_allowed(void);

/* Drops and creates database name from sql/placement-schema.sql. */
void h_reset_db(const char *name);
/* Runs SQL text (several statements allowed) in database name with the
 * mariadb client as the sandbox's root. */
void h_sql(const char *name, const char *sql);
/* Runs a SQL file (path relative to the source tree) likewise. */
void h_sql_file(const char *name, const char *path);
/* The first column of the first row of a query, as text (caller frees);
 * "NULL" for SQL NULL, "" for no row. */
char *h_query(const char *name, const char *sql);
/* h_query as a number. */
long long h_query_int(const char *name, const char *sql);
/* A checksum of every table of database name (CHECKSUM TABLE ... EXTENDED
 * over all of them), to compare before and after. Caller frees. */
char *h_checksum(const char *name);

/* Connects through the project's db layer as root to database name. */
struct pj_db *h_connect(const char *name);

/*
 * Writes a config for database name to a fresh temporary file (mode 0600)
 * with extra YAML appended (top-level sections; may be NULL) and returns
 * its path (caller frees; h_cleanup removes it).
 */
char *h_config(const char *name, const char *extra_yaml);
/* As h_config, with db_yaml (lines indented by two spaces, may be NULL)
 * added to the database section, e.g. "  lock_wait_timeout: 1s\n". */
char *h_config_db(
    const char *name, const char *db_yaml, const char *extra_yaml);

struct h_result {
	int exit_code; /* or 128 + signal */
	char *out;     /* all of stdout, NUL-terminated */
	char *err;     /* all of stderr */
};

/* Runs the placement-janitor binary with argv (NULL-terminated, without
 * argv[0]) and env additions ("K=V" strings, NULL-terminated or NULL);
 * waits for it and captures its output. */
struct h_result h_run(const char *const *argv, const char *const *env);
void h_result_free(struct h_result *r);
/* Runs "bash PJ_SOURCE_DIR/scripts/<script> args..." (args NULL-ended)
 * with env additions as h_run does, and captures its output. */
struct h_result h_script(
    const char *script, const char *const *args, const char *const *env);

/* A number field of the first pass in a JSON report, -1 if absent. */
long long h_json_field(const char *json, const char *field);

/* A number field of the named pass in a JSON report, -1 if absent. */
long long h_pass_field(const char *pass, const char *json, const char *field);

/* h_run with "--config config --format json" before args (NULL-ended). */
struct h_result h_run_json(const char *config, const char *const *args);

/* Fails the test, with both outputs, unless r exited with code. */
void h_expect_exit(const struct h_result *r, int code, const char *what);

/* Waits for a helper process the test forked; fails unless it exited 0. */
void h_reap(pid_t pid);

/* A child process running beside the test, its stdout and stderr in
 * temporary files until h_proc_reap reads them. */
struct h_proc {
	pid_t pid;
	char out_path[64], err_path[64];
	int exit_code; /* or 128 + signal, after h_proc_reap */
	char *out, *err;
};

/* Starts path with argv (argv[0] included, NULL-terminated). */
void h_proc_spawn(struct h_proc *p, const char *path, const char *const *argv);
/* True while p has not exited. */
bool h_proc_running(const struct h_proc *p);
/* Waits for p, then reads its output and removes the files. */
void h_proc_reap(struct h_proc *p);
void h_proc_free(struct h_proc *p);

/* key=value from placement_writer's summary line; fails if absent. */
long long h_writer_field(const char *line, const char *key);

/*
 * The scenario of Placement-protocol writers (placement_writer) beside
 * the worker (test_concurrency, test_galera): database name reset, one
 * provider, healthy consumers (generation 5, 2 allocations each) and
 * incomplete ones ('gone-%08d', 3 allocations each, no row; one of them
 * spelt differently, the same by the collation).
 */
void h_seed_consumers(const char *name, size_t healthy, size_t incomplete);
/* Distinct consumer ids in allocations with no consumers row. */
long long h_incomplete_left(const char *name);
/* No allocation without its consumer, no consumer twice. */
void h_assert_consistent(const char *name);
/* h_assert_consistent, and after writers committed that many writes:
 * every consumer has allocations, each write bumped one generation once
 * (none lost, none doubled), each consumer has 2 or 3 allocations. */
void h_assert_writer_invariants(
    const char *name, long long healthy, long long committed);
/* argv (12 slots) of "placement-janitor --config cfg --format json
 * --batch-size N --pass incomplete_consumers repair". */
void h_janitor_argv(const char **argv, const char *cfg, const char *batch);

/* As h_config_db, connecting over TCP to the servers in hosts (the
 * database.hosts list) instead of PJ_TEST_SOCKET. */
char *h_config_hosts(
    const char *name, const char *hosts, const char *extra_yaml);

/* Removes temporary files the harness made. */
void h_cleanup(void);

#endif
