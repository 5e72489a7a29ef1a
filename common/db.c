/* The database layer: the one file that talks to libmariadb. */
#include "common/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysql/plugin_auth.h>
#include <mysqld_error.h>

#include "common/secret.h"
#include "common/strings.h"

/* Smallest result buffer: any integer or date as text fits. */
#define COL_MIN_CAP 64
/* Statements kept prepared by pj_db_stmt: more than a pass runs per batch. */
#define STMT_CACHE_SIZE 16

struct pj_db {
	MYSQL *conn; /* NULL after a failed reconnect */
	struct pj_db_config cfg;
	bool in_tx;
	size_t host_index; /* into cfg.hosts, when it has entries */
	char endpoint[PJ_DB_PATH_MAX];
	/* pj_db_stmt's statements, prepared on this connection, and when
	 * each was last asked for (a count of calls): the least recent one
	 * makes room. */
	struct pj_stmt *cached[STMT_CACHE_SIZE];
	uint64_t cached_use[STMT_CACHE_SIZE];
	uint64_t uses;
};

struct pj_col {
	char *buf; /* text of the column, NUL-terminated; cap bytes */
	size_t cap;
	int64_t num; /* integer columns */
	unsigned long len;
	my_bool is_null;
	my_bool truncated;
	bool integer;
};

struct pj_stmt {
	struct pj_db *db;
	MYSQL_STMT *stmt;
	const char *sql;
	unsigned int ncols;
	bool have_row;
	/* The last exec or fetch failed: run again, libmariadb 3.3 may give
	 * the old error or wait for rows that never come (test_db), so
	 * pj_db_stmt prepares it anew. */
	bool failed;
	uint64_t affected;
	uint64_t rows;
	MYSQL_BIND res[PJ_MAX_COLUMNS];
	struct pj_col col[PJ_MAX_COLUMNS];
};

static const char SQL_LOCK_WAIT[] = "SET SESSION innodb_lock_wait_timeout = ?";
static const char SQL_TIME_ZONE[] = "SET time_zone = '+00:00'";
static const char SQL_ISOLATION[] =
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ";
static const char SQL_BEGIN[] = "START TRANSACTION";

enum pj_status
pj_db_classify(unsigned int db_errno)
{
	switch (db_errno) {
	case 0:
		return PJ_OK;
	/* Redo the whole transaction. On Galera a certification failure
	 * surfaces as 1213 at any statement or at COMMIT. */
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
	case ER_XA_RBDEADLOCK:
	/* InnoDB's words for a deadlock on a table's AUTO-INC lock during
	 * INSERT ... SELECT (seen by the bench under concurrent writers). */
	case ER_AUTOINC_READ_FAILED:
	/* A table changed under a prepared statement (libmariadb 3.3 will
	 * not rebind a new column count): the redo prepares again. */
	case CR_NEW_STMT_METADATA:
		return PJ_ERETRY;
	/* The connection is gone or was never made: reconnect, redo. */
	case CR_SOCKET_CREATE_ERROR:
	case CR_CONNECTION_ERROR:
	case CR_CONN_HOST_ERROR:
	case CR_IPSOCK_ERROR:
	case CR_UNKNOWN_HOST:
	case CR_SERVER_GONE_ERROR:
	case CR_SERVER_LOST:
	case CR_SERVER_LOST_EXTENDED:
	case CR_ERR_NET_READ:
	case CR_ERR_NET_WRITE:
	case ER_CON_COUNT_ERROR:
	case ER_SERVER_SHUTDOWN:
	case ER_CONNECTION_KILLED:
	/* Galera: this node is not (yet) part of the primary component. */
	case ER_UNKNOWN_COM_ERROR:
		return PJ_ECONN;
	case ER_DBACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_ERROR:
	case ER_TABLEACCESS_DENIED_ERROR:
	case ER_COLUMNACCESS_DENIED_ERROR:
	case ER_SPECIFIC_ACCESS_DENIED_ERROR:
	case ER_PROCACCESS_DENIED_ERROR:
	case ER_ACCESS_DENIED_NO_PASSWORD_ERROR:
	case ER_MUST_CHANGE_PASSWORD:
	case ER_MUST_CHANGE_PASSWORD_LOGIN:
	case ER_ACCOUNT_HAS_BEEN_LOCKED:
		return PJ_EACCESS;
	case ER_BAD_DB_ERROR:
	case ER_BAD_FIELD_ERROR:
	case ER_NO_SUCH_TABLE:
		return PJ_ESCHEMA;
	/* A value the column cannot hold (invalid UTF-8, too long). */
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_INVALID_CHARACTER_STRING:
	case ER_DATA_TOO_LONG:
		return PJ_EINVAL;
	/* TLS refused or a certificate failed verification: retrying will
	 * not help, the TLS settings or the server must change. */
	case CR_SSL_CONNECTION_ERROR:
		return PJ_ECONFIG;
	case CR_OUT_OF_MEMORY:
		return PJ_ENOMEM;
	/* Only misuse of the client library produces this. */
	case CR_COMMANDS_OUT_OF_SYNC:
		return PJ_EINTERNAL;
	default:
		return PJ_EDB;
	}
}

