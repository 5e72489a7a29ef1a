/*
 * common/runlock.c's server-side lock against the sandbox MariaDB: two
 * connections, the timeout, a lock lost with its connection or to a
 * reconnect, hostile names bound as data, and a wait that is killed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/db.h"
#include "common/runlock.h"
#include "common/time.h"
#include "tests/integration/harness.h"

#define DB "pj_test_runlock"

static const char SQL_CONN_ID[] = "SELECT CONNECTION_ID()";

/* A lock name no other test run on this server uses. */
static void
lock_name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "pj_test_%ld_%s", (long)getpid(), what);
}

static int64_t
connection_id(struct pj_db *db)
{
	struct pj_error err = { 0 };
	struct pj_stmt *st = NULL;
	bool row = false;
	int64_t id;

	assert_int_equal(pj_stmt_prepare(db, SQL_CONN_ID, &st, &err), PJ_OK);
	assert_int_equal(pj_stmt_exec(st, NULL, 0, &err), PJ_OK);
	assert_int_equal(pj_stmt_fetch(st, &row, &err), PJ_OK);
	assert_true(row);
	id = pj_stmt_int(st, 0);
	pj_stmt_close(st);
	return id;
}

static void
test_second_connection_is_locked_out(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	struct pj_error err = { 0 };
	char name[64], want[64];

	(void)state;
	lock_name(name, sizeof(name), "two");
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_OK);
	assert_int_equal(pj_runlock_acquire_db(b, name, 0, &err), PJ_ELOCKED);
	snprintf(want, sizeof(want), "(connection %lld)",
	    (long long)connection_id(a));
	if (strstr(err.msg, want) == NULL || strstr(err.msg, name) == NULL)
		fail_msg(
		    "message does not name %s and %s: %s", name, want, err.msg);
	pj_runlock_release_db(a, name);
	pj_error_clear(&err);
	assert_int_equal(pj_runlock_acquire_db(b, name, 0, &err), PJ_OK);
	/* Now a is the one locked out. */
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_ELOCKED);
	pj_runlock_release_db(b, name);
	pj_db_close(a);
	pj_db_close(b);
}

/* A timeout of 1 ms waits one whole second, not zero. */
static void
test_timeout_rounds_up_to_a_second(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	struct pj_error err = { 0 };
	int64_t start, waited;
	char name[64];

	(void)state;
	lock_name(name, sizeof(name), "timeout");
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_OK);
	start = pj_time_mono_ms();
	assert_int_equal(pj_runlock_acquire_db(b, name, 1, &err), PJ_ELOCKED);
	waited = pj_time_mono_ms() - start;
	if (waited < 900 || waited > 5000)
		fail_msg("waited %lld ms for a 1 ms timeout, want about 1 s",
		    (long long)waited);
	pj_db_close(a);
	pj_db_close(b);
}

/* Closing the connection releases the lock; a waiter gets it. */
static void
test_closed_connection_releases(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	struct pj_error err = { 0 };
	char name[64];

	(void)state;
	lock_name(name, sizeof(name), "close");
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_OK);
	pj_db_close(a);
	assert_int_equal(pj_runlock_acquire_db(b, name, 10000, &err), PJ_OK);
	pj_db_close(b);
}

/* pj_db_reconnect drops the lock with the old session (documented). */
static void
test_reconnect_loses_the_lock(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	struct pj_error err = { 0 };
	char name[64];

	(void)state;
	lock_name(name, sizeof(name), "reconnect");
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_OK);
	assert_int_equal(pj_db_reconnect(a, &err), PJ_OK);
	assert_int_equal(pj_runlock_acquire_db(b, name, 10000, &err), PJ_OK);
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_ELOCKED);
	pj_db_close(a);
	pj_db_close(b);
}

struct name_case {
	const char *what;
	const char *name;
	int64_t timeout_ms;
	int rc;
};

/* 64 and 65 bytes. */
#define NAME64 \
	"pj_test_64_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define NAME65 NAME64 "b"

