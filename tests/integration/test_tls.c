/*
 * TLS to the database, through the placement-janitor binary, against two
 * private servers started here: one with a throwaway CA's certificate
 * for 127.0.0.1 and localhost (tests/integration/fixtures/tls-certs.sh)
 * that refuses plain-text TCP (require_secure_transport) and also listens
 * on 127.0.0.2, a name its certificate does not carry; and one without
 * TLS at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define DB "pj_it_tls"
#define USER "pj_tls"
#define PASSWORD "tls-test-pw"

static char top[] = "/tmp/pj-tls-XXXXXX";
static struct h_server tls_server, plain_server;

static const char SQL_PREAUTH[] =
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS"
    " WHERE VARIABLE_NAME = 'ABORTED_CONNECTS_PREAUTH'";

/* The account of the tests, over TCP from both loopback addresses. */
static const char SQL_ACCOUNT[] =
    "CREATE USER '" USER "'@'127.0.0.1' IDENTIFIED BY '" PASSWORD
    "';"
    "CREATE USER '" USER "'@'127.0.0.2' IDENTIFIED BY '" PASSWORD
    "';"
    "GRANT ALL ON " DB ".* TO '" USER
    "'@'127.0.0.1';"
    "GRANT ALL ON " DB ".* TO '" USER "'@'127.0.0.2';";

static void
stop_all(void)
{
	struct h_server *all[] = { &tls_server, &plain_server };

	h_servers_stop(all, 2, top);
}

static bool
make_certs(void)
{
	const char *argv[] = { "bash",
		PJ_SOURCE_DIR "/tests/integration/fixtures/tls-certs.sh", top,
		NULL };

	return h_command(argv) == 0;
}

static bool
start_all(void)
{
	char dir[256], extra[1024];

	if (mkdtemp(top) == NULL) {
		fprintf(stderr, "test_tls: mkdtemp: %s\n", strerror(errno));
		return false;
	}
	atexit(stop_all);
	if (!make_certs()) {
		fprintf(stderr, "test_tls: tls-certs.sh failed (openssl?)\n");
		return false;
	}
	snprintf(dir, sizeof(dir), "%s/tls", top);
	snprintf(extra, sizeof(extra),
	    "--ssl-ca=%s/ca.pem --ssl-cert=%s/server.pem "
	    "--ssl-key=%s/server.key --require-secure-transport=ON "
	    "--bind-address=127.0.0.1,127.0.0.2 "
	    "--innodb-buffer-pool-size=32M",
	    top, top, top);
	if (!h_server_start(&tls_server, dir, extra))
		return false;
	snprintf(dir, sizeof(dir), "%s/plain", top);
	return h_server_start(
	    &plain_server, dir, "--skip-ssl --innodb-buffer-pool-size=32M");
}

static int
setup(void **state)
{
	(void)state;
	h_server_use(&plain_server);
	h_sql(NULL, SQL_ACCOUNT);
	h_reset_db(DB);
	h_server_use(&tls_server);
	h_sql(NULL, SQL_ACCOUNT);
	h_reset_db(DB);
	return 0;
}

/* A config reaching server s at host, with these TLS settings. */
static char *
config(const struct h_server *s, const char *host, const char *mode,
    const char *ca)
{
	char db[1024];

	if (ca != NULL)
		snprintf(db, sizeof(db),
		    "  password: \"" PASSWORD
		    "\"\n"
		    "  tls:\n    mode: %s\n    ca: \"%s/%s\"\n",
		    mode, top, ca);
	else
		snprintf(db, sizeof(db),
		    "  password: \"" PASSWORD "\"\n  tls:\n    mode: %s\n",
		    mode);
	return h_config_tcp(DB, host, s->port, USER, db, NULL);
}

static struct h_result
check(const char *cfg)
{
	const char *argv[] = { "--config", cfg, "--pass",
		"incomplete_consumers", "check", NULL };

	return h_run(argv, NULL);
}

/* Connections the server dropped before authenticating anyone. */
static long long
preauth_aborts(const struct h_server *s)
{
	h_server_use(s);
	return h_query_int(NULL, SQL_PREAUTH);
}

/* A run with mode and ca at host that must be refused before any
 * authentication: exit 78, an error naming TLS and the settings, one
 * more pre-authentication abort on the server. */
static void
expect_refused(const struct h_server *s, const char *host, const char *mode,
    const char *ca, const char *why)
{
	char *cfg = config(s, host, mode, ca);
	long long before = preauth_aborts(s);
	struct h_result r = check(cfg);

	h_expect_exit(&r, 78, mode);
	h_expect_log(&r, "event=run_failed status=config connect: tls: ", true);
	h_expect_log(&r, why, true);
	h_expect_log(&r, "check database.tls.mode and database.tls.ca", true);
	if (strstr(r.err, "event=connected") != NULL)
		fail_msg("%s connected:\n%s", mode, r.err);
	assert_int_equal(preauth_aborts(s), before + 1);
	h_result_free(&r);
	free(cfg);
}

