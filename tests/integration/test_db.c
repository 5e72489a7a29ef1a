/*
 * common/db.c and common/schema.c against the sandbox MariaDB: connecting
 * (socket, TCP, password sources, TLS modes), what each failure is
 * classified as, prepared statements with hostile text, long and NULL
 * values, transactions, deadlocks, lock waits and killed connections.
 *
 * Decision: an unknown database (1049) is PJ_ESCHEMA, not PJ_EDB. The
 * worker was pointed at something that is not the Placement schema; as
 * with a missing table, the operator must fix the configuration, and a
 * retry cannot help.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/db.h"
#include "common/schema.h"
#include "common/strings.h"
#include "tests/integration/harness.h"

#define DB "pj_test_db"
#define DB_BROKEN "pj_test_db_broken"
#define TEST_USER "pj_test_pw"
#define RIGHT_PASSWORD "pj-right-pw-8c1d0e"
/* Never sent right: it must appear in no message. */
#define MARKER_PASSWORD "pj-MARKER-5ecret-Pw0rd-91f2"
#define ALEMBIC_HEAD "422ece571366"

static const char SETUP_SQL[] =
    "CREATE TABLE pj_text (id INT AUTO_INCREMENT PRIMARY KEY,"
    " v VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,"
    " t MEDIUMTEXT CHARACTER SET utf8mb4 NULL, n INT NULL,"
    " d DOUBLE(200,30) NULL);"
    "CREATE TABLE pj_lock (id INT PRIMARY KEY, v INT NOT NULL);"
    "DROP USER IF EXISTS '" TEST_USER
    "'@'localhost',"
    " '" TEST_USER "'@'127.0.0.1', '" TEST_USER
    "'@'%';"
    "CREATE USER '" TEST_USER "'@'localhost' IDENTIFIED BY '" RIGHT_PASSWORD
    "';"
    "CREATE USER '" TEST_USER "'@'127.0.0.1' IDENTIFIED BY '" RIGHT_PASSWORD
    "';"
    "GRANT ALL ON " DB ".* TO '" TEST_USER
    "'@'localhost';"
    "GRANT ALL ON " DB ".* TO '" TEST_USER "'@'127.0.0.1';";

static const char SQL_SESSION[] =
    "SELECT @@session.time_zone, @@session.innodb_lock_wait_timeout,"
    " @@session.tx_isolation, @@session.autocommit,"
    " @@character_set_client, @@character_set_results,"
    " @@character_set_connection";
static const char SQL_MY_HOST[] =
    "SELECT HOST FROM information_schema.PROCESSLIST"
    " WHERE ID = CONNECTION_ID()";
static const char SQL_CONN_ID[] = "SELECT CONNECTION_ID()";
static const char SQL_SSL_CIPHER[] =
    "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
    " WHERE VARIABLE_NAME = 'Ssl_cipher'";
static const char SQL_ECHO[] = "SELECT ?";
static const char SQL_ONE[] = "SELECT 1";

/* ---- helpers ---- */

static void
base_cfg(struct pj_db_config *cfg, const char *name)
{
	const char *sock = getenv("PJ_TEST_SOCKET");

	memset(cfg, 0, sizeof(*cfg));
	pj_strlcpy(cfg->socket, sock != NULL ? sock : "", sizeof(cfg->socket));
	pj_strlcpy(cfg->name, name, sizeof(cfg->name));
	pj_strlcpy(cfg->user, "root", sizeof(cfg->user));
	cfg->tls_mode = PJ_TLS_DISABLED;
	cfg->connect_timeout_ms = 5000;
	cfg->read_timeout_ms = 30000;
	cfg->write_timeout_ms = 30000;
	cfg->lock_wait_timeout_ms = 10000;
}

static int64_t
sandbox_port(void)
{
	const char *env = getenv("PJ_TEST_PORT");

	if (env != NULL && env[0] != '\0')
		return atoll(env);
	return h_query_int(NULL, "SELECT @@port");
}

/* TCP to the sandbox as the test user with its password inline. */
static void
tcp_cfg(struct pj_db_config *cfg, const char *name)
{
	base_cfg(cfg, name);
	cfg->socket[0] = '\0';
	pj_strlcpy(cfg->host, "127.0.0.1", sizeof(cfg->host));
	cfg->port = sandbox_port();
	pj_strlcpy(cfg->user, TEST_USER, sizeof(cfg->user));
	pj_strlcpy(cfg->password, RIGHT_PASSWORD, sizeof(cfg->password));
}

static struct pj_db *
connect_ok(const struct pj_db_config *cfg)
{
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	int rc = pj_db_connect(cfg, &db, &err);

	if (rc != PJ_OK)
		fail_msg("connect: %s: %s", pj_status_name(rc), err.msg);
	return db;
}

static void
exec_ok(struct pj_db *db, const char *sql, const struct pj_param *p, size_t n)
{
	struct pj_error err = { 0 };
	int rc = pj_db_exec(db, sql, p, n, NULL, &err);

	if (rc != PJ_OK)
		fail_msg("%s: %s: %s", sql, pj_status_name(rc), err.msg);
}

/* Column col of the only row of sql, copied (caller frees). */
static char *
text_at(struct pj_db *db, const char *sql, const struct pj_param *p, size_t n,
    unsigned int col)
{
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;
	char *copy;
	int rc;

	rc = pj_stmt_prepare(db, sql, &st, &err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, p, n, &err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, &err);
	if (rc != PJ_OK || !row)
		fail_msg("%s: %s: %s", sql, row ? pj_status_name(rc) : "no row",
		    err.msg);
	copy = strdup(pj_stmt_text(st, col, NULL));
	pj_stmt_close(st);
	assert_non_null(copy);
	return copy;
}

static int64_t
int_at(struct pj_db *db, const char *sql, const struct pj_param *p, size_t n)
{
	char *text = text_at(db, sql, p, n, 0);
	int64_t v = atoll(text);

	free(text);
	return v;
}