/*
 * Records the error now held by stmt (or conn) in err, number, SQLSTATE
 * and text together, before another call can overwrite them. what is the
 * statement (only its start is kept) or a word like "connect".
 */
static int
db_fail(MYSQL *conn, MYSQL_STMT *stmt, const char *what, struct pj_error *err)
{
	unsigned int no;
	const char *state, *msg;
	enum pj_status code;

	if (stmt != NULL) {
		no = mysql_stmt_errno(stmt);
		state = mysql_stmt_sqlstate(stmt);
		msg = mysql_stmt_error(stmt);
	} else {
		no = mysql_errno(conn);
		state = mysql_sqlstate(conn);
		msg = mysql_error(conn);
	}
	code = pj_db_classify(no);
	/* Older Galera servers word a brute-force abort (a write set from
	 * another node won) so; MariaDB 10.11 says "Deadlock found". */
	if (code == PJ_ERETRY && strstr(msg, "WSREP detected deadlock") != NULL)
		code = PJ_ECERT;
	if (code == PJ_OK) /* a failure the library did not explain */
		return pj_error_set(
		    err, PJ_EDB, "%.60s: failed without an error number", what);
	if (code == PJ_ECONFIG)
		return pj_error_set_db(err, code, no, state,
		    "%.60s: tls: %s (check database.tls.mode and "
		    "database.tls.ca)",
		    what, msg);
	return pj_error_set_db(err, code, no, state, "%.60s: %s", what, msg);
}

static int
conn_gone(const char *what, struct pj_error *err)
{
	return pj_error_set_db(err, PJ_ECONN, CR_SERVER_GONE_ERROR, "HY000",
	    "%.60s: not connected (the last reconnect failed)", what);
}

static unsigned int
seconds_up(int64_t ms)
{
	int64_t s = (ms + 999) / 1000;

	if (s > 0x7fffffff)
		s = 0x7fffffff;
	return (unsigned int)s;
}

static const char *
opt_str(const char *s)
{
	return s[0] != '\0' ? s : NULL;
}

static int
set_timeouts(MYSQL *conn, const struct pj_db_config *cfg)
{
	const struct {
		enum mysql_option opt;
		int64_t ms;
	} t[] = {
		{ MYSQL_OPT_CONNECT_TIMEOUT, cfg->connect_timeout_ms },
		{ MYSQL_OPT_READ_TIMEOUT, cfg->read_timeout_ms },
		{ MYSQL_OPT_WRITE_TIMEOUT, cfg->write_timeout_ms },
	};
	unsigned int s;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].ms <= 0)
			continue;
		s = seconds_up(t[i].ms);
		if (mysql_options(conn, t[i].opt, &s) != 0)
			return 1;
	}
	return 0;
}

/*
 * libmariadb 3.3 authenticates in plain text when the server offers no
 * TLS, whatever MYSQL_OPT_SSL_ENFORCE says, unless the host name is
 * verified too: a server (or a man in the middle) that hides TLS would
 * get the account's authentication reply, and check_tls could only drop
 * the session afterwards. So the modes that demand TLS name this guard as
 * the first authentication plugin. The library runs it after reading the
 * server's greeting and before sending anything: without TLS on offer it
 * fails the connection there; otherwise it answers empty, which makes the
 * library start TLS and check the certificate first, and the server then
 * switches to the account's own plugin, which runs inside TLS.
 */
#define TLS_GUARD "pj_tls_guard"

/* mysql/client_plugin.h's authentication plugin, declared here because
 * that header includes one libmariadb-dev does not ship (ma_compress.h).
 * The layout is the library's ABI (interface version 1.0). */
#define AUTH_PLUGIN_TYPE 2
#define AUTH_PLUGIN_INTERFACE 0x0100

struct auth_plugin {
	MYSQL_CLIENT_PLUGIN_HEADER
	int (*authenticate_user)(MYSQL_PLUGIN_VIO *vio, MYSQL *conn);
};

