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
/* What a test program that cannot run (why; hint: how to fix it, or NULL)
 * returns from main: 77 (skip) when PJ_TEST_ALLOW_SKIP=1 and CI is not
 * "true", else 1. Says which, and why, on stderr. */
int h_cannot_run(const char *why, const char *hint);

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

struct pj_config;
struct pj_ctx;
/* A pass context as the engine makes it, for running one batch by hand:
 * cfg from the defaults, connected to database name, run id "by-hand". */
void h_pass_ctx(
    struct pj_ctx *ctx, struct pj_config *cfg, const char *name, bool archive);
/* Runs sql with its n parameters on db in a transaction of its own, rolled
 * back: the status, e.g. PJ_ERETRY when a row lock held elsewhere made it
 * give up. */
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

/* argv (16 slots) of "--config config --format json", then args
 * (NULL-ended), for h_start. */
void h_json_argv(
    const char **argv, const char *config, const char *const *args);
/* h_run with "--config config --format json" before args (NULL-ended). */
struct h_result h_run_json(const char *config, const char *const *args);

/* Fails the test, with both outputs, unless r exited with code. */
void h_expect_exit(const struct h_result *r, int code, const char *what);

/* Waits for a helper process the test forked; fails unless it exited 0. */
void h_reap(pid_t pid);

/*
 * Forks a session on database name that runs the statements of sql (a
 * NULL-ended list, each with the n parameters p) in one transaction, holds
 * their locks for hold_ms, then commits (or rolls back), as a slow
 * Placement request would. Returns once the statements ran; h_reap() the
 * pid.
 */
pid_t h_hold(const char *name, const char *const *sql, const struct pj_param *p,
    size_t n, int hold_ms, bool commit);

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
/* As h_config_db, connecting over TCP to the servers in hosts (the
 * database.hosts list, e.g. "127.0.0.1:P1, 127.0.0.1:P2") as root. */
char *h_config_hosts(
    const char *name, const char *hosts, const char *extra_yaml);

/*
 * The placement-janitor binary running in the background: standard input
 * /dev/null, output in two pipes the test may read as it goes
 * (h_proc_wait_log, h_proc_read) before h_finish.
 */
struct h_proc {
	pid_t pid;
	int out_fd, err_fd; /* pipes from its stdout and stderr; -1 closed */
	char *err;          /* stderr read so far, NUL-terminated, or NULL */
	size_t err_len, err_cap;
};

/* h_run without waiting: the process runs as uid (and gid) as_uid
 * unless as_uid is (uid_t)-1. Finish it with h_finish. */
struct h_proc h_start(
    const char *const *argv, const char *const *env, uid_t as_uid);
/*
 * Reads the process's stderr until it holds text count times, the process
 * closes it, or timeout_ms passes. Returns the occurrences seen.
 */
size_t h_proc_wait_log(
    struct h_proc *p, const char *text, size_t count, long timeout_ms);
/* Reads what the process writes to stderr for up to wait_ms, so that
 * a verbose log cannot fill the pipe and stall it. */
void h_proc_read(struct h_proc *p, long wait_ms);
/* Reads a started process's output to its end (stderr including what was
 * read before) and reaps it. */
struct h_result h_finish(struct h_proc *p);
/* h_start (as ourselves) for another program, path, e.g. PJ_WRITER. */
struct h_proc h_start_program(
    const char *path, const char *const *argv, const char *const *env);
/* True while a started process has not exited (it stays for h_finish). */
bool h_proc_running(const struct h_proc *p);
/* Waits at most timeout_ms for a started process to exit, reading its
 * stderr meanwhile: true once it has (h_finish then returns at once),
 * false if it still runs. */
bool h_proc_wait_exit(struct h_proc *p, long timeout_ms);

/*
 * A private mariadbd of one test, beside the shared sandbox, for tests that
 * stop, kill or reconfigure a server (which the shared one must never be):
 * scripts/sandbox-db.sh with its own directory, port and more mariadbd
 * options (PJ_SANDBOX_EXTRA_ARGS). The harness's SQL helpers talk to it
 * after h_server_use.
 */
struct h_server {
	char dir[256];
	char sock[300];
	int port; /* 0: socket only */
	char extra[1024];
	bool started;
};

/*
 * A TCP port on 127.0.0.1 that nothing listens on right now: one from
 * PJ_TEST_PORTS ("FIRST-LAST", none handed out twice) when set, else one
 * the kernel picks. -1 if none is free.
 */
int h_free_port(void);
/* Starts s in dir on a free TCP port of 127.0.0.1 with extra options (may
 * be ""); false, saying why on stderr, if it did not start. */
bool h_server_start(struct h_server *s, const char *dir, const char *extra);
/* As h_server_start, without TCP (--skip-networking): its socket only. */
bool h_server_start_local(
    struct h_server *s, const char *dir, const char *extra);
/* Starts s again (after h_server_kill or h_server_stop) in its directory,
 * on its port, with its options; true at once if it runs. */
bool h_server_start_again(struct h_server *s);
/* Stops s if it was started; s->started stays true if that failed. */
void h_server_stop(struct h_server *s);
/* SIGKILLs s's mariadbd (found by its pid file), as a crash would, and
 * waits until it is gone; h_server_start_again recovers it. */
void h_server_kill(struct h_server *s);
/* Points PJ_TEST_SOCKET (h_sql, h_query, h_config...) at s. */
void h_server_use(const struct h_server *s);
/* h_server_stop for each of all[0..n) and, once none runs, h_remove_tree
 * of top (a mkdtemp directory; set back to its "XXXXXX" template, so that
 * a second call does nothing). Safe from atexit. */
void h_servers_stop(struct h_server *const *all, size_t n, char *top);

/* Runs argv (argv[0] found on PATH) to its end; its exit status, 128 if
 * a signal ended it, -1 if it could not start. Output is not captured. */
int h_command(const char *const *argv);
/* rm -rf path (a test's own temporary directory). */
void h_remove_tree(const char *path);

/* Runs prefix SQL, then each file of paths (relative to the source tree,
 * NULL-terminated), as one client session (user variables and temporary
 * tables carry over); returns what the client printed (caller frees). */
char *h_sql_files(
    const char *name, const char *prefix, const char *const *paths);

/* Fails the test, with the log, unless r's stderr holds text (present)
 * or does not (!present). */
void h_expect_log(const struct h_result *r, const char *text, bool present);
/* Occurrences of needle in text, not overlapping. */
size_t h_count(const char *text, const char *needle);
/* CLOCK_MONOTONIC in milliseconds. */
long long h_now_ms(void);

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
/* argv (16 slots) for h_start: "--config cfg --format json --batch-size
 * batch --pass incomplete_consumers repair". */
void h_janitor_argv(const char **argv, const char *cfg, const char *batch);

/* Removes temporary files the harness made. */
void h_cleanup(void);

#endif
