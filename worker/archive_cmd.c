/* `archive list` and `archive purge`: the archive table for its operator. */
#include "worker/archive_cmd.h"

#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/time.h"
#include "worker/batch_txn.h"

#define ISO(x) "DATE_FORMAT(" x ", '%Y-%m-%dT%H:%i:%sZ')"

/*
 * One row per run, pass, table and action, with the run's totals and span
 * on every row (window functions) and nth = 1 on a run's first row: the
 * server groups and orders, C only prints. Runs oldest first.
 */
#define LIST_HEAD \
	"SELECT g.run_id, g.pass, g.table_name, g.action, g.n, g.restored," \
	" " ISO("g.first_at") ", " ISO("g.last_at") ", g.run_n," \
	" g.run_restored, " ISO("g.run_first") ", " ISO("g.run_last") "," \
	" g.nth FROM (SELECT z.run_id, z.pass, z.table_name," \
	" CAST(z.action AS CHAR) AS action, COUNT(*) AS n," \
	" COUNT(z.restored_at) AS restored, MIN(z.archived_at) AS first_at," \
	" MAX(z.archived_at) AS last_at," \
	" CAST(SUM(COUNT(*)) OVER w AS SIGNED) AS run_n," \
	" CAST(SUM(COUNT(z.restored_at)) OVER w AS SIGNED) AS run_restored," \
	" MIN(MIN(z.archived_at)) OVER w AS run_first," \
	" MAX(MAX(z.archived_at)) OVER w AS run_last," \
	" ROW_NUMBER() OVER (PARTITION BY z.run_id" \
	" ORDER BY z.pass, z.table_name, z.action) AS nth" \
	" FROM placement_janitor_archive z"
#define LIST_TAIL \
	" GROUP BY z.run_id, z.pass, z.table_name, z.action" \
	" WINDOW w AS (PARTITION BY z.run_id)) g" \
	" ORDER BY g.run_first, g.run_id, g.nth"
static const char SQL_LIST_ALL[] = LIST_HEAD LIST_TAIL;
static const char SQL_LIST_RUN[] = LIST_HEAD " WHERE z.run_id = ?" LIST_TAIL;

/* Column numbers of the listing. */
enum {
	COL_RUN,
	COL_PASS,
	COL_TABLE,
	COL_ACTION,
	COL_ROWS,
	COL_RESTORED,
	COL_FIRST,
	COL_LAST,
	COL_RUN_ROWS,
	COL_RUN_RESTORED,
	COL_RUN_FIRST,
	COL_RUN_LAST,
	COL_NTH,
};

static const char SQL_CUTOFF[] =
    "SELECT CAST(UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND AS CHAR)";
/* The last id to look at, so the keyset never scans newer rows. */
static const char SQL_PURGE_SPAN[] =
    "SELECT COALESCE(MAX(id), 0), COUNT(*) FROM placement_janitor_archive"
    " WHERE archived_at < ?";
static const char SQL_PURGE_FIND[] =
    "SELECT MAX(b.id), COUNT(*) FROM (SELECT id"
    " FROM placement_janitor_archive WHERE id > ? AND id <= ?"
    " AND archived_at < ? ORDER BY id LIMIT ?) b";
static const char SQL_PURGE_DELETE[] =
    "DELETE FROM placement_janitor_archive"
    " WHERE id > ? AND id <= ? AND archived_at < ?";

static const char *
text(const struct pj_stmt *st, unsigned int col)
{
	return pj_stmt_text(st, col, NULL);
}

static void
list_table_row(const struct pj_stmt *st, bool first_run, FILE *out)
{
	if (pj_stmt_int(st, COL_NTH) == 1) {
		if (!first_run)
			fputc('\n', out);
		fprintf(out, "run %s  %s .. %s  rows %lld  restored %lld\n",
		    text(st, COL_RUN), text(st, COL_RUN_FIRST),
		    text(st, COL_RUN_LAST),
		    (long long)pj_stmt_int(st, COL_RUN_ROWS),
		    (long long)pj_stmt_int(st, COL_RUN_RESTORED));
		fprintf(out, "  %-26s  %-28s  %-6s  %9s  %9s\n", "pass",
		    "table", "action", "rows", "restored");
	}
	fprintf(out, "  %-26s  %-28s  %-6s  %9lld  %9lld\n", text(st, COL_PASS),
	    text(st, COL_TABLE), text(st, COL_ACTION),
	    (long long)pj_stmt_int(st, COL_ROWS),
	    (long long)pj_stmt_int(st, COL_RESTORED));
}

static void
json_count(struct pj_json *j, const char *key, int64_t v)
{
	pj_json_key(j, key);
	pj_json_int(j, v);
}

static void
json_text(struct pj_json *j, const char *key, const char *v)
{
	pj_json_key(j, key);
	pj_json_string(j, v);
}