static int
tls_guard_auth(MYSQL_PLUGIN_VIO *vio, MYSQL *conn)
{
	if ((conn->server_capabilities & CLIENT_SSL) == 0) {
		conn->net.last_errno = CR_SSL_CONNECTION_ERROR;
		pj_strlcpy(
		    conn->net.sqlstate, "HY000", sizeof(conn->net.sqlstate));
		pj_strlcpy(conn->net.last_error,
		    "the server offers no TLS (nothing was sent to it)",
		    sizeof(conn->net.last_error));
		return CR_ERROR;
	}
	if (vio->write_packet(vio, (const unsigned char *)"", 0) != 0)
		return CR_ERROR;
	return CR_OK;
}

/* The library's plugin registry keeps a pointer to it: never changed. */
static struct auth_plugin tls_guard = { AUTH_PLUGIN_TYPE, AUTH_PLUGIN_INTERFACE,
	TLS_GUARD, "placement-janitor",
	"refuses servers without TLS before "
	"authenticating",
	{ 1, 0, 0 }, "GPL", NULL, NULL, NULL, NULL, tls_guard_auth };

/*
 * TLS options, as read in libmariadb 3.3's source: MYSQL_OPT_SSL_ENFORCE
 * asks for TLS; a CA makes OpenSSL verify the chain; VERIFY_SERVER_CERT
 * adds the host name check. So "preferred" is ENFORCE alone, and the
 * modes that demand TLS add the guard above and are checked again after
 * connecting (check_tls).
 */
static int
set_tls(MYSQL *conn, const struct pj_db_config *cfg, struct pj_error *err)
{
	my_bool on = 1, off = 0;
	enum pj_tls_mode mode = cfg->tls_mode;
	int bad = 0;

	if (mode == PJ_TLS_DISABLED)
		return mysql_options(conn, MYSQL_OPT_SSL_ENFORCE, &off) != 0
		    ? pj_error_set(err, PJ_EINTERNAL, "tls: option refused")
		    : PJ_OK;
	if ((mode == PJ_TLS_VERIFY_CA || mode == PJ_TLS_VERIFY_IDENTITY) &&
	    cfg->tls_ca[0] == '\0')
		return pj_error_set(err, PJ_ECONFIG,
		    "tls: database.tls.mode verify_ca and verify_identity "
		    "need database.tls.ca");
	bad |= mysql_options(conn, MYSQL_OPT_SSL_ENFORCE, &on);
	if (cfg->tls_cert[0] != '\0')
		bad |= mysql_options(conn, MYSQL_OPT_SSL_CERT, cfg->tls_cert);
	if (cfg->tls_key[0] != '\0')
		bad |= mysql_options(conn, MYSQL_OPT_SSL_KEY, cfg->tls_key);
	/* Only the verifying modes give the CA: with one, 3.3 verifies. */
	if (mode == PJ_TLS_VERIFY_CA || mode == PJ_TLS_VERIFY_IDENTITY)
		bad |= mysql_options(conn, MYSQL_OPT_SSL_CA, cfg->tls_ca);
	bad |= mysql_options(conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
	    mode == PJ_TLS_VERIFY_IDENTITY ? &on : &off);
	if (mode != PJ_TLS_PREFERRED) {
		/* Registered once per process; later calls return it too. A
		 * failure must stop here: the library would then look for the
		 * plugin as a file in its plugin directory. */
		if (mysql_client_register_plugin(conn,
		        (struct st_mysql_client_plugin *)&tls_guard) == NULL)
			return pj_error_set(err, PJ_EINTERNAL,
			    "tls: cannot register the TLS guard: %s",
			    mysql_error(conn));
		bad |= mysql_options(conn, MYSQL_DEFAULT_AUTH, TLS_GUARD);
	}
	if (bad)
		return pj_error_set(err, PJ_EINTERNAL, "tls: option refused");
	return PJ_OK;
}

static int
set_options(MYSQL *conn, const struct pj_db_config *cfg, struct pj_error *err)
{
	my_bool off = 0, on = 1;
	unsigned int protocol = MYSQL_PROTOCOL_SOCKET;
	int bad = 0;

	/* A group alone would make libmariadb read the system's my.cnf: the
	 * group only applies to the configured file. */
	if (cfg->option_file[0] != '\0') {
		bad |= mysql_options(
		    conn, MYSQL_READ_DEFAULT_FILE, cfg->option_file);
		if (cfg->option_group[0] != '\0')
			bad |= mysql_options(
			    conn, MYSQL_READ_DEFAULT_GROUP, cfg->option_group);
	}
	if (cfg->socket[0] != '\0')
		bad |= mysql_options(conn, MYSQL_OPT_PROTOCOL, &protocol);
	bad |= mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	/* Reconnecting is the engine's decision (pj_db_reconnect): a silent
	 * reconnect would lose the transaction and the session settings. */
	bad |= mysql_options(conn, MYSQL_OPT_RECONNECT, &off);
	bad |= mysql_options(conn, MYSQL_REPORT_DATA_TRUNCATION, &on);
	bad |= set_timeouts(conn, cfg);
	if (bad)
		return pj_error_set(err, PJ_EINTERNAL,
		    "connect: the client library refused an option");
	return set_tls(conn, cfg, err);
}