static void
assert_no_marker(const struct pj_error *err)
{
	if (strstr(err->msg, MARKER_PASSWORD) != NULL)
		fail_msg("the password leaked into: %s", err->msg);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- connecting ---- */

static void
test_connect_socket_sets_session(void **state)
{
	struct pj_db_config cfg;
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	struct pj_db *db;
	bool row = false;

	(void)state;
	base_cfg(&cfg, DB);
	cfg.lock_wait_timeout_ms = 2500; /* rounded up to 3 s */
	db = connect_ok(&cfg);
	assert_non_null(strstr(pj_db_server_version(db), "MariaDB"));
	assert_int_equal(pj_stmt_prepare(db, SQL_SESSION, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	assert_string_equal(pj_stmt_text(st, 0, NULL), "+00:00");
	assert_int_equal(pj_stmt_int(st, 1), 3);
	assert_string_equal(pj_stmt_text(st, 2, NULL), "REPEATABLE-READ");
	assert_int_equal(pj_stmt_int(st, 3), 1);
	assert_string_equal(pj_stmt_text(st, 4, NULL), "utf8mb4");
	assert_string_equal(pj_stmt_text(st, 5, NULL), "utf8mb4");
	assert_string_equal(pj_stmt_text(st, 6, NULL), "utf8mb4");
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_false(row);
	pj_stmt_close(st);
	/* A unix socket client shows as plain "localhost", no port. */
	char *host = text_at(db, SQL_MY_HOST, NULL, 0, 0);
	assert_string_equal(host, "localhost");
	free(host);
	pj_db_close(db);
}

/* A 0600 temporary file holding text; its path goes into path. */
static void
write_temp(char *path, const char *text)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The test user's password, for both hosts it may connect from. */
static void
set_test_password(const char *password)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
	    "SET PASSWORD FOR '" TEST_USER
	    "'@'127.0.0.1' = PASSWORD('%s');"
	    "SET PASSWORD FOR '" TEST_USER "'@'localhost' = PASSWORD('%s');",
	    password, password);
	h_sql(NULL, sql);
}

enum pw_source {
	PW_INLINE,
	PW_ENV,
	PW_FILE,
	PW_OPTION_FILE,       /* user and password in its [client] group */
	PW_OPTION_GROUP,      /* ... in a group of its own */
	PW_NONE_BUT_MYSQL_PWD /* libmariadb's MYSQL_PWD must be ignored */
};

static void
test_connect_tcp_password_sources(void **state)
{
	static const struct {
		enum pw_source source;
		int want;
	} cases[] = {
		{ PW_INLINE, PJ_OK },
		{ PW_ENV, PJ_OK },
		{ PW_FILE, PJ_OK },
		{ PW_OPTION_FILE, PJ_OK },
		{ PW_OPTION_GROUP, PJ_OK },
		{ PW_NONE_BUT_MYSQL_PWD, PJ_EACCESS },
	};
	char pw_path[] = "/tmp/pj-test-pw-XXXXXX";
	char cnf_path[] = "/tmp/pj-test-cnf-XXXXXX";

	(void)state;
	write_temp(pw_path, RIGHT_PASSWORD "\n");
	write_temp(cnf_path,
	    "[client]\nuser=" TEST_USER "\npassword=" RIGHT_PASSWORD
	    "\n[pj_janitor]\npassword=" RIGHT_PASSWORD "x\n");
	assert_int_equal(setenv("PJ_TEST_DB_PASSWORD", RIGHT_PASSWORD, 1), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_db_config cfg;
		struct pj_error err = { 0 };
		struct pj_db *db = NULL;
		int rc;

		tcp_cfg(&cfg, DB);
		if (cases[i].source != PW_INLINE)
			cfg.password[0] = '\0';
		switch (cases[i].source) {
		case PW_ENV:
			pj_strlcpy(cfg.password_env, "PJ_TEST_DB_PASSWORD",
			    sizeof(cfg.password_env));
			break;
		case PW_FILE:
			pj_strlcpy(cfg.password_file, pw_path,
			    sizeof(cfg.password_file));
			break;
		case PW_OPTION_FILE:
			cfg.user[0] = '\0';
			pj_strlcpy(
			    cfg.option_file, cnf_path, sizeof(cfg.option_file));
			pj_strlcpy(cfg.option_group, "client",
			    sizeof(cfg.option_group));
			break;
		case PW_OPTION_GROUP:
			/* The group's (wrong) password wins over [client]'s:
			 * so the account's password is set to match it. */
			pj_strlcpy(
			    cfg.option_file, cnf_path, sizeof(cfg.option_file));
			pj_strlcpy(cfg.option_group, "pj_janitor",
			    sizeof(cfg.option_group));
			set_test_password(RIGHT_PASSWORD "x");
			break;
		case PW_NONE_BUT_MYSQL_PWD:
			assert_int_equal(
			    setenv("MYSQL_PWD", RIGHT_PASSWORD, 1), 0);
			break;
		default:
			break;
		}
		rc = pj_db_connect(&cfg, &db, &err);
		unsetenv("MYSQL_PWD");
		if (cases[i].source == PW_OPTION_GROUP)
			set_test_password(RIGHT_PASSWORD);
		if (rc != cases[i].want)
			fail_msg("source %d: %s: %s", (int)cases[i].source,
			    pj_status_name(rc), err.msg);
		if (rc == PJ_OK) {
			char *host = text_at(db, SQL_MY_HOST, NULL, 0, 0);

			/* TCP clients show as host:port. */
			if (strchr(host, ':') == NULL)
				fail_msg("source %d: not a TCP connection: %s",
				    (int)cases[i].source, host);
			free(host);
		}
		pj_db_close(db);
	}
	unlink(pw_path);
	unlink(cnf_path);
	unsetenv("PJ_TEST_DB_PASSWORD");
}

static void
test_wrong_password_is_access_denied(void **state)
{
	char path[] = "/tmp/pj-test-pw-XXXXXX";
	struct pj_db_config cfg;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, MARKER_PASSWORD, strlen(MARKER_PASSWORD)),
	    (ssize_t)strlen(MARKER_PASSWORD));
	close(fd);
	assert_int_equal(setenv("PJ_TEST_DB_PASSWORD", MARKER_PASSWORD, 1), 0);

	/* Three sources, over TCP and over the socket. */
	for (int i = 0; i < 6; i++) {
		struct pj_error err = { 0 };
		struct pj_db *db = NULL;
		int rc;

		tcp_cfg(&cfg, DB);
		if (i >= 3) {
			pj_strlcpy(cfg.socket, getenv("PJ_TEST_SOCKET"),
			    sizeof(cfg.socket));
			cfg.host[0] = '\0';
		}
		cfg.password[0] = '\0';
		if (i % 3 == 0)
			pj_strlcpy(cfg.password, MARKER_PASSWORD,
			    sizeof(cfg.password));
		else if (i % 3 == 1)
			pj_strlcpy(cfg.password_env, "PJ_TEST_DB_PASSWORD",
			    sizeof(cfg.password_env));
		else
			pj_strlcpy(
			    cfg.password_file, path, sizeof(cfg.password_file));
		rc = pj_db_connect(&cfg, &db, &err);
		if (rc != PJ_EACCESS || err.db_errno != 1045)
			fail_msg("case %d: %s (%u): %s", i, pj_status_name(rc),
			    err.db_errno, err.msg);
		assert_null(db);
		assert_no_marker(&err);
	}
	unlink(path);
	unsetenv("PJ_TEST_DB_PASSWORD");
}

