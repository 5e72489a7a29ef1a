/*
 * The only database API the rest of the program sees: connections,
 * prepared statements with bound parameters, transactions, and one place
 * that decides what a database error means (retry, reconnect or fail).
 */
#ifndef PJ_COMMON_DB_H
#define PJ_COMMON_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/error.h"

#define PJ_DB_TEXT_MAX 256  /* host, user, names */
#define PJ_DB_PATH_MAX 1024 /* sockets, files */
#define PJ_MAX_PARAMS 16
#define PJ_MAX_COLUMNS 16
#define PJ_DB_MAX_HOSTS 16 /* entries of database.hosts */

enum pj_tls_mode {
	PJ_TLS_DISABLED,        /* plain text */
	PJ_TLS_PREFERRED,       /* TLS when the server offers it */
	PJ_TLS_REQUIRED,        /* TLS or no connection; no verification */
	PJ_TLS_VERIFY_CA,       /* TLS, server certificate checked */
	PJ_TLS_VERIFY_IDENTITY, /* and its name matches the host */
};

/* A server's TCP address. */
struct pj_db_addr {
	char host[PJ_DB_TEXT_MAX];
	int64_t port;
};

/* Where and how to connect; filled by config/, read by common/db.c. */
struct pj_db_config {
	char host[PJ_DB_TEXT_MAX]; /* "" with a socket */
	int64_t port;
	/* database.hosts: servers tried in order (the nodes of a Galera
	 * cluster); when n_hosts > 0 they replace host and port. */
	char hosts_list[PJ_DB_PATH_MAX]; /* as written in the file */
	struct pj_db_addr hosts[PJ_DB_MAX_HOSTS];
	size_t n_hosts;
	char socket[PJ_DB_PATH_MAX]; /* unix socket path, or "" */
	char name[PJ_DB_TEXT_MAX];   /* the Placement schema */
	char user[PJ_DB_TEXT_MAX];
	/* Secrets: at most one source is set. Never logged or printed. */
	char password[PJ_DB_TEXT_MAX]; /* inline, from a 0600 config */
	char password_file[PJ_DB_PATH_MAX];
	char password_env[PJ_DB_TEXT_MAX]; /* name of an environment variable */
	char option_file[PJ_DB_PATH_MAX];  /* a MariaDB option file ... */
	char option_group[PJ_DB_TEXT_MAX]; /* ... and its group */
	enum pj_tls_mode tls_mode;
	char tls_ca[PJ_DB_PATH_MAX];
	char tls_cert[PJ_DB_PATH_MAX];
	char tls_key[PJ_DB_PATH_MAX];
	int64_t connect_timeout_ms;
	int64_t read_timeout_ms;
	int64_t write_timeout_ms;
	int64_t lock_wait_timeout_ms; /* innodb_lock_wait_timeout, >= 1 s */
};

struct pj_db;   /* one connection */
struct pj_stmt; /* one prepared statement on it */

enum pj_param_type { PJ_PARAM_INT, PJ_PARAM_TEXT, PJ_PARAM_NULL };

/* One bound value. Text is not copied: it must outlive the execute. */
struct pj_param {
	enum pj_param_type type;
	int64_t num;
	const char *text;
	size_t len; /* of text; 0 with PJ_TEXT means strlen(text) */
};

#define PJ_INT(v) ((struct pj_param){ .type = PJ_PARAM_INT, .num = (v) })
#define PJ_TEXT(s) ((struct pj_param){ .type = PJ_PARAM_TEXT, .text = (s) })
#define PJ_TEXTN(s, n) \
	((struct pj_param){ .type = PJ_PARAM_TEXT, .text = (s), .len = (n) })
#define PJ_NULL ((struct pj_param){ .type = PJ_PARAM_NULL })

/*
 * Connects as cfg says (utf8mb4, timeouts, TLS), reads the password from
 * its one configured source and wipes it after use, then sets the session
 * (lock wait timeout, UTC time zone, REPEATABLE READ). With cfg->hosts,
 * tries them in order while one is unreachable. On failure *out is
 * untouched and err says why (the last host's failure): PJ_ECONN
 * (unreachable), PJ_EACCESS (denied), PJ_ECONFIG (bad TLS or secret
 * file), PJ_EDB. cfg is copied.
 */
int pj_db_connect(const struct pj_db_config *cfg, struct pj_db **out,
    struct pj_error *err) PJ_MUSTCHECK;