static const char *
tls_mode_name(enum pj_tls_mode mode)
{
	switch (mode) {
	case PJ_TLS_DISABLED:
		return "disabled";
	case PJ_TLS_PREFERRED:
		return "preferred";
	case PJ_TLS_REQUIRED:
		return "required";
	case PJ_TLS_VERIFY_CA:
		return "verify_ca";
	case PJ_TLS_VERIFY_IDENTITY:
		return "verify_identity";
	}
	return "unknown";
}

static int
check_tls(MYSQL *conn, const struct pj_db_config *cfg, struct pj_error *err)
{
	if (cfg->tls_mode == PJ_TLS_DISABLED ||
	    cfg->tls_mode == PJ_TLS_PREFERRED)
		return PJ_OK;
	if (mysql_get_ssl_cipher(conn) != NULL)
		return PJ_OK;
	return pj_error_set(err, PJ_ECONFIG,
	    "tls: database.tls.mode is %s but the server did not start TLS",
	    tls_mode_name(cfg->tls_mode));
}

static int
set_session(struct pj_db *db, struct pj_error *err)
{
	int64_t lock_wait_s = seconds_up(db->cfg.lock_wait_timeout_ms);
	struct pj_param p = PJ_INT(lock_wait_s < 1 ? 1 : lock_wait_s);
	int rc;

	rc = pj_db_exec(db, SQL_LOCK_WAIT, &p, 1, NULL, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_TIME_ZONE, NULL, 0, NULL, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_ISOLATION, NULL, 0, NULL, err);
	/* Statements outside BEGIN..COMMIT commit at once. */
	if (rc == PJ_OK && mysql_autocommit(db->conn, 1) != 0)
		rc = db_fail(db->conn, NULL, "autocommit", err);
	return rc;
}

/* Closes pj_db_stmt's statements: before their connection goes. */
static void
drop_cached(struct pj_db *db)
{
	size_t i;

	for (i = 0; i < STMT_CACHE_SIZE; i++) {
		pj_stmt_close(db->cached[i]);
		db->cached[i] = NULL;
		db->cached_use[i] = 0;
	}
}

/* Opens db->conn as db->cfg says. On failure db->conn stays NULL. */
static int
open_conn(struct pj_db *db, struct pj_error *err)
{
	const struct pj_db_config *cfg = &db->cfg;
	const char *host = cfg->host;
	int64_t port = cfg->port;
	char password[PJ_DB_TEXT_MAX];
	char what[PJ_DB_PATH_MAX + 16] = "connect";
	bool have = false;
	MYSQL *conn = NULL;
	MYSQL *ok;
	int rc;

	if (cfg->n_hosts > 0) {
		host = cfg->hosts[db->host_index].host;
		port = cfg->hosts[db->host_index].port;
	}
	if (cfg->socket[0] != '\0')
		pj_strlcpy(db->endpoint, cfg->socket, sizeof(db->endpoint));
	else
		snprintf(db->endpoint, sizeof(db->endpoint), "%s:%lld", host,
		    (long long)port);
	/* Which of several servers failed is worth saying. */
	if (cfg->n_hosts > 0)
		snprintf(what, sizeof(what), "connect %s", db->endpoint);
	conn = mysql_init(NULL);
	if (conn == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "connect: out of memory");
		goto out;
	}
	rc = set_options(conn, cfg, err);
	if (rc)
		goto out;
	rc = pj_secret_read(cfg, password, sizeof(password), &have, err);
	if (rc)
		goto out;
	/* Empty settings are NULL, so an option file can supply them. Without
	 * a password source and option file, "" keeps libmariadb from taking
	 * one from MYSQL_PWD, a source nobody configured. */
	if (!have && cfg->option_file[0] == '\0') {
		password[0] = '\0';
		have = true;
	}
	ok = mysql_real_connect(conn, opt_str(host), opt_str(cfg->user),
	    have ? password : NULL, opt_str(cfg->name), (unsigned int)port,
	    opt_str(cfg->socket), 0);
	pj_wipe(password, sizeof(password));
	/* The library keeps copies (ours, and an option file's) for a
	 * reconnect we never let it make: wipe them now. */
	if (conn->passwd != NULL)
		pj_wipe(conn->passwd, strlen(conn->passwd));
	if (conn->options.password != NULL)
		pj_wipe(conn->options.password, strlen(conn->options.password));
	if (ok == NULL) {
		rc = db_fail(conn, NULL, what, err);
		goto out;
	}
	rc = check_tls(conn, cfg, err);
	if (rc)
		goto out;
	db->conn = conn;
	conn = NULL;
	db->in_tx = false;
	rc = set_session(db, err);
	if (rc) {
		/* set_session's statements are kept: they go with it. */
		drop_cached(db);
		mysql_close(db->conn);
		db->conn = NULL;
	}
