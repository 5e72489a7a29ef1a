/* Unit tests for pj_db_classify: what each database error number means. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "common/db.h"
#include "common/error.h"

/* Numbers as written, not from <mysql.h> (kept to common/db.c), so the
 * table also catches a header that renumbered one. */
struct classify_case {
	unsigned int db_errno;
	const char *name;
	enum pj_status want;
};

static const struct classify_case cases[] = {
	{ 0, "no error", PJ_OK },
	/* Redo the transaction. */
	{ 1205, "ER_LOCK_WAIT_TIMEOUT", PJ_ERETRY },
	{ 1213, "ER_LOCK_DEADLOCK (also Galera certification)", PJ_ERETRY },
	{ 1467, "ER_AUTOINC_READ_FAILED (an AUTO-INC lock deadlock)",
	    PJ_ERETRY },
	{ 1614, "ER_XA_RBDEADLOCK", PJ_ERETRY },
	{ 2057, "CR_NEW_STMT_METADATA (table altered)", PJ_ERETRY },
	/* Reconnect, then redo. */
	{ 2001, "CR_SOCKET_CREATE_ERROR", PJ_ECONN },
	{ 2002, "CR_CONNECTION_ERROR", PJ_ECONN },
	{ 2003, "CR_CONN_HOST_ERROR", PJ_ECONN },
	{ 2004, "CR_IPSOCK_ERROR", PJ_ECONN },
	{ 2005, "CR_UNKNOWN_HOST", PJ_ECONN },
	{ 2006, "CR_SERVER_GONE_ERROR", PJ_ECONN },
	{ 2013, "CR_SERVER_LOST", PJ_ECONN },
	{ 2055, "CR_SERVER_LOST_EXTENDED", PJ_ECONN },
	{ 5013, "CR_ERR_NET_READ", PJ_ECONN },
	{ 5014, "CR_ERR_NET_WRITE", PJ_ECONN },
	{ 1040, "ER_CON_COUNT_ERROR", PJ_ECONN },
	{ 1047, "ER_UNKNOWN_COM_ERROR (Galera node not ready)", PJ_ECONN },
	{ 1053, "ER_SERVER_SHUTDOWN", PJ_ECONN },
	{ 1927, "ER_CONNECTION_KILLED", PJ_ECONN },
	/* Denied: a grant or the password must change. */
	{ 1044, "ER_DBACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1045, "ER_ACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1142, "ER_TABLEACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1143, "ER_COLUMNACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1227, "ER_SPECIFIC_ACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1370, "ER_PROCACCESS_DENIED_ERROR", PJ_EACCESS },
	{ 1698, "ER_ACCESS_DENIED_NO_PASSWORD_ERROR", PJ_EACCESS },
	{ 1820, "ER_MUST_CHANGE_PASSWORD", PJ_EACCESS },
	{ 1862, "ER_MUST_CHANGE_PASSWORD_LOGIN", PJ_EACCESS },
	{ 4151, "ER_ACCOUNT_HAS_BEEN_LOCKED", PJ_EACCESS },
	/* Not the schema this worker knows. */
	{ 1049, "ER_BAD_DB_ERROR", PJ_ESCHEMA },
	{ 1054, "ER_BAD_FIELD_ERROR", PJ_ESCHEMA },
	{ 1146, "ER_NO_SUCH_TABLE", PJ_ESCHEMA },
	/* A value the column cannot hold. */
	{ 1366, "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", PJ_EINVAL },
	{ 1300, "ER_INVALID_CHARACTER_STRING", PJ_EINVAL },
	{ 1406, "ER_DATA_TOO_LONG", PJ_EINVAL },
	/* TLS refused or not verified: configuration. */
	{ 2026, "CR_SSL_CONNECTION_ERROR", PJ_ECONFIG },
	{ 2008, "CR_OUT_OF_MEMORY", PJ_ENOMEM },
	{ 2014, "CR_COMMANDS_OUT_OF_SYNC", PJ_EINTERNAL },
	/* Everything else: a database error a retry will not fix. */
	{ 1062, "ER_DUP_ENTRY", PJ_EDB },
	{ 1064, "ER_PARSE_ERROR", PJ_EDB },
	{ 1451, "ER_ROW_IS_REFERENCED_2", PJ_EDB },
	{ 1452, "ER_NO_REFERENCED_ROW_2", PJ_EDB },
	{ 1290, "ER_OPTION_PREVENTS_STATEMENT (read only)", PJ_EDB },
	{ 1317, "ER_QUERY_INTERRUPTED", PJ_EDB },
	{ 1180, "ER_ERROR_DURING_COMMIT", PJ_EDB },
	/* MySQL 8's idle-client disconnect is 4031; in MariaDB 4031 is
	 * ER_REFERENCED_TRG_DOES_NOT_EXIST, which no retry fixes. */
	{ 4031, "ER_REFERENCED_TRG_DOES_NOT_EXIST", PJ_EDB },
	{ 2000, "CR_UNKNOWN_ERROR", PJ_EDB },
	{ 99999, "unknown number", PJ_EDB },
};

static void
test_classify_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct classify_case *c = &cases[i];
		enum pj_status got = pj_db_classify(c->db_errno);

		if (got != c->want)
			fail_msg("%u %s: %s, want %s", c->db_errno, c->name,
			    pj_status_name(got), pj_status_name(c->want));
	}
}

/* Only the two lock errors ask for a plain redo; the connection errors
 * are retryable too, after a reconnect. */
static void
test_retryable_classes(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct classify_case *c = &cases[i];
		bool want = c->want == PJ_ERETRY || c->want == PJ_ECONN;

		if (pj_status_retryable(pj_db_classify(c->db_errno)) != want)
			fail_msg("%u %s: retryable is %d", c->db_errno, c->name,
			    !want);
	}
}

/* A deadlock at COMMIT (pj_db_commit) is Galera's certification
 * failing: its own status, redone as a deadlock is. */
static void
test_certification_status(void **state)
{
	(void)state;
	assert_true(pj_status_retryable(PJ_ECERT));
	assert_string_equal(pj_status_name(PJ_ECERT), "certification");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_table),
		cmocka_unit_test(test_retryable_classes),
		cmocka_unit_test(test_certification_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