/* Drops the connection and connects again with the same settings. Every
 * statement prepared on the old connection must have been closed. With
 * cfg->hosts it moves on: the next host first, around the list, the one
 * it left last (a lost or refused node is the reason to reconnect). */
int pj_db_reconnect(struct pj_db *db, struct pj_error *err) PJ_MUSTCHECK;
/* "host:port" or the socket path of the current (or last tried) server,
 * for logs; valid while db is open. */
const char *pj_db_endpoint(const struct pj_db *db);
void pj_db_close(struct pj_db *db);
/* "10.11.6-MariaDB-0+deb12u1", valid while db is open. */
const char *pj_db_server_version(const struct pj_db *db);
/* The TLS cipher of the session, "" when it is not encrypted. */
const char *pj_db_tls_cipher(const struct pj_db *db);

int pj_db_begin(struct pj_db *db, struct pj_error *err) PJ_MUSTCHECK;
/* A deadlock at COMMIT is PJ_ECERT: Galera's certification failed (no
 * lock is taken at COMMIT otherwise); retryable, as PJ_ERETRY. */
int pj_db_commit(struct pj_db *db, struct pj_error *err) PJ_MUSTCHECK;
/* Rolls back if a transaction is open; ignores errors (the connection may
 * be gone, which rolls back too). */
void pj_db_rollback(struct pj_db *db);

/* Prepares sql, a compile-time constant of the caller. */
int pj_stmt_prepare(struct pj_db *db, const char *sql, struct pj_stmt **out,
    struct pj_error *err) PJ_MUSTCHECK;
/* Binds n parameters, executes and buffers the whole result. */
int pj_stmt_exec(struct pj_stmt *st, const struct pj_param *p, size_t n,
    struct pj_error *err) PJ_MUSTCHECK;
/* Next row into the statement's buffers; *row false at the end. */
int pj_stmt_fetch(
    struct pj_stmt *st, bool *row, struct pj_error *err) PJ_MUSTCHECK;
/* Column values of the current row (0-based). A NULL reads as 0 or "". */
bool pj_stmt_is_null(const struct pj_stmt *st, unsigned int col);
int64_t pj_stmt_int(const struct pj_stmt *st, unsigned int col);
/* NUL-terminated text, valid until the next fetch or exec; *len may be
 * NULL. Bytes past the column's buffer are never returned. */
const char *pj_stmt_text(
    const struct pj_stmt *st, unsigned int col, size_t *len);
/* Rows changed by the last execute (INSERT, UPDATE, DELETE). */
uint64_t pj_stmt_affected(const struct pj_stmt *st);
/* Rows in the buffered result of the last execute. */
uint64_t pj_stmt_rows(const struct pj_stmt *st);
void pj_stmt_close(struct pj_stmt *st);

/*
 * The prepared statement for sql (a compile-time constant of the caller,
 * found again by its address), kept by db for the next call with the
 * same sql until db reconnects or closes: for statements run once per
 * batch, where preparing costs a round trip and a parse each time. db
 * keeps the 16 used last; so a statement stays valid while fewer than 15
 * other sql texts go through pj_db_stmt or pj_db_exec. Do not close it.
 */
int pj_db_stmt(struct pj_db *db, const char *sql, struct pj_stmt **out,
    struct pj_error *err) PJ_MUSTCHECK;

/* Execute sql (kept prepared, as pj_db_stmt): for a statement whose rows
 * are not read. */
int pj_db_exec(struct pj_db *db, const char *sql, const struct pj_param *p,
    size_t n, uint64_t *affected, struct pj_error *err) PJ_MUSTCHECK;

/*
 * For a SHOW statement wider than PJ_MAX_COLUMNS whose columns move
 * between server versions (SHOW ALL SLAVES STATUS: 62 in MariaDB 10.11):
 * runs sql, a compile-time constant of the caller without parameters, and
 * reads the column called column (ASCII case ignored) of every row as an
 * integer into values[] (is_null[] for SQL NULL), at most max rows;
 * *n_rows is how many. Fails with PJ_EDB when the result has no such
 * column or more rows, otherwise as pj_stmt_exec; on failure the arrays
 * and *n_rows are left as they were.
 */
int pj_db_show_column(struct pj_db *db, const char *sql, const char *column,
    int64_t *values, bool *is_null, size_t max, size_t *n_rows,
    struct pj_error *err) PJ_MUSTCHECK;

/* The status a database error number stands for (the one table). */
enum pj_status pj_db_classify(unsigned int db_errno);

#endif