static void
list_json_row(const struct pj_stmt *st, bool first_run, struct pj_json *j)
{
	if (pj_stmt_int(st, COL_NTH) == 1) {
		if (!first_run) {
			pj_json_array_end(j);
			pj_json_object_end(j);
		}
		pj_json_object_begin(j);
		json_text(j, "run_id", text(st, COL_RUN));
		json_text(j, "first_archived_at", text(st, COL_RUN_FIRST));
		json_text(j, "last_archived_at", text(st, COL_RUN_LAST));
		json_count(j, "rows", pj_stmt_int(st, COL_RUN_ROWS));
		json_count(j, "restored", pj_stmt_int(st, COL_RUN_RESTORED));
		pj_json_key(j, "groups");
		pj_json_array_begin(j);
	}
	pj_json_object_begin(j);
	json_text(j, "pass", text(st, COL_PASS));
	json_text(j, "table", text(st, COL_TABLE));
	json_text(j, "action", text(st, COL_ACTION));
	json_count(j, "rows", pj_stmt_int(st, COL_ROWS));
	json_count(j, "restored", pj_stmt_int(st, COL_RESTORED));
	json_text(j, "first_archived_at", text(st, COL_FIRST));
	json_text(j, "last_archived_at", text(st, COL_LAST));
	pj_json_object_end(j);
}

int
pj_archive_list(struct pj_db *db, const char *run_id,
    enum pj_report_format format, FILE *out, size_t *runs, struct pj_error *err)
{
	struct pj_param p = PJ_TEXT(run_id != NULL ? run_id : "");
	struct pj_stmt *st = NULL;
	struct pj_json j;
	bool row = false;
	size_t n = 0;
	int rc;

	if (run_id != NULL)
		rc = pj_stmt_prepare(db, SQL_LIST_RUN, &st, err);
	else
		rc = pj_stmt_prepare(db, SQL_LIST_ALL, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &p, run_id != NULL ? 1 : 0, err);
	if (rc)
		goto out;
	pj_json_init(&j, out);
	if (format == PJ_REPORT_JSON) {
		pj_json_object_begin(&j);
		json_count(&j, "schema_version", PJ_ARCHIVE_SCHEMA_VERSION);
		json_text(&j, "version", PJ_VERSION);
		json_text(&j, "command", "archive list");
		pj_json_key(&j, "runs");
		pj_json_array_begin(&j);
	}
	for (;;) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		if (format == PJ_REPORT_JSON)
			list_json_row(st, n == 0, &j);
		else
			list_table_row(st, n == 0, out);
		if (pj_stmt_int(st, COL_NTH) == 1)
			n++;
	}
	if (format == PJ_REPORT_JSON) {
		if (n > 0) {
			pj_json_array_end(&j);
			pj_json_object_end(&j);
		}
		pj_json_array_end(&j);
		pj_json_object_end(&j);
		fputc('\n', out);
	} else if (n == 0) {
		fputs(run_id != NULL ? "nothing archived for this run\n"
		                     : "the archive is empty\n",
		    out);
	}
	if (rc == PJ_OK)
		*runs = n;
out:
	pj_stmt_close(st);
	return rc;
}

/* Purge's state across batches. */
struct purge {
	struct pj_db *db;
	const struct pj_config *cfg;
	struct pj_purge_report *r;
	int64_t after, last, end, n;
	uint64_t deleted; /* by one attempt */
};

static int
purge_span(struct purge *x, struct pj_error *err)
{
	struct pj_param p = PJ_INT(x->r->older_than_ms * 1000);
	struct pj_param c = PJ_TEXT(x->r->cutoff);
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	if (x->r->older_than_ms > INT64_MAX / 1000)
		return PJ_OK; /* before any date: nothing is that old */
	rc = pj_stmt_prepare(x->db, SQL_CUTOFF, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &p, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc == PJ_OK && row && !pj_stmt_is_null(st, 0))
		pj_strlcpy(x->r->cutoff, text(st, 0), sizeof(x->r->cutoff));
	pj_stmt_close(st);
	st = NULL;
	if (rc || x->r->cutoff[0] == '\0')
		return rc;
	rc = pj_stmt_prepare(x->db, SQL_PURGE_SPAN, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &c, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc == PJ_OK && row) {
		x->end = pj_stmt_int(st, 0);
		x->n = pj_stmt_int(st, 1);
	}
	pj_stmt_close(st);
	return rc;
}

static int
purge_find(void *arg, struct pj_error *err)
{
	struct purge *x = arg;
	struct pj_param p[4] = { PJ_INT(x->after), PJ_INT(x->end),
		PJ_TEXT(x->r->cutoff), PJ_INT(x->cfg->worker.batch_size) };
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	x->n = 0;
	rc = pj_stmt_prepare(x->db, SQL_PURGE_FIND, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, p, 4, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc == PJ_OK && row) {
		x->last = pj_stmt_int(st, 0);
		x->n = pj_stmt_int(st, 1);
	}
	pj_stmt_close(st);
	return rc;
}

