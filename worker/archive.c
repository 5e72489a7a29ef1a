/* The archive table's presence check (the rest is in each pass's SQL). */
#include "worker/archive.h"

static const char SQL_PROBE[] =
    "SELECT COUNT(*) FROM placement_janitor_archive WHERE 1 = 0";

/* MariaDB/MySQL: no such table. */
#define ER_NO_SUCH_TABLE_NUMBER 1146

int
pj_archive_check(struct pj_db *db, struct pj_error *err)
{
	struct pj_error probe = { 0 };
	int rc;

	rc = pj_db_exec(db, SQL_PROBE, NULL, 0, NULL, &probe);
	if (rc == PJ_OK)
		return PJ_OK;
	if (probe.db_errno == ER_NO_SUCH_TABLE_NUMBER)
		return pj_error_set(err, PJ_ESCHEMA,
		    "table placement_janitor_archive is missing: an "
		    "administrator runs sql/archive.sql in this database "
		    "(installed in share/placement-janitor/sql), or set "
		    "archive.enabled: false to delete without archiving");
	return pj_error_set_db(err, (enum pj_status)rc, probe.db_errno,
	    probe.sqlstate, "%s", probe.msg);
}