/* A TCP port nothing listens on: bound, then released. */
static int64_t
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void
test_unreachable_is_connection_error(void **state)
{
	struct pj_db_config cfg;

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct pj_error err = { 0 };
		struct pj_db *db = NULL;
		int rc;

		tcp_cfg(&cfg, DB);
		pj_strlcpy(cfg.password, MARKER_PASSWORD, sizeof(cfg.password));
		if (i == 0) {
			cfg.port = free_port();
		} else {
			cfg.host[0] = '\0';
			pj_strlcpy(cfg.socket, "/tmp/pj-test-no-such.sock",
			    sizeof(cfg.socket));
		}
		rc = pj_db_connect(&cfg, &db, &err);
		if (rc != PJ_ECONN)
			fail_msg("case %d: %s (%u): %s", i, pj_status_name(rc),
			    err.db_errno, err.msg);
		assert_null(db);
		assert_no_marker(&err);
	}
}

static void
test_unknown_database_is_schema_error(void **state)
{
	struct pj_db_config cfg;
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;

	(void)state;
	base_cfg(&cfg, "pj_test_no_such_db");
	assert_int_equal(pj_db_connect(&cfg, &db, &err), PJ_ESCHEMA);
	assert_int_equal(err.db_errno, 1049);
	assert_non_null(strstr(err.msg, "pj_test_no_such_db"));
	assert_null(db);
}

static void
test_tls_modes(void **state)
{
	char *have = h_query(NULL, "SELECT @@have_ssl");
	bool tls = strcmp(have, "YES") == 0;
	static const struct {
		enum pj_tls_mode mode;
		const char *ca;
		int with_tls, without_tls; /* expected status */
	} cases[] = {
		{ PJ_TLS_DISABLED, "", PJ_OK, PJ_OK },
		{ PJ_TLS_PREFERRED, "", PJ_OK, PJ_OK },
		{ PJ_TLS_REQUIRED, "", PJ_OK, PJ_ECONFIG },
		{ PJ_TLS_VERIFY_CA, "", PJ_ECONFIG, PJ_ECONFIG },
		{ PJ_TLS_VERIFY_CA, "/tmp/pj-test-no-such-ca.pem", PJ_ECONFIG,
		    PJ_ECONFIG },
		{ PJ_TLS_VERIFY_IDENTITY, "/tmp/pj-test-no-such-ca.pem",
		    PJ_ECONFIG, PJ_ECONFIG },
	};

	(void)state;
	free(have);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_db_config cfg;
		struct pj_error err = { 0 };
		struct pj_db *db = NULL;
		int want = tls ? cases[i].with_tls : cases[i].without_tls;
		int rc;

		tcp_cfg(&cfg, DB);
		cfg.tls_mode = cases[i].mode;
		pj_strlcpy(cfg.tls_ca, cases[i].ca, sizeof(cfg.tls_ca));
		rc = pj_db_connect(&cfg, &db, &err);
		if (rc != want)
			fail_msg(
			    "tls case %zu (server tls %s): %s, want %s: %s", i,
			    tls ? "on" : "off", pj_status_name(rc),
			    pj_status_name(want), err.msg);
		if (rc == PJ_ECONFIG && strstr(err.msg, "tls") == NULL)
			fail_msg("tls case %zu: message does not say tls: %s",
			    i, err.msg);
		if (rc == PJ_OK) {
			char *cipher = text_at(db, SQL_SSL_CIPHER, NULL, 0, 0);
			bool used = cipher[0] != '\0';

			if (used != (tls && cases[i].mode != PJ_TLS_DISABLED))
				fail_msg(
				    "tls case %zu: cipher '%s'", i, cipher);
			free(cipher);
		}
		pj_db_close(db);
	}
}

/* ---- schema ---- */

static void
test_schema_verify_reads_alembic(void **state)
{
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	char alembic[64] = "untouched";
	char tiny[4] = "abc";

	(void)state;
	assert_int_equal(
	    pj_schema_verify(db, alembic, sizeof(alembic), &err), PJ_OK);
	assert_string_equal(alembic, ALEMBIC_HEAD);

	assert_int_equal(
	    pj_schema_verify(db, tiny, sizeof(tiny), &err), PJ_EINVAL);
	assert_string_equal(tiny, "abc");

	h_sql(DB, "DELETE FROM alembic_version");
	pj_error_clear(&err);
	strcpy(alembic, "untouched");
	assert_int_equal(
	    pj_schema_verify(db, alembic, sizeof(alembic), &err), PJ_ESCHEMA);
	assert_non_null(strstr(err.msg, "alembic_version has no row"));
	assert_string_equal(alembic, "untouched");

	h_sql(DB,
	    "INSERT INTO alembic_version VALUES ('" ALEMBIC_HEAD "'), ('b2');");
	pj_error_clear(&err);
	assert_int_equal(
	    pj_schema_verify(db, alembic, sizeof(alembic), &err), PJ_ESCHEMA);
	assert_non_null(strstr(err.msg, "several rows"));

	h_sql(DB, "DELETE FROM alembic_version WHERE version_num = 'b2'");
	pj_db_close(db);
}