/* The right CA and name: connected, and the session is encrypted (the
 * worker names the cipher; the server takes no plain-text TCP). */
static void
tls_verified_connection_is_encrypted(void **state)
{
	const char *modes[] = { "verify_identity", "verify_ca", "required",
		"preferred" };
	struct h_result r;
	size_t i;

	(void)state;
	h_server_use(&tls_server);
	assert_int_equal(
	    h_query_int(NULL, "SELECT @@require_secure_transport"), 1);
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char *cfg = config(&tls_server, "127.0.0.1", modes[i],
		    i < 2 ? "ca.pem" : NULL);

		r = check(cfg);
		h_expect_exit(&r, 0, modes[i]);
		h_expect_log(&r, "event=connected server=", true);
		h_expect_log(&r, " tls=TLS_", true);
		h_result_free(&r);
		free(cfg);
	}
}

/* A CA that did not sign the server's certificate: refused. */
static void
tls_wrong_ca_is_refused(void **state)
{
	(void)state;
	expect_refused(&tls_server, "127.0.0.1", "verify_ca", "other-ca.pem",
	    "certificate");
	expect_refused(&tls_server, "127.0.0.1", "verify_identity",
	    "other-ca.pem", "certificate");
}

/* 127.0.0.2 is the same server, but not a name in its certificate:
 * verify_identity refuses it; verify_ca, which checks the chain only,
 * takes it, as documented. */
static void
tls_wrong_host_name_is_refused(void **state)
{
	char *cfg;
	struct h_result r;

	(void)state;
	expect_refused(&tls_server, "127.0.0.2", "verify_identity", "ca.pem",
	    "Validation of SSL server certificate failed");
	cfg = config(&tls_server, "127.0.0.2", "verify_ca", "ca.pem");
	r = check(cfg);
	h_expect_exit(&r, 0, "verify_ca at 127.0.0.2");
	h_expect_log(&r, " tls=TLS_", true);
	h_result_free(&r);
	free(cfg);
}

/* A server without TLS: every mode that demands TLS is refused before
 * the account authenticates (nothing goes out in plain text), while
 * preferred connects unencrypted and says so. */
static void
tls_required_never_falls_back(void **state)
{
	struct h_result r;
	char *cfg;

	(void)state;
	h_server_use(&plain_server);
	assert_int_equal(
	    h_query_int(NULL, "SELECT @@have_ssl = 'DISABLED'"), 1);
	expect_refused(&plain_server, "127.0.0.1", "required", NULL,
	    "the server offers no TLS");
	expect_refused(&plain_server, "127.0.0.1", "verify_ca", "ca.pem",
	    "the server offers no TLS");
	expect_refused(&plain_server, "127.0.0.1", "verify_identity", "ca.pem",
	    "the server offers no TLS");
	cfg = config(&plain_server, "127.0.0.1", "preferred", NULL);
	r = check(cfg);
	h_expect_exit(&r, 0, "preferred without TLS");
	h_expect_log(&r, " tls=none", true);
	h_result_free(&r);
	free(cfg);
}

/* One process, several connections (reconnects, replicas): the guard is
 * registered once and every connection of a demanding mode is still
 * encrypted, or still refused without TLS. */
static void
tls_every_connection_of_a_process(void **state)
{
	struct pj_db_config cfg;
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;
	int i;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	strcpy(cfg.host, "127.0.0.1");
	cfg.port = tls_server.port;
	strcpy(cfg.name, DB);
	strcpy(cfg.user, USER);
	strcpy(cfg.password, PASSWORD);
	cfg.tls_mode = PJ_TLS_VERIFY_IDENTITY;
	snprintf(cfg.tls_ca, sizeof(cfg.tls_ca), "%s/ca.pem", top);
	cfg.connect_timeout_ms = 10000;
	cfg.lock_wait_timeout_ms = 2000;
	assert_int_equal(pj_db_connect(&cfg, &db, &err), PJ_OK);
	for (i = 0; i < 3; i++) {
		assert_true(strncmp(pj_db_tls_cipher(db), "TLS_", 4) == 0);
		assert_int_equal(pj_db_reconnect(db, &err), PJ_OK);
	}
	pj_db_close(db);
	db = NULL;
	cfg.port = plain_server.port;
	cfg.tls_mode = PJ_TLS_REQUIRED;
	for (i = 0; i < 2; i++) {
		assert_int_equal(pj_db_connect(&cfg, &db, &err), PJ_ECONFIG);
		assert_non_null(strstr(err.msg, "the server offers no TLS"));
		pj_error_clear(&err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tls_verified_connection_is_encrypted),
		cmocka_unit_test(tls_wrong_ca_is_refused),
		cmocka_unit_test(tls_wrong_host_name_is_refused),
		cmocka_unit_test(tls_required_never_falls_back),
		cmocka_unit_test(tls_every_connection_of_a_process),
	};
	int failed;

	if (!start_all()) {
		stop_all();
		return h_cannot_run("the TLS servers did not start", NULL);
	}
	h_server_use(&tls_server);
	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, setup, NULL);
	h_cleanup();
	stop_all();
	return failed;
}