out:
	if (conn != NULL)
		mysql_close(conn);
	return rc;
}

int
pj_db_connect(
    const struct pj_db_config *cfg, struct pj_db **out, struct pj_error *err)
{
	struct pj_db *db = NULL;
	int rc;

	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "connect: out of memory");
		goto out;
	}
	db->cfg = *cfg;
	/* The first host that answers; a refusal (not an unreachable
	 * server) would be the same on every node: stop there. */
	for (db->host_index = 0;; db->host_index++) {
		rc = open_conn(db, err);
		if (rc != PJ_ECONN || db->host_index + 1 >= cfg->n_hosts)
			break;
		pj_error_clear(err);
	}
	if (rc)
		goto out;
	*out = db;
	db = NULL;
out:
	pj_db_close(db);
	return rc;
}

int
pj_db_reconnect(struct pj_db *db, struct pj_error *err)
{
	size_t tries = db->cfg.n_hosts > 0 ? db->cfg.n_hosts : 1, i;
	int rc = PJ_OK;

	drop_cached(db);
	if (db->conn != NULL)
		mysql_close(db->conn);
	db->conn = NULL;
	db->in_tx = false;
	for (i = 0; i < tries; i++) {
		if (db->cfg.n_hosts > 0)
			db->host_index = (db->host_index + 1) % db->cfg.n_hosts;
		if (i > 0)
			pj_error_clear(err);
		rc = open_conn(db, err);
		if (rc != PJ_ECONN)
			break;
	}
	return rc;
}

const char *
pj_db_endpoint(const struct pj_db *db)
{
	return db->endpoint;
}

void
pj_db_close(struct pj_db *db)
{
	if (db == NULL)
		return;
	drop_cached(db);
	if (db->conn != NULL)
		mysql_close(db->conn);
	/* The copied config may hold an inline password. */
	pj_wipe(&db->cfg, sizeof(db->cfg));
	free(db);
}

const char *
pj_db_server_version(const struct pj_db *db)
{
	if (db->conn == NULL)
		return "";
	return mysql_get_server_info(db->conn);
}

const char *
pj_db_tls_cipher(const struct pj_db *db)
{
	const char *cipher =
	    db->conn != NULL ? mysql_get_ssl_cipher(db->conn) : NULL;

	return cipher != NULL ? cipher : "";
}

int
pj_db_begin(struct pj_db *db, struct pj_error *err)
{
	if (db->conn == NULL)
		return conn_gone(SQL_BEGIN, err);
	/* A second BEGIN would silently commit the open transaction. */
	if (db->in_tx)
		return pj_error_set(
		    err, PJ_EINTERNAL, "begin: a transaction is already open");
	if (mysql_real_query(db->conn, SQL_BEGIN, sizeof(SQL_BEGIN) - 1) != 0)
		return db_fail(db->conn, NULL, SQL_BEGIN, err);
	db->in_tx = true;
	return PJ_OK;
}

int
pj_db_commit(struct pj_db *db, struct pj_error *err)
{
	if (db->conn == NULL)
		return conn_gone("COMMIT", err);
	if (!db->in_tx)
		return pj_error_set(
		    err, PJ_EINTERNAL, "commit: no transaction is open");
	/* On failure in_tx stays set: the caller's rollback then runs. */
	if (mysql_commit(db->conn) == 0) {
		db->in_tx = false;
		return PJ_OK;
	}
	/* COMMIT takes no lock: a deadlock there is Galera's certification
	 * failing (another node's conflicting write set was ordered first).
	 * Redone like any deadlock, told apart for the report. */
	if (mysql_errno(db->conn) == ER_LOCK_DEADLOCK)
		return pj_error_set_db(err, PJ_ECERT, ER_LOCK_DEADLOCK,
		    mysql_sqlstate(db->conn),
		    "COMMIT: certification failed: %s", mysql_error(db->conn));
	return db_fail(db->conn, NULL, "COMMIT", err);
}

void
pj_db_rollback(struct pj_db *db)
{
	if (db == NULL || !db->in_tx)
		return;
	db->in_tx = false;
	if (db->conn != NULL)
		(void)mysql_rollback(db->conn);
}