static const struct name_case name_cases[] = {
	{ "quotes and backslashes", "pj_test_'\"\\;-- x", 0, PJ_OK },
	{ "a LIKE pattern", "pj_test_%_", 0, PJ_OK },
	{ "64 bytes", NAME64, 0, PJ_OK },
	{ "65 bytes", NAME65, 0, PJ_EINVAL },
	{ "empty", "", 0, PJ_EINVAL },
	{ "NULL", NULL, 0, PJ_EINVAL },
	{ "negative timeout", "pj_test_negative", -1, PJ_EINVAL },
};

/* Names are bound as data: a hostile one locks exactly that name. */
static void
test_names(void **state)
{
	struct pj_db *a = h_connect(DB), *b = h_connect(DB);
	size_t i;

	(void)state;
	assert_int_equal(sizeof(NAME64) - 1, PJ_RUNLOCK_NAME_MAX);
	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		struct pj_error err = { 0 };
		int rc;

		rc = pj_runlock_acquire_db(a, c->name, c->timeout_ms, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->what, rc, c->rc,
			    err.msg);
		if (rc != PJ_OK)
			continue;
		pj_error_clear(&err);
		rc = pj_runlock_acquire_db(b, c->name, 0, &err);
		if (rc != PJ_ELOCKED)
			fail_msg("%s: second connection got rc %d (%s)",
			    c->what, rc, err.msg);
		/* A different name is free: nothing matched as a pattern. */
		pj_error_clear(&err);
		rc = pj_runlock_acquire_db(b, "pj_test_x_", 0, &err);
		if (rc != PJ_OK)
			fail_msg("%s: an unrelated name is held: %s", c->what,
			    err.msg);
		pj_runlock_release_db(b, "pj_test_x_");
		pj_runlock_release_db(a, c->name);
	}
	pj_runlock_release_db(a, NULL);
	pj_runlock_release_db(NULL, "pj_test_x_");
	pj_db_close(a);
	pj_db_close(b);
}

struct waiter {
	struct pj_db *db;
	const char *name;
	int rc;
	struct pj_error err;
};

static void *
wait_for_lock(void *arg)
{
	struct waiter *w = arg;

	w->rc = pj_runlock_acquire_db(w->db, w->name, 60000, &w->err);
	return NULL;
}

/* A wait killed by the server (KILL QUERY) is an error, not "held". */
static void
test_killed_wait_is_an_error(void **state)
{
	struct pj_db *a = h_connect(DB);
	struct pj_error err = { 0 };
	struct waiter w = { 0 };
	pthread_t thread;
	char sql[160], name[64];
	int64_t id;
	int i;

	(void)state;
	lock_name(name, sizeof(name), "kill");
	assert_int_equal(pj_runlock_acquire_db(a, name, 0, &err), PJ_OK);
	w.db = h_connect(DB);
	w.name = name;
	id = connection_id(w.db);
	assert_int_equal(pthread_create(&thread, NULL, wait_for_lock, &w), 0);
	snprintf(sql, sizeof(sql),
	    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
	    " WHERE ID = %lld AND INFO LIKE 'SELECT GET_LOCK%%'",
	    (long long)id);
	for (i = 0; i < 200 && h_query_int(DB, sql) == 0; i++)
		pj_time_sleep_ms(50);
	assert_true(i < 200);
	snprintf(sql, sizeof(sql), "KILL QUERY %lld", (long long)id);
	h_sql(DB, sql);
	assert_int_equal(pthread_join(thread, NULL), 0);
	/* MariaDB answers NULL to a killed GET_LOCK. */
	if (w.rc != PJ_EDB || strstr(w.err.msg, "NULL") == NULL)
		fail_msg("killed wait: rc %s, want db (NULL): %s",
		    pj_status_name(w.rc), w.err.msg);
	pj_db_close(w.db);
	pj_db_close(a);
}

static int
group_setup(void **state)
{
	(void)state;
	h_reset_db(DB);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	h_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_second_connection_is_locked_out),
		cmocka_unit_test(test_timeout_rounds_up_to_a_second),
		cmocka_unit_test(test_closed_connection_releases),
		cmocka_unit_test(test_reconnect_loses_the_lock),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_killed_wait_is_an_error),
	};

	h_require_sandbox();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