static void
test_schema_verify_names_what_is_missing(void **state)
{
	static const struct {
		const char *damage;
		const char *msg;
	} cases[] = {
		{ "DROP TABLE consumers", "table consumers is missing" },
		{ "ALTER TABLE consumers DROP COLUMN generation",
		    "column consumers.generation is missing" },
		{ "DROP TABLE resource_provider_traits;"
		  "DROP TABLE traits",
		    "2 missing: table resource_provider_traits; table traits" },
		{ "DROP TABLE resource_provider_traits;"
		  "ALTER TABLE allocations DROP COLUMN used;"
		  "ALTER TABLE consumers DROP COLUMN generation;"
		  "ALTER TABLE users DROP COLUMN external_id;"
		  "DROP TABLE placement_aggregates",
		    "5 missing: column allocations.used; column "
		    "consumers.generation; table placement_aggregates; and 2 "
		    "more" },
		{ "DROP TABLE alembic_version",
		    "table alembic_version is "
		    "missing" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_error err = { 0 };
		char alembic[64] = "untouched";
		struct pj_db *db;
		int rc;

		h_reset_db(DB_BROKEN);
		h_sql(DB_BROKEN, cases[i].damage);
		db = h_connect(DB_BROKEN);
		rc = pj_schema_verify(db, alembic, sizeof(alembic), &err);
		if (rc != PJ_ESCHEMA || strcmp(err.msg, cases[i].msg) != 0)
			fail_msg("'%s': %s: '%s', want '%s'", cases[i].damage,
			    pj_status_name(rc), err.msg, cases[i].msg);
		assert_string_equal(alembic, "untouched");
		pj_db_close(db);
	}
	h_sql(NULL, "DROP DATABASE " DB_BROKEN);
}

/* ---- statements ---- */

static void
test_hostile_text_round_trips(void **state)
{
	static const char SQL_INSERT[] = "INSERT INTO pj_text (v) VALUES (?)";
	static const char SQL_FIND[] =
	    "SELECT COUNT(*), MAX(id) FROM pj_text WHERE v = ?";
	static const char SQL_BY_ID[] = "SELECT v FROM pj_text WHERE id = ?";
	char long255[256];
	struct {
		const char *name;
		const char *text;
		size_t len;
	} cases[] = {
		{ "single quote", "it's", 0 },
		{ "double quotes", "\"quoted\"", 0 },
		{ "backslashes", "back\\slash \\\\ \\' \\0 \\n", 0 },
		{ "injection", "'; DROP TABLE consumers; --", 0 },
		{ "tautology", "x' OR '1'='1' /*", 0 },
		{ "format", "%s%n%d%%", 0 },
		{ "controls", "line1\nline2\ttab\r\x1b[31m", 0 },
		{ "utf8", /* ünïcødé ✓ 𝄞 */
		    "\xc3\xbc"
		    "n"
		    "\xc3\xaf"
		    "c"
		    "\xc3\xb8"
		    "d"
		    "\xc3\xa9"
		    " \xe2\x9c\x93 \xf0\x9d\x84\x9e",
		    0 },
		{ "embedded NUL", "a\0b", 3 },
		{ "255 chars", long255, 0 },
	};
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *ins = NULL, *find = NULL, *by_id = NULL, *echo = NULL;
	bool row;

	(void)state;
	for (size_t i = 0; i < 255; i++)
		long255[i] = "'\\\";-x"[i % 6];
	long255[255] = '\0';
	assert_int_equal(pj_stmt_prepare(db, SQL_INSERT, &ins, &err), PJ_OK);
	assert_int_equal(pj_stmt_prepare(db, SQL_FIND, &find, &err), PJ_OK);
	assert_int_equal(pj_stmt_prepare(db, SQL_BY_ID, &by_id, &err), PJ_OK);
	assert_int_equal(pj_stmt_prepare(db, SQL_ECHO, &echo, &err), PJ_OK);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t want =
		    cases[i].len ? cases[i].len : strlen(cases[i].text);
		struct pj_param p = PJ_TEXTN(cases[i].text, cases[i].len);
		struct pj_param id;
		const char *got;
		size_t len = 0;

		if (pj_stmt_exec(ins, &p, 1, &err) != PJ_OK ||
		    pj_stmt_affected(ins) != 1)
			fail_msg("%s: insert: %s", cases[i].name, err.msg);
		/* The server finds it by its exact bytes. */
		if (pj_stmt_exec(find, &p, 1, &err) != PJ_OK ||
		    pj_stmt_fetch(find, &row, &err) != PJ_OK || !row ||
		    pj_stmt_int(find, 0) != 1)
			fail_msg(
			    "%s: not found once: %s", cases[i].name, err.msg);
		id = PJ_INT(pj_stmt_int(find, 1));
		if (pj_stmt_exec(by_id, &id, 1, &err) != PJ_OK ||
		    pj_stmt_fetch(by_id, &row, &err) != PJ_OK || !row)
			fail_msg("%s: read back: %s", cases[i].name, err.msg);
		got = pj_stmt_text(by_id, 0, &len);
		if (len != want || memcmp(got, cases[i].text, want) != 0)
			fail_msg("%s: stored %zu bytes, read %zu",
			    cases[i].name, want, len);
		if (pj_stmt_exec(echo, &p, 1, &err) != PJ_OK ||
		    pj_stmt_fetch(echo, &row, &err) != PJ_OK || !row)
			fail_msg("%s: echo: %s", cases[i].name, err.msg);
		got = pj_stmt_text(echo, 0, &len);
		if (len != want || memcmp(got, cases[i].text, want) != 0)
			fail_msg("%s: echo changed it", cases[i].name);
	}
	pj_stmt_close(echo);
	pj_stmt_close(by_id);
	pj_stmt_close(find);
	pj_stmt_close(ins);
	assert_int_equal(h_query_int(DB,
	                     "SELECT COUNT(*) FROM information_schema.TABLES"
	                     " WHERE TABLE_SCHEMA = DATABASE()"
	                     " AND TABLE_NAME = 'consumers'"),
	    1);
	pj_db_close(db);
}

/* Values a column cannot hold are bad input data (PJ_EINVAL), whatever
 * bytes they carry; the server refuses them in strict mode. */