int
pj_stmt_prepare(struct pj_db *db, const char *sql, struct pj_stmt **out,
    struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	my_bool on = 1;
	int rc = PJ_OK;

	if (db->conn == NULL)
		return conn_gone(sql, err);
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "%.60s: out of memory", sql);
		goto out;
	}
	st->db = db;
	st->sql = sql;
	st->stmt = mysql_stmt_init(db->conn);
	if (st->stmt == NULL) {
		rc = db_fail(db->conn, NULL, sql, err);
		goto out;
	}
	if (mysql_stmt_prepare(st->stmt, sql, (unsigned long)strlen(sql)) !=
	        0 ||
	    mysql_stmt_attr_set(st->stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on) !=
	        0) {
		rc = db_fail(NULL, st->stmt, sql, err);
		goto out;
	}
	st->ncols = mysql_stmt_field_count(st->stmt);
	if (st->ncols > PJ_MAX_COLUMNS) {
		rc = pj_error_set(err, PJ_EINVAL,
		    "%.60s: %u columns, at most %d", sql, st->ncols,
		    PJ_MAX_COLUMNS);
		goto out;
	}
	*out = st;
	st = NULL;
out:
	pj_stmt_close(st);
	return rc;
}

static bool
is_integer_type(enum enum_field_types t)
{
	switch (t) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return true;
	default:
		return false;
	}
}

/* Grows a column's text buffer to hold need bytes; keeps it otherwise. */
static int
col_reserve(struct pj_col *c, size_t need)
{
	char *p;

	if (need <= c->cap)
		return 0;
	p = realloc(c->buf, need);
	if (p == NULL)
		return -1;
	c->buf = p;
	c->cap = need;
	return 0;
}

static void
col_bind(MYSQL_BIND *b, struct pj_col *c)
{
	memset(b, 0, sizeof(*b));
	b->length = &c->len;
	b->is_null = &c->is_null;
	b->error = &c->truncated;
	if (c->integer) {
		b->buffer_type = MYSQL_TYPE_LONGLONG;
		b->buffer = &c->num;
		b->buffer_length = sizeof(c->num);
	} else {
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = c->buf;
		b->buffer_length = (unsigned long)c->cap;
	}
}

/*
 * Binds the result columns of a stored result: integers as 64-bit
 * numbers, everything else as text in buffers sized from the longest
 * value stored (max_length), so fetching needs no allocation.
 */
static int
bind_result(struct pj_stmt *st, struct pj_error *err)
{
	MYSQL_FIELD *fields;
	MYSQL_RES *meta;
	unsigned int i;
	int rc = PJ_OK;

	meta = mysql_stmt_result_metadata(st->stmt);
	if (meta == NULL)
		return db_fail(NULL, st->stmt, st->sql, err);
	fields = mysql_fetch_fields(meta);
	for (i = 0; i < st->ncols && rc == PJ_OK; i++) {
		struct pj_col *c = &st->col[i];
		size_t need = (size_t)fields[i].max_length + 1;

		c->integer = is_integer_type(fields[i].type);
		/* Integers need the buffer only for pj_stmt_text. */
		if (c->integer || need < COL_MIN_CAP)
			need = COL_MIN_CAP;
		if (col_reserve(c, need) != 0)
			rc = pj_error_set(
			    err, PJ_ENOMEM, "%.60s: out of memory", st->sql);
		col_bind(&st->res[i], c);
	}
	mysql_free_result(meta);
	if (rc == PJ_OK && mysql_stmt_bind_result(st->stmt, st->res) != 0)
		rc = db_fail(NULL, st->stmt, st->sql, err);
	return rc;
}

static int
bind_params(MYSQL_BIND *b, unsigned long *len, const struct pj_param *p,
    size_t n, const char *sql, struct pj_error *err)
{
	size_t i;

	memset(b, 0, sizeof(*b) * n);
	for (i = 0; i < n; i++) {
		switch (p[i].type) {
		case PJ_PARAM_INT:
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].num;
			break;
		case PJ_PARAM_TEXT:
			if (p[i].text == NULL)
				return pj_error_set(err, PJ_EINVAL,
				    "%.60s: parameter %zu: NULL text", sql,
				    i + 1);
			len[i] = p[i].len != 0
			    ? (unsigned long)p[i].len
			    : (unsigned long)strlen(p[i].text);
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].text;
			b[i].buffer_length = len[i];
			b[i].length = &len[i];
			break;
		case PJ_PARAM_NULL:
			b[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		default:
			return pj_error_set(err, PJ_EINVAL,
			    "%.60s: parameter %zu: unknown type", sql, i + 1);
		}
	}
	return PJ_OK;
}

static int
stmt_exec(struct pj_stmt *st, const struct pj_param *p, size_t n,
    struct pj_error *err)
{
	MYSQL_BIND b[PJ_MAX_PARAMS];
	unsigned long len[PJ_MAX_PARAMS];
	unsigned int ncols;
	int rc;

