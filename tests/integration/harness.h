/*
 * Helpers for integration tests against the sandbox MariaDB started by
 * scripts/sandbox-db.sh. Every function fails the running cmocka test on
 * error (these are tests: no status to check).
 */
#ifndef PJ_TESTS_HARNESS_H
#define PJ_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/db.h"

/*
 * Checks that the sandbox answers (PJ_TEST_SOCKET names its socket). If
 * not: exit 77 (skip) when PJ_TEST_ALLOW_SKIP=1 and CI is not "true",
 * saying why; otherwise print why and exit 1. Call first in main().
 */
void h_require_sandbox(void);

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
/* Fails the test, naming what, unless h_query(name, sql) is want. */
void h_expect_query(
    const char *name, const char *sql, const char *want, const char *what);
/* h_query as a number. */
long long h_query_int(const char *name, const char *sql);
/* A checksum of every table of database name (CHECKSUM TABLE ... EXTENDED
 * over all of them), to compare before and after. Caller frees. */
char *h_checksum(const char *name);

/* Connects through the project's db layer as root to database name. */
struct pj_db *h_connect(const char *name);
/* As h_connect, giving up on a row lock after lock_wait_ms (whole seconds
 * on the server, at least 1). */
struct pj_db *h_connect_waiting(const char *name, int64_t lock_wait_ms);
/* Runs sql with n parameters on db in a transaction of its own and rolls
 * it back: its status (PJ_ERETRY when a row lock was not granted in time,
 * PJ_OK when it ran). To probe another session's locks. */
int h_try_exec(
    struct pj_db *db, const char *sql, const struct pj_param *p, size_t n);

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

/* A number field of the first pass in a JSON report, -1 if absent. */
long long h_json_field(const char *json, const char *field);

/* A number field of the named pass in a JSON report, -1 if absent. */
long long h_pass_field(const char *pass, const char *json, const char *field);

/* Whether the named pass's object in a JSON report holds member, e.g.
 * "\"scope\":\"not_applicable\"". */
bool h_pass_has(const char *pass, const char *json, const char *member);

/* h_run with "--config config --format json" before args (NULL-ended). */
struct h_result h_run_json(const char *config, const char *const *args);

/* Fails the test, with both outputs, unless r exited with code. */
void h_expect_exit(const struct h_result *r, int code, const char *what);

/* Waits for a helper process the test forked; fails unless it exited 0. */
void h_reap(pid_t pid);

/* As h_config_db, connecting as user instead of root. */
char *h_config_user(const char *name, const char *user, const char *db_yaml,
    const char *extra_yaml);
/*
 * h_config_db for a TCP connection to host:port as user (no socket),
 * e.g. a private server of h_server_start. db_yaml may add a password or
 * TLS settings.
 */
char *h_config_tcp(const char *name, const char *host, int port,
    const char *user, const char *db_yaml, const char *extra_yaml);

/* A running placement-janitor started by h_start. */
struct h_proc {
	pid_t pid;
	int out_fd, err_fd; /* pipes from its stdout and stderr */
};

/* h_run without waiting: the process runs as uid (and gid) as_uid
 * unless as_uid is (uid_t)-1. Finish it with h_finish. */
struct h_proc h_start(
    const char *const *argv, const char *const *env, uid_t as_uid);
/* Reads a started process's output to its end and reaps it. */
struct h_result h_finish(struct h_proc *p);

/*
 * A private mariadbd of one test: scripts/sandbox-db.sh with its own
 * directory, a free TCP port on 127.0.0.1 and more mariadbd options
 * (PJ_SANDBOX_EXTRA_ARGS). The harness's SQL helpers talk to it after
 * h_server_use.
 */
struct h_server {
	char dir[256];
	char sock[300];
	int port;
	bool started;
};

/* A TCP port on 127.0.0.1 that nothing listens on right now, or -1. */
int h_free_port(void);
/* Starts s in dir with extra options (may be ""); false, saying why on
 * stderr, if it did not start. */
bool h_server_start(struct h_server *s, const char *dir, const char *extra);
/* Stops s if it was started; s->started stays true if that failed. */
void h_server_stop(struct h_server *s);
/* Points PJ_TEST_SOCKET (h_sql, h_query, h_config...) at s. */
void h_server_use(const struct h_server *s);
/* Runs argv (argv[0] found on PATH) to its end; its exit status, 128 if
 * a signal ended it, -1 if it could not start. Output is not captured. */
int h_command(const char *const *argv);
/* rm -rf path (a test's own temporary directory). */
void h_remove_tree(const char *path);

/* Removes temporary files the harness made. */
void h_cleanup(void);

#endif