static int
purge_batch(void *arg, struct pj_error *err)
{
	struct purge *x = arg;
	struct pj_param p[3] = { PJ_INT(x->after), PJ_INT(x->last),
		PJ_TEXT(x->r->cutoff) };

	x->deleted = 0;
	return pj_db_exec(x->db, SQL_PURGE_DELETE, p, 3, &x->deleted, err);
}

int
pj_archive_purge(struct pj_db *db, const struct pj_config *cfg,
    const volatile sig_atomic_t *stop, struct pj_purge_report *r,
    struct pj_error *err)
{
	struct purge x = { db, cfg, r, 0, 0, 0, 0, 0 };
	int rc;

	r->cutoff[0] = '\0';
	rc = purge_span(&x, err);
	if (rc || r->cutoff[0] == '\0' || x.n == 0)
		return rc;
	if (r->dry_run) {
		r->purged = (size_t)x.n;
		return PJ_OK;
	}
	for (;;) {
		if (stop != NULL && *stop) {
			r->stopped = true;
			break;
		}
		rc = pj_batch_transaction(
		    db, cfg, purge_find, &x, &r->retries, err);
		if (rc || x.n == 0)
			break;
		rc = pj_batch_transaction(
		    db, cfg, purge_batch, &x, &r->retries, err);
		if (rc == PJ_OK) {
			r->purged += (size_t)x.deleted;
			r->batches++;
		} else if (pj_batch_fatal(rc)) {
			break;
		} else {
			r->failed += (size_t)x.n;
			pj_log_error("purge_batch_failed",
			    "rows=%lld status=%s %s", (long long)x.n,
			    pj_status_name(rc), err->msg);
			if (r->error[0] == '\0')
				pj_strlcpy(
				    r->error, err->msg, sizeof(r->error));
			pj_error_clear(err);
			rc = PJ_OK;
			if (cfg->worker.on_batch_failure == PJ_ON_FAILURE_STOP)
				break;
		}
		x.after = x.last;
		if (cfg->worker.sleep_between_batches_ms > 0)
			pj_time_sleep_ms(cfg->worker.sleep_between_batches_ms);
	}
	return rc;
}

void
pj_purge_report_table(const struct pj_purge_report *r, FILE *out)
{
	char older[32];

	pj_time_format_duration(r->older_than_ms, older, sizeof(older));
	if (r->error[0] != '\0')
		fprintf(out, "error: %.200s\n", r->error);
	fprintf(out,
	    "archive purge%s: %zu rows archived more than %s ago "
	    "(before %s UTC) %s",
	    r->dry_run ? " --dry-run" : "", r->purged, older,
	    r->cutoff[0] != '\0' ? r->cutoff : "-",
	    r->dry_run ? "would be deleted" : "deleted");
	if (r->failed > 0)
		fprintf(out, ", %zu in failed batches", r->failed);
	fprintf(out, "%s; %.2f s: exit %d\n",
	    r->stopped ? ", stopped by signal" : "", r->seconds, r->exit_code);
}

void
pj_purge_report_json(const struct pj_purge_report *r, FILE *out)
{
	struct pj_json j;
	char older[32];

	pj_time_format_duration(r->older_than_ms, older, sizeof(older));
	pj_json_init(&j, out);
	pj_json_object_begin(&j);
	json_count(&j, "schema_version", PJ_ARCHIVE_SCHEMA_VERSION);
	json_text(&j, "version", PJ_VERSION);
	json_text(&j, "command", "archive purge");
	pj_json_key(&j, "dry_run");
	pj_json_bool(&j, r->dry_run);
	json_text(&j, "older_than", older);
	pj_json_key(&j, "cutoff");
	if (r->cutoff[0] != '\0')
		pj_json_string(&j, r->cutoff);
	else
		pj_json_null(&j);
	json_count(&j, "purged", (int64_t)r->purged);
	json_count(&j, "failed", (int64_t)r->failed);
	json_count(&j, "batches", (int64_t)r->batches);
	json_count(&j, "retries", (int64_t)r->retries);
	pj_json_key(&j, "stopped_by");
	if (r->stopped)
		pj_json_string(&j, "signal");
	else
		pj_json_null(&j);
	pj_json_key(&j, "error");
	if (r->error[0] != '\0')
		pj_json_string(&j, r->error);
	else
		pj_json_null(&j);
	pj_json_key(&j, "seconds");
	pj_json_double(&j, r->seconds);
	json_count(&j, "exit_code", r->exit_code);
	pj_json_object_end(&j);
	fputc('\n', out);
}