	/* st is never NULL: pj_stmt_prepare sets it whenever it returns
	 * PJ_OK, which the analyzer cannot see through pj_error_set. */
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
	st->have_row = false;
	st->affected = 0;
	st->rows = 0;
	if (n > PJ_MAX_PARAMS || n != mysql_stmt_param_count(st->stmt))
		return pj_error_set(err, PJ_EINVAL,
		    "%.60s: %zu parameters given, %lu expected", st->sql, n,
		    mysql_stmt_param_count(st->stmt));
	rc = bind_params(b, len, p, n, st->sql, err);
	if (rc)
		return rc;
	(void)mysql_stmt_free_result(st->stmt);
	if ((n > 0 && mysql_stmt_bind_param(st->stmt, b) != 0) ||
	    mysql_stmt_execute(st->stmt) != 0)
		return db_fail(NULL, st->stmt, st->sql, err);
	st->affected = mysql_stmt_affected_rows(st->stmt);
	/* The server re-prepares after a table change: count again. */
	ncols = mysql_stmt_field_count(st->stmt);
	st->ncols = ncols <= PJ_MAX_COLUMNS ? ncols : 0;
	if (ncols > PJ_MAX_COLUMNS)
		return pj_error_set(err, PJ_EINVAL,
		    "%.60s: %u columns, at most %d", st->sql, ncols,
		    PJ_MAX_COLUMNS);
	if (st->ncols == 0)
		return PJ_OK;
	if (mysql_stmt_store_result(st->stmt) != 0)
		return db_fail(NULL, st->stmt, st->sql, err);
	st->rows = mysql_stmt_num_rows(st->stmt);
	return bind_result(st, err);
}

int
pj_stmt_exec(struct pj_stmt *st, const struct pj_param *p, size_t n,
    struct pj_error *err)
{
	int rc = stmt_exec(st, p, n, err);

	st->failed = rc != PJ_OK;
	return rc;
}

/*
 * A value longer than its buffer (a double as text can outgrow
 * max_length): grow the buffer, fetch that column again, and rebind,
 * because the library keeps its own copy of the buffer addresses.
 */
static int
refetch_truncated(struct pj_stmt *st, struct pj_error *err)
{
	unsigned int i;

	for (i = 0; i < st->ncols; i++) {
		struct pj_col *c = &st->col[i];

		if (!c->truncated)
			continue;
		if (c->integer)
			return pj_error_set(err, PJ_EDB,
			    "%.60s: column %u: integer out of range", st->sql,
			    i + 1);
		if (col_reserve(c, (size_t)c->len + 1) != 0)
			return pj_error_set(
			    err, PJ_ENOMEM, "%.60s: out of memory", st->sql);
		col_bind(&st->res[i], c);
		if (mysql_stmt_fetch_column(st->stmt, &st->res[i], i, 0) != 0)
			return db_fail(NULL, st->stmt, st->sql, err);
		c->truncated = 0;
	}
	if (mysql_stmt_bind_result(st->stmt, st->res) != 0)
		return db_fail(NULL, st->stmt, st->sql, err);
	return PJ_OK;
}

int
pj_stmt_fetch(struct pj_stmt *st, bool *row, struct pj_error *err)
{
	unsigned int i;
	int r;
	int rc;

	st->have_row = false;
	if (st->ncols == 0) {
		*row = false;
		return PJ_OK;
	}
	r = mysql_stmt_fetch(st->stmt);
	if (r == MYSQL_NO_DATA) {
		*row = false;
		return PJ_OK;
	}
	if (r != 0 && r != MYSQL_DATA_TRUNCATED) {
		st->failed = true;
		return db_fail(NULL, st->stmt, st->sql, err);
	}
	if (r == MYSQL_DATA_TRUNCATED) {
		rc = refetch_truncated(st, err);
		if (rc) {
			st->failed = true;
			return rc;
		}
	}
	for (i = 0; i < st->ncols; i++) {
		struct pj_col *c = &st->col[i];

		if (c->is_null) {
			c->num = 0;
			c->len = 0;
		}
		if (!c->integer)
			c->buf[c->len < c->cap ? c->len : c->cap - 1] = '\0';
	}
	st->have_row = true;
	*row = true;
	return PJ_OK;
}

static const struct pj_col *
col_at(const struct pj_stmt *st, unsigned int col)
{
	if (st == NULL || !st->have_row || col >= st->ncols)
		return NULL;
	return &st->col[col];
}

bool
pj_stmt_is_null(const struct pj_stmt *st, unsigned int col)
{
	const struct pj_col *c = col_at(st, col);

	return c == NULL || c->is_null;
}