static void
test_unstorable_text_is_invalid(void **state)
{
	static const struct {
		const char *name;
		const char *sql;
		const char *text;
		unsigned int db_errno;
	} cases[] = {
		{ "invalid UTF-8", "INSERT INTO pj_text (v) VALUES (?)",
		    "ok\xff\xfe\x80", 1366 },
		{ "truncated UTF-8", "INSERT INTO pj_text (v) VALUES (?)",
		    "\xe2\x9c", 1366 },
		{ "4-byte into utf8mb3",
		    "INSERT INTO projects (external_id) VALUES (?)",
		    "\xf0\x9d\x84\x9e", 1366 },
		{ "too long",
		    "INSERT INTO consumers (uuid, project_id,"
		    " user_id) VALUES (?, 1, 1)",
		    "0123456789012345678901234567890123456789", 1406 },
	};
	struct pj_db *db = h_connect(DB);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_error err = { 0 };
		struct pj_param p = PJ_TEXT(cases[i].text);
		int rc = pj_db_exec(db, cases[i].sql, &p, 1, NULL, &err);

		if (rc != PJ_EINVAL || err.db_errno != cases[i].db_errno)
			fail_msg("%s: %s (%u): %s", cases[i].name,
			    pj_status_name(rc), err.db_errno, err.msg);
		/* The message starts with the statement, never the value. */
		if (strncmp(err.msg, cases[i].sql, 20) != 0)
			fail_msg("%s: message '%s'", cases[i].name, err.msg);
	}
	pj_db_close(db);
}

static void
test_null_columns_and_params(void **state)
{
	static const char SQL_INSERT[] =
	    "INSERT INTO pj_text (v, t, n, d) VALUES (?, ?, ?, ?)";
	static const char SQL_READ[] =
	    "SELECT v, t, n, d, id FROM pj_text WHERE id = LAST_INSERT_ID()";
	struct pj_param p[] = { PJ_NULL, PJ_NULL, PJ_NULL, PJ_NULL };
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	size_t len = 99;
	bool row = false;

	(void)state;
	exec_ok(db, SQL_INSERT, p, 4);
	assert_int_equal(pj_stmt_prepare(db, SQL_READ, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	for (unsigned int col = 0; col < 4; col++) {
		if (!pj_stmt_is_null(st, col) || pj_stmt_int(st, col) != 0 ||
		    strcmp(pj_stmt_text(st, col, &len), "") != 0 || len != 0)
			fail_msg("column %u: not read as NULL", col);
	}
	assert_false(pj_stmt_is_null(st, 4));
	assert_true(pj_stmt_int(st, 4) > 0);
	/* Out of range reads as NULL, never past the row. */
	assert_true(pj_stmt_is_null(st, 5));
	assert_string_equal(pj_stmt_text(st, 99, NULL), "");
	pj_stmt_close(st);
	pj_db_close(db);
}

/* Text of length n, different at every position (and per seed). */
static char *
make_text(size_t n, unsigned int seed)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)('a' + (i * 7 + seed) % 26);
	s[n] = '\0';
	return s;
}

static void
test_long_text_returned_whole(void **state)
{
	static const size_t lengths[] = { 10, 300, 5000, 200000, 0, 257 };
	static const char SQL_INSERT[] =
	    "INSERT INTO pj_text (n, t) VALUES (?, ?)";
	static const char SQL_READ[] =
	    "SELECT n, t FROM pj_text WHERE n IS NOT NULL ORDER BY id";
	const size_t count = sizeof(lengths) / sizeof(lengths[0]);
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;
	size_t i, len;

	(void)state;
	h_sql(DB, "DELETE FROM pj_text");
	for (i = 0; i < count; i++) {
		char *text = make_text(lengths[i], (unsigned int)i);
		struct pj_param p[] = { PJ_INT((int64_t)i), PJ_TEXT(text) };

		exec_ok(db, SQL_INSERT, p, 2);
		free(text);
	}
	assert_int_equal(pj_stmt_prepare(db, SQL_READ, &st, &err), PJ_OK);
	/* Twice: buffers kept from the first run must not cut the second. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
		assert_int_equal(pj_stmt_rows(st), count);
		for (i = 0; i < count; i++) {
			char *want = make_text(lengths[i], (unsigned int)i);
			const char *got;

			assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
			assert_true(row);
			assert_int_equal(pj_stmt_int(st, 0), (int64_t)i);
			got = pj_stmt_text(st, 1, &len);
			if (len != lengths[i] || strcmp(got, want) != 0)
				fail_msg("row %zu: %zu bytes, want %zu", i, len,
				    lengths[i]);
			free(want);
		}
		assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
		assert_false(row);
	}
	pj_stmt_close(st);
	pj_db_close(db);
}

/* A DOUBLE(200,30) as text (182 bytes for 1e150) is longer than any
 * fixed buffer; the buffers follow the longest value of each result, and
 * a value cut short would be completed (refetch_truncated). */
static void
test_wide_doubles_returned_whole(void **state)
{
	static const double values[] = { 1e150, -2.5, 1e100, 0.125 };
	static const char SQL_READ[] =
	    "SELECT d, n FROM pj_text WHERE d IS NOT NULL ORDER BY id";
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;
	size_t len;

	(void)state;
	h_sql(DB,
	    "DELETE FROM pj_text;"
	    "INSERT INTO pj_text (n, d) VALUES (0, 1e150), (1, -2.5),"
	    " (2, 1e100), (3, 0.125)");
	assert_int_equal(pj_stmt_prepare(db, SQL_READ, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	for (size_t i = 0; i < 4; i++) {
		const char *got;

		assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
		assert_true(row);
		got = pj_stmt_text(st, 0, &len);
		if (strtod(got, NULL) != values[i] || len != strlen(got) ||
		    strchr(got, '.') == NULL || (i == 0 && len != 182))
			fail_msg("row %zu: '%s' (%zu bytes)", i, got, len);
		assert_int_equal(pj_stmt_int(st, 1), (int64_t)i);
	}
	pj_stmt_close(st);
	pj_db_close(db);
}

static void
test_reexecuting_a_statement(void **state)
{
	static const char SQL_PAIR[] = "SELECT ? + 1, CONCAT(?, 'x')";
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	char text[64], want[80];
	bool row = false;

	(void)state;
	assert_int_equal(pj_stmt_prepare(db, SQL_PAIR, &st, &err), PJ_OK);
	for (int i = 0; i < 2000; i++) {
		snprintf(text, sizeof(text), "%0*d", 1 + i % 40, i);
		snprintf(want, sizeof(want), "%sx", text);
		struct pj_param p[] = { PJ_INT(i), PJ_TEXT(text) };

		if (pj_stmt_exec(st, p, 2, &err) != PJ_OK ||
		    pj_stmt_fetch(st, &row, &err) != PJ_OK || !row)
			fail_msg("round %d: %s", i, err.msg);
		if (pj_stmt_int(st, 0) != i + 1 ||
		    strcmp(pj_stmt_text(st, 1, NULL), want) != 0)
			fail_msg("round %d: %lld '%s'", i,
			    (long long)pj_stmt_int(st, 0),
			    pj_stmt_text(st, 1, NULL));
		/* An integer column reads as text too. */
		if (i == 1999)
			assert_string_equal(pj_stmt_text(st, 0, NULL), "2000");
	}
	pj_stmt_close(st);
	pj_db_close(db);
}

static void
test_wrong_parameter_count_is_invalid(void **state)
{
	struct pj_param p[PJ_MAX_PARAMS + 1];
	struct pj_db *db = h_connect(DB);
	static const size_t counts[] = { 0, 2, PJ_MAX_PARAMS + 1 };

	(void)state;
	for (size_t i = 0; i < PJ_MAX_PARAMS + 1; i++)
		p[i] = PJ_INT((int64_t)i);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct pj_error err = { 0 };
		int rc = pj_db_exec(db, SQL_ECHO, p, counts[i], NULL, &err);

		if (rc != PJ_EINVAL)
			fail_msg("%zu parameters: %s", counts[i],
			    pj_status_name(rc));
	}
	/* The statement still works with the right count. */
	assert_int_equal(int_at(db, SQL_ECHO, p + 7, 1), 7);
	pj_db_close(db);
}

/* More columns than a statement can hold is refused, not overrun. */
static void
test_too_many_columns_is_invalid(void **state)
{
	static const char SQL_WIDE[] =
	    "SELECT 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17";
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;

	(void)state;
	assert_int_equal(pj_stmt_prepare(db, SQL_WIDE, &st, &err), PJ_EINVAL);
	assert_null(st);
	pj_db_close(db);
}

#define LONG_VALUE \
	"a value longer than the sixty-four bytes of a first buffer, now " \
	"that a is text"

/*
 * After ALTER TABLE the server re-prepares a statement by itself. Columns
 * of another type are read by their new type (results are bound per
 * execute); a new column count is CR_NEW_STMT_METADATA in libmariadb 3.3,
 * a retry: the engine redoes the batch, which prepares again.
 */
static void
test_statement_after_table_change(void **state)
{
	static const char SQL_ALL[] = "SELECT * FROM pj_shape";
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	(void)state;
	h_sql(DB,
	    "DROP TABLE IF EXISTS pj_shape;"
	    "CREATE TABLE pj_shape (a INT);"
	    "INSERT INTO pj_shape VALUES (1)");
	assert_int_equal(pj_stmt_prepare(db, SQL_ALL, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	assert_int_equal(pj_stmt_int(st, 0), 1);

	h_sql(DB,
	    "ALTER TABLE pj_shape MODIFY a VARCHAR(200);"
	    "UPDATE pj_shape SET a = '" LONG_VALUE "'");
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	assert_string_equal(pj_stmt_text(st, 0, NULL), LONG_VALUE);

	h_sql(DB, "ALTER TABLE pj_shape ADD COLUMN b INT DEFAULT 7");
	rc = pj_stmt_exec(st, NULL, 0, &err);
	if (rc != PJ_ERETRY || err.db_errno != 2057)
		fail_msg("after a new column: %s (%u): %s", pj_status_name(rc),
		    err.db_errno, err.msg);
	pj_stmt_close(st);
	st = NULL;
	pj_error_clear(&err);
	assert_int_equal(pj_stmt_prepare(db, SQL_ALL, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	assert_string_equal(pj_stmt_text(st, 0, NULL), LONG_VALUE);
	assert_int_equal(pj_stmt_int(st, 1), 7);
	pj_stmt_close(st);
	h_sql(DB, "DROP TABLE pj_shape");
	pj_db_close(db);
}

static void
test_affected_and_rows(void **state)
{
	struct pj_db *db = h_connect(DB);
	struct pj_param two = PJ_INT(2);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	uint64_t affected = 0;

	(void)state;
	h_sql(DB,
	    "DELETE FROM pj_lock;"
	    "INSERT INTO pj_lock VALUES (1, 0), (2, 0), (3, 0), (4, 1)");
	assert_int_equal(pj_db_exec(db, "UPDATE pj_lock SET v = 5 WHERE v = 0",
	                     NULL, 0, &affected, &err),
	    PJ_OK);
	assert_int_equal(affected, 3);
	/* A row already holding the value is not changed, so not counted. */
	assert_int_equal(
	    pj_db_exec(db, "UPDATE pj_lock SET v = 5 WHERE id <= ?", &two, 1,
	        &affected, &err),
	    PJ_OK);
	assert_int_equal(affected, 0);
	assert_int_equal(pj_stmt_prepare(db,
	                     "SELECT id FROM pj_lock WHERE v = 5", &st, &err),
	    PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_rows(st), 3);
	pj_stmt_close(st);
	pj_db_close(db);
}

/* ---- transactions, locks, lost connections ---- */

static void
test_transactions(void **state)
{
	static const char SQL_ADD[] = "INSERT INTO pj_lock VALUES (?, 0)";
	struct pj_db *db = h_connect(DB);
	struct pj_param id = PJ_INT(100);
	struct pj_error err = { 0 };

	(void)state;
	h_sql(DB, "DELETE FROM pj_lock");
	assert_int_equal(pj_db_begin(db, &err), PJ_OK);
	exec_ok(db, SQL_ADD, &id, 1);
	pj_db_rollback(db);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM pj_lock"), 0);

	assert_int_equal(pj_db_begin(db, &err), PJ_OK);
	exec_ok(db, SQL_ADD, &id, 1);
	/* Not visible to others before COMMIT. */
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM pj_lock"), 0);
	/* A second BEGIN is refused and leaves the transaction open. */
	assert_int_equal(pj_db_begin(db, &err), PJ_EINTERNAL);
	pj_error_clear(&err);
	assert_int_equal(pj_db_commit(db, &err), PJ_OK);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM pj_lock"), 1);
	assert_int_equal(pj_db_commit(db, &err), PJ_EINTERNAL);
	pj_db_rollback(db); /* nothing open: no effect */
	pj_db_rollback(NULL);
	/* Outside a transaction a statement commits at once. */
	id = PJ_INT(101);
	exec_ok(db, SQL_ADD, &id, 1);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM pj_lock"), 2);
	pj_db_close(db);
}

struct blocked_update {
	struct pj_db *db;
	int64_t id;
	int rc;
	struct pj_error err;
};

static const char SQL_BUMP[] = "UPDATE pj_lock SET v = v + 1 WHERE id = ?";

static void *
run_blocked_update(void *arg)
{
	struct blocked_update *u = arg;
	struct pj_param id = PJ_INT(u->id);

	u->rc = pj_db_exec(u->db, SQL_BUMP, &id, 1, NULL, &u->err);
	return NULL;
}

/* Waits until n transactions wait for a lock. */
static void
wait_for_lock_waits(long long n)
{
	for (int i = 0; i < 400; i++) {
		if (h_query_int(NULL,
		        "SELECT COUNT(*) FROM information_schema.INNODB_TRX"
		        " WHERE trx_state = 'LOCK WAIT'") == n)
			return;
		sleep_ms(25);
	}
	fail_msg("no transaction started to wait for a lock");
}

static void
test_deadlock_is_retry(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	struct blocked_update u = { .db = a, .id = 2 };
	struct pj_param one = PJ_INT(1), two = PJ_INT(2);
	struct pj_error err = { 0 };
	const struct pj_error *lost;
	pthread_t thread;
	int rc;

	(void)state;
	h_sql(DB,
	    "DELETE FROM pj_lock; INSERT INTO pj_lock VALUES (1, 0), (2, 0)");
	assert_int_equal(pj_db_begin(a, &err), PJ_OK);
	exec_ok(a, SQL_BUMP, &one, 1);
	assert_int_equal(pj_db_begin(b, &err), PJ_OK);
	exec_ok(b, SQL_BUMP, &two, 1);
	/* a waits for row 2 (held by b); b then asks for row 1 (held by a). */
	assert_int_equal(
	    pthread_create(&thread, NULL, run_blocked_update, &u), 0);
	wait_for_lock_waits(1);
	rc = pj_db_exec(b, SQL_BUMP, &one, 1, NULL, &err);
	assert_int_equal(pthread_join(thread, NULL), 0);
	/* InnoDB picks one victim; the other goes on. */
	if ((rc == PJ_ERETRY) == (u.rc == PJ_ERETRY))
		fail_msg("want one deadlock victim: a %s (%s), b %s (%s)",
		    pj_status_name(u.rc), u.err.msg, pj_status_name(rc),
		    err.msg);
	lost = rc == PJ_ERETRY ? &err : &u.err;
	assert_int_equal(rc == PJ_ERETRY ? u.rc : rc, PJ_OK);
	assert_int_equal(lost->db_errno, 1213);
	assert_string_equal(lost->sqlstate, "40001");
	assert_true(pj_status_retryable(lost->code));
	assert_non_null(strstr(lost->msg, "UPDATE pj_lock SET v"));
	pj_db_rollback(a);
	pj_db_rollback(b);
	pj_db_close(a);
	pj_db_close(b);
}

static void
test_lock_wait_timeout_is_retry(void **state)
{
	struct pj_db_config cfg;
	struct pj_db *a = h_connect(DB), *b;
	struct pj_param one = PJ_INT(1);
	struct pj_error err = { 0 };
	struct timespec t0, t1;
	double waited;
	int rc;

	(void)state;
	base_cfg(&cfg, DB);
	cfg.lock_wait_timeout_ms = 1000;
	b = connect_ok(&cfg);
	h_sql(DB, "DELETE FROM pj_lock; INSERT INTO pj_lock VALUES (1, 0)");
	assert_int_equal(pj_db_begin(a, &err), PJ_OK);
	exec_ok(a, SQL_BUMP, &one, 1);
	assert_int_equal(pj_db_begin(b, &err), PJ_OK);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = pj_db_exec(b, SQL_BUMP, &one, 1, NULL, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (rc != PJ_ERETRY || err.db_errno != 1205)
		fail_msg(
		    "%s (%u): %s", pj_status_name(rc), err.db_errno, err.msg);
	/* The session's 1 s, not the server's default. */
	if (waited < 0.9 || waited > 5.0)
		fail_msg("waited %.2f s for the lock", waited);
	pj_db_rollback(b);
	pj_db_rollback(a);
	pj_db_close(a);
	pj_db_close(b);
}

/* Statements this session has prepared: the server's own count. */
static long long
prepared_count(struct pj_db *db)
{
	static const char SQL_PREPARED[] =
	    "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
	    " WHERE VARIABLE_NAME = 'COM_STMT_PREPARE'";
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;

	if (pj_db_stmt(db, SQL_PREPARED, &st, &err) != PJ_OK ||
	    pj_stmt_exec(st, NULL, 0, &err) != PJ_OK ||
	    pj_stmt_fetch(st, &row, &err) != PJ_OK || !row)
		fail_msg("prepared count: %s", err.msg);
	return (long long)pj_stmt_int(st, 0);
}

/*
 * pj_db_exec and pj_db_stmt keep a statement prepared across calls. A
 * locking read that timed out is prepared anew: run again, libmariadb 3.3
 * gave the old error back, or (in test_faults) hung until the read
 * timeout.
 */
static void
test_kept_statement_after_lock_wait(void **state)
{
	static const char SQL_HOLD[] =
	    "SELECT COUNT(*), MAX(v) FROM pj_lock WHERE id >= ? FOR UPDATE";
	struct pj_db_config cfg;
	struct pj_db *a = h_connect(DB), *b;
	struct pj_param one = PJ_INT(1);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	long long before;
	int64_t t0;
	bool row = false;
	int i, rc;

	(void)state;
	base_cfg(&cfg, DB);
	cfg.lock_wait_timeout_ms = 1000;
	cfg.read_timeout_ms = 10000;
	b = connect_ok(&cfg);
	h_sql(DB, "DELETE FROM pj_lock; INSERT INTO pj_lock VALUES (1, 0)");
	before = prepared_count(b);
	for (i = 0; i < 3; i++)
		exec_ok(b, SQL_BUMP, &one, 1);
	assert_int_equal(prepared_count(b), before + 1);

	assert_int_equal(pj_db_begin(a, &err), PJ_OK);
	exec_ok(a, SQL_BUMP, &one, 1);
	assert_int_equal(pj_db_begin(b, &err), PJ_OK);
	assert_int_equal(pj_db_stmt(b, SQL_HOLD, &st, &err), PJ_OK);
	rc = pj_stmt_exec(st, &one, 1, &err);
	if (rc != PJ_ERETRY || err.db_errno != 1205)
		fail_msg(
		    "%s (%u): %s", pj_status_name(rc), err.db_errno, err.msg);
	pj_db_rollback(b);
	pj_db_rollback(a);

	t0 = h_now_ms();
	assert_int_equal(pj_db_stmt(b, SQL_HOLD, &st, &err), PJ_OK);
	if (pj_stmt_exec(st, &one, 1, &err) != PJ_OK ||
	    pj_stmt_fetch(st, &row, &err) != PJ_OK || !row)
		fail_msg("after the timeout: %s", err.msg);
	assert_int_equal(pj_stmt_int(st, 1), 3);
	if (h_now_ms() - t0 > 2000)
		fail_msg(
		    "the statement took %lld ms", (long long)(h_now_ms() - t0));
	pj_db_close(a);
	pj_db_close(b);
}

static void
test_killed_connection_then_reconnect(void **state)
{
	struct pj_db_config cfg;
	struct pj_param id = PJ_INT(7);
	struct pj_error err = { 0 };
	struct pj_db *db;
	char kill[64];
	int64_t old_id, new_id;
	int rc;

	(void)state;
	base_cfg(&cfg, DB);
	cfg.lock_wait_timeout_ms = 4000;
	db = connect_ok(&cfg);
	h_sql(DB, "DELETE FROM pj_lock");
	old_id = int_at(db, SQL_CONN_ID, NULL, 0);
	assert_int_equal(pj_db_begin(db, &err), PJ_OK);
	exec_ok(db, "INSERT INTO pj_lock VALUES (?, 0)", &id, 1);
	snprintf(kill, sizeof(kill), "KILL CONNECTION %lld", (long long)old_id);
	h_sql(NULL, kill);

	rc = pj_db_exec(db, SQL_ONE, NULL, 0, NULL, &err);
	if (rc != PJ_ECONN ||
	    (err.db_errno != 1927 && err.db_errno != 2006 &&
	        err.db_errno != 2013))
		fail_msg("after KILL: %s (%u): %s", pj_status_name(rc),
		    err.db_errno, err.msg);
	assert_true(pj_status_retryable(rc));
	pj_db_rollback(db); /* the connection is gone: must not crash */

	pj_error_clear(&err);
	assert_int_equal(pj_db_reconnect(db, &err), PJ_OK);
	new_id = int_at(db, SQL_CONN_ID, NULL, 0);
	assert_true(new_id != old_id);
	/* The session is set up again; the killed transaction is gone. */
	assert_int_equal(
	    int_at(db, "SELECT @@session.innodb_lock_wait_timeout", NULL, 0),
	    4);
	assert_int_equal(h_query_int(DB, "SELECT COUNT(*) FROM pj_lock"), 0);
	assert_int_equal(pj_db_begin(db, &err), PJ_OK);
	assert_int_equal(pj_db_commit(db, &err), PJ_OK);
	pj_db_close(db);
}

static void
test_failed_reconnect_leaves_db_usable(void **state)
{
	struct pj_db *db = h_connect(DB);
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;

	(void)state;
	/* A user that no longer exists cannot reconnect. */
	h_sql(NULL,
	    "CREATE USER 'pj_test_gone'@'localhost';"
	    "GRANT ALL ON " DB ".* TO 'pj_test_gone'@'localhost'");
	{
		struct pj_db_config cfg;
		struct pj_db *gone;

		base_cfg(&cfg, DB);
		pj_strlcpy(cfg.user, "pj_test_gone", sizeof(cfg.user));
		gone = connect_ok(&cfg);
		h_sql(NULL, "DROP USER 'pj_test_gone'@'localhost'");
		assert_int_equal(pj_db_reconnect(gone, &err), PJ_EACCESS);
		pj_error_clear(&err);
		/* Every call now says the connection is gone. */
		assert_int_equal(
		    pj_stmt_prepare(gone, SQL_ONE, &st, &err), PJ_ECONN);
		pj_error_clear(&err);
		assert_int_equal(pj_db_begin(gone, &err), PJ_ECONN);
		assert_string_equal(pj_db_server_version(gone), "");
		pj_db_close(gone);
	}
	/* Other connections are not affected. */
	assert_int_equal(int_at(db, SQL_ONE, NULL, 0), 1);
	pj_db_close(db);
}

static int
group_setup(void **state)
{
	(void)state;
	h_reset_db(DB);
	h_sql(DB, SETUP_SQL);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	h_sql(NULL,
	    "DROP USER IF EXISTS '" TEST_USER
	    "'@'localhost',"
	    " '" TEST_USER
	    "'@'127.0.0.1';"
	    "DROP DATABASE IF EXISTS " DB);
	h_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_socket_sets_session),
		cmocka_unit_test(test_connect_tcp_password_sources),
		cmocka_unit_test(test_wrong_password_is_access_denied),
		cmocka_unit_test(test_unreachable_is_connection_error),
		cmocka_unit_test(test_unknown_database_is_schema_error),
		cmocka_unit_test(test_tls_modes),
		cmocka_unit_test(test_schema_verify_reads_alembic),
		cmocka_unit_test(test_schema_verify_names_what_is_missing),
		cmocka_unit_test(test_hostile_text_round_trips),
		cmocka_unit_test(test_unstorable_text_is_invalid),
		cmocka_unit_test(test_null_columns_and_params),
		cmocka_unit_test(test_long_text_returned_whole),
		cmocka_unit_test(test_wide_doubles_returned_whole),
		cmocka_unit_test(test_reexecuting_a_statement),
		cmocka_unit_test(test_wrong_parameter_count_is_invalid),
		cmocka_unit_test(test_too_many_columns_is_invalid),
		cmocka_unit_test(test_statement_after_table_change),
		cmocka_unit_test(test_affected_and_rows),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_deadlock_is_retry),
		cmocka_unit_test(test_lock_wait_timeout_is_retry),
		cmocka_unit_test(test_kept_statement_after_lock_wait),
		cmocka_unit_test(test_killed_connection_then_reconnect),
		cmocka_unit_test(test_failed_reconnect_leaves_db_usable),
	};

	h_require_sandbox();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