int64_t
pj_stmt_int(const struct pj_stmt *st, unsigned int col)
{
	const struct pj_col *c = col_at(st, col);

	if (c == NULL || c->is_null)
		return 0;
	if (c->integer)
		return c->num;
	/* DECIMAL (SUM, for one) and other numbers sent as text. */
	return strtoll(c->buf, NULL, 10);
}

const char *
pj_stmt_text(const struct pj_stmt *st, unsigned int col, size_t *len)
{
	const struct pj_col *c = col_at(st, col);
	size_t n = 0;

	if (c == NULL || c->is_null) {
		if (len != NULL)
			*len = 0;
		return "";
	}
	if (c->integer) {
		/* The buffer is the statement's, not const: format lazily. */
		char *buf = st->col[col].buf;
		int w = snprintf(buf, c->cap, "%lld", (long long)c->num);

		n = w > 0 ? (size_t)w : 0;
	} else {
		n = c->len < c->cap ? c->len : c->cap - 1;
	}
	if (len != NULL)
		*len = n;
	return c->buf;
}

uint64_t
pj_stmt_affected(const struct pj_stmt *st)
{
	return st->affected;
}

uint64_t
pj_stmt_rows(const struct pj_stmt *st)
{
	return st->rows;
}

void
pj_stmt_close(struct pj_stmt *st)
{
	unsigned int i;

	if (st == NULL)
		return;
	if (st->stmt != NULL)
		(void)mysql_stmt_close(st->stmt);
	for (i = 0; i < PJ_MAX_COLUMNS; i++)
		free(st->col[i].buf);
	free(st);
}

/* The index of the field called name in res, or -1. */
static int
field_index(MYSQL_RES *res, const char *name)
{
	MYSQL_FIELD *fields = mysql_fetch_fields(res);
	unsigned int i, n = mysql_num_fields(res);

	for (i = 0; i < n; i++) {
		if (strcasecmp(fields[i].name, name) == 0)
			return (int)i;
	}
	return -1;
}

/* The text protocol: binding 62 columns to read one buys nothing, and sql
 * is the caller's constant with no parameter to bind. */
int
pj_db_show_column(struct pj_db *db, const char *sql, const char *column,
    int64_t *values, bool *is_null, size_t max, size_t *n_rows,
    struct pj_error *err)
{
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	size_t n;
	int col, rc = PJ_OK;

	if (db->conn == NULL)
		return conn_gone(sql, err);
	if (mysql_real_query(db->conn, sql, (unsigned long)strlen(sql)) != 0)
		return db_fail(db->conn, NULL, sql, err);
	res = mysql_store_result(db->conn);
	if (res == NULL && mysql_field_count(db->conn) == 0)
		return pj_error_set(err, PJ_EINVAL, "%.60s: no result", sql);
	if (res == NULL)
		return db_fail(db->conn, NULL, sql, err);
	col = field_index(res, column);
	if (col < 0) {
		rc = pj_error_set(
		    err, PJ_EDB, "%.60s: no column %.64s", sql, column);
		goto out;
	}
	if (mysql_num_rows(res) > max) {
		rc = pj_error_set(
		    err, PJ_EDB, "%.60s: more than %zu rows", sql, max);
		goto out;
	}
	for (n = 0;; n++) {
		row = mysql_fetch_row(res);
		if (row == NULL)
			break;
		is_null[n] = row[col] == NULL;
		values[n] = row[col] != NULL ? strtoll(row[col], NULL, 10) : 0;
	}
	*n_rows = n;
out:
	mysql_free_result(res);
	return rc;
}

int
pj_db_stmt(struct pj_db *db, const char *sql, struct pj_stmt **out,
    struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	size_t i, lru = 0;
	int rc;

	db->uses++;
	for (i = 0; i < STMT_CACHE_SIZE; i++) {
		st = db->cached[i];
		/* sql is a constant (tests/lint/sql_constants.sh): its
		 * address names it. */
		if (st != NULL && st->sql == sql) {
			if (st->failed) {
				lru = i;
				break;
			}
			db->cached_use[i] = db->uses;
			*out = st;
			return PJ_OK;
		}
		if (db->cached_use[i] < db->cached_use[lru])
			lru = i;
	}
	rc = pj_stmt_prepare(db, sql, &st, err);
	if (rc)
		return rc;
	pj_stmt_close(db->cached[lru]);
	db->cached[lru] = st;
	db->cached_use[lru] = db->uses;
	*out = st;
	return PJ_OK;
}

int
pj_db_exec(struct pj_db *db, const char *sql, const struct pj_param *p,
    size_t n, uint64_t *affected, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	int rc;

	rc = pj_db_stmt(db, sql, &st, err);
	if (rc)
		return rc;
	rc = pj_stmt_exec(st, p, n, err);
	if (rc == PJ_OK && affected != NULL)
		*affected = pj_stmt_affected(st);
	return rc;
}
