/*
 * Restore: the archived rows of one run put back, step by step (a table and
 * an action, worker/restore_steps.c), pass by pass, in keyset batches over
 * the archive id. All of it is SQL: the server reads the archived JSON
 * (JSON_VALUE), compares keys and ids with Placement's collation, and
 * counts; C only loops and counts.
 */
#include "worker/restore.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strings.h"
#include "common/time.h"
#include "worker/batch_txn.h"
#include "worker/restore_steps.h"

#define ARCHIVE PJ_RS_ARCHIVE
#define JI PJ_RS_JI
#define JS PJ_RS_JS
#define BATCH PJ_RS_BATCH
#define MARKED PJ_RS_MARKED

#define MAX_RUN_PASSES 32
#define PASS_NAME_MAX 257 /* VARCHAR(64) in utf8mb4, and a NUL */

/*
 * Restore puts rows back exactly as they were, including references the
 * repair had removed (a trait link to a vanished provider, a wrong root):
 * foreign key checks would refuse those. Session only; set again in every
 * transaction, since a reconnect resets it.
 */
static const char SQL_FK_OFF[] = "SET SESSION foreign_key_checks = 0";
/* This batch's mark in restored_at: tells its rows from earlier ones. */
static const char SQL_NOW[] = "SELECT CAST(UTC_TIMESTAMP(6) AS CHAR)";
static const char SQL_TOTALS[] =
    "SELECT COUNT(*), COUNT(z.restored_at) FROM " ARCHIVE
    " WHERE z.run_id = ? AND z.pass = COALESCE(?, z.pass)";
static const char SQL_PASSES[] =
    "SELECT DISTINCT z.pass FROM " ARCHIVE
    " WHERE z.run_id = ? AND z.pass = COALESCE(?, z.pass) ORDER BY z.pass";
static const char SQL_OTHER[] =
    "SELECT COUNT(*) FROM " ARCHIVE
    " WHERE z.run_id = ? AND z.pass = COALESCE(?, z.pass)"
    " AND z.restored_at IS NULL AND CONCAT(z.table_name, ' ', z.action)"
    " NOT IN ('resource_providers update', 'consumers delete',"
    " 'consumers update', 'allocations delete', 'inventories delete',"
    " 'resource_provider_aggregates delete',"
    " 'resource_provider_traits delete')";
/* Keyset over placement_janitor_archive_run_idx (run, pass, table, id). */
static const char SQL_FIND[] =
    "SELECT MAX(b.id), COUNT(*) FROM (SELECT z.id FROM " ARCHIVE
    " WHERE z.run_id = ? AND z.pass = ? AND z.table_name = ?"
    " AND z.action = ? AND z.restored_at IS NULL AND z.id > ?"
    " ORDER BY z.id LIMIT ?) b";
/* Consumers this run's archive put back (now or by an earlier restore):
 * with the archived generation they are as they were, allocations too. */
static const char SQL_RESTORED_CONSUMERS[] = "SELECT " JI("id") ", " JI(
    "generation") " FROM " ARCHIVE
                  " WHERE z.run_id = ? AND z.table_name = 'consumers'"
                  " AND z.action = 'delete' AND z.restored_at IS NOT NULL";
/* Providers and consumers that got rows back in this batch, locked in
 * Placement's order (allocations, providers, consumers), driven from the
 * batch's archive rows. */
static const char SQL_PROVIDERS_TOUCHED[] =
    "SELECT rp.id, rp.generation FROM " ARCHIVE
    " STRAIGHT_JOIN resource_providers rp"
    " ON rp.id = " JI("resource_provider_id")
    " WHERE z.run_id = ? AND z.pass = ? AND z.id > ? AND z.id <= ?"
    " AND z.table_name = ? AND z.restored_at = ?"
    " AND rp.generation IS NOT NULL"
    " GROUP BY rp.id, rp.generation ORDER BY rp.id FOR UPDATE";
static const char SQL_CONSUMERS_TOUCHED[] =
    "SELECT c.id, c.generation FROM " ARCHIVE
    " STRAIGHT_JOIN consumers c ON c.uuid = " JS("consumer_id") " WHERE" BATCH(
        "allocations", "delete") MARKED
    " GROUP BY c.id, c.generation ORDER BY c.id FOR UPDATE";
/* Placement's compare-and-swap, and its updated_at on every change. */
static const char SQL_BUMP_PROVIDER[] =
    "UPDATE resource_providers SET generation = generation + 1,"
    " updated_at = UTC_TIMESTAMP() WHERE id = ? AND generation = ?";
static const char SQL_BUMP_CONSUMER[] =
    "UPDATE consumers SET generation = generation + 1,"
    " updated_at = UTC_TIMESTAMP() WHERE id = ? AND generation = ?";

/* Consumers this run's archive put back, as (id, archived generation),
 * sorted by id. */
struct id_gen {
	int64_t id, generation;
};

struct id_set {
	struct id_gen *v;
	size_t n, cap;
};

static int
cmp_id_gen(const void *a, const void *b)
{
	const struct id_gen *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->generation != y->generation)
		return x->generation < y->generation ? -1 : 1;
	return 0;
}

static bool
id_set_has(const struct id_set *s, int64_t id, int64_t generation)
{
	struct id_gen key = { id, generation };

	return s->n > 0 &&
	    bsearch(&key, s->v, s->n, sizeof(*s->v), cmp_id_gen) != NULL;
}

static int
id_set_add(
    struct id_set *s, int64_t id, int64_t generation, struct pj_error *err)
{
	struct id_gen *v;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 256;
		v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return pj_error_set(
			    err, PJ_ENOMEM, "%zu restored consumers", cap);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].id = id;
	s->v[s->n].generation = generation;
	s->n++;
	return PJ_OK;
}

/* The whole restore's state. */
struct restore {
	struct pj_db *db;
	const struct pj_config *cfg;
	const struct pj_restore_opts *opts;
	struct pj_restore_report *r;
	struct id_set consumers; /* restored consumers, for the bumps */
	size_t n_passes;
	char passes[MAX_RUN_PASSES][PASS_NAME_MAX];
};

/* One batch: a step, a pass, archive ids (after, last]. */
struct batch {
	struct restore *x;
	const struct pj_restore_stepdef *step;
	const char *pass;
	int64_t after, last;
	/* What one attempt did; reset at its start. */
	size_t pending, restored, bumped;
};

/* Runs a statement that returns one row of counts. */
static int
query_counts(struct pj_stmt *st, const struct pj_param *p, size_t n, int64_t *a,
    int64_t *b, struct pj_error *err)
{
	bool row = false;
	int rc;

	rc = pj_stmt_exec(st, p, n, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc)
		return rc;
	if (!row)
		return pj_error_set(err, PJ_EINTERNAL, "count: no row");
	*a = pj_stmt_int(st, 0);
	if (b != NULL)
		*b = pj_stmt_int(st, 1);
	return PJ_OK;
}

static int
now_marker(struct pj_db *db, char *buf, size_t size, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	rc = pj_stmt_prepare(db, SQL_NOW, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, NULL, 0, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc == PJ_OK && !row)
		rc = pj_error_set(err, PJ_EINTERNAL, "no UTC_TIMESTAMP");
	if (rc == PJ_OK)
		pj_strlcpy(buf, pj_stmt_text(st, 0, NULL), size);
	pj_stmt_close(st);
	return rc;
}

/* At -v, one line per archived row of the batch that cannot go back. */
static int
list_skipped(const struct batch *b, struct pj_stmt *list,
    const struct pj_param *p, struct pj_error *err)
{
	const char *reason = strcmp(b->step->action, "update") == 0
	    ? "changed_since"
	    : "key_taken";
	bool row = false;
	int rc;

	rc = pj_stmt_exec(list, p, 4, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(list, &row, err);
		if (rc || !row)
			break;
		pj_log_debug("restore_skipped",
		    "archive_id=%lld pass=\"%s\" table=%s key=\"%s\" "
		    "reason=%s",
		    (long long)pj_stmt_int(list, 0),
		    pj_stmt_text(list, 1, NULL), b->step->table,
		    pj_stmt_text(list, 2, NULL), reason);
	}
	return rc;
}

/*
 * Moves the generation of every row touched returns (id, generation),
 * locked, by compare-and-swap, unless skip holds it with that generation.
 * p binds touched.
 */
static int
bump(struct pj_stmt *touched, struct pj_stmt *cas, const struct pj_param *p,
    size_t n, const struct id_set *skip, const char *what, size_t *bumped,
    struct pj_error *err)
{
	struct pj_param q[2];
	bool row = false;
	int rc;

	rc = pj_stmt_exec(touched, p, n, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(touched, &row, err);
		if (rc || !row)
			break;
		q[0] = PJ_INT(pj_stmt_int(touched, 0));
		q[1] = PJ_INT(pj_stmt_int(touched, 1));
		if (skip != NULL && id_set_has(skip, q[0].num, q[1].num))
			continue; /* as it was before the repair */
		rc = pj_stmt_exec(cas, q, 2, err);
		if (rc == PJ_OK && pj_stmt_affected(cas) != 1)
			rc = pj_error_set(err, PJ_ECONFLICT,
			    "%s %lld: generation changed", what,
			    (long long)q[0].num);
		if (rc)
			break;
		(*bumped)++;
		pj_log_debug("restore_bump", "%s=%lld generation=%lld", what,
		    (long long)q[0].num, (long long)q[1].num + 1);
	}
	return rc;
}

/* A provider or consumer whose rows came back: its set changed again. */
static int
bump_owners(struct batch *b, const char *marker, struct pj_error *err)
{
	struct pj_stmt *touched = NULL, *cas = NULL;
	struct pj_param p[6] = { PJ_TEXT(b->x->opts->run_id), PJ_TEXT(b->pass),
		PJ_INT(b->after), PJ_INT(b->last), PJ_TEXT(b->step->table),
		PJ_TEXT(marker) };
	int rc = PJ_OK;

	if (b->step->bump_providers) {
		rc = pj_stmt_prepare(
		    b->x->db, SQL_PROVIDERS_TOUCHED, &touched, err);
		if (rc == PJ_OK)
			rc = pj_stmt_prepare(
			    b->x->db, SQL_BUMP_PROVIDER, &cas, err);
		if (rc == PJ_OK)
			rc = bump(touched, cas, p, 6, NULL, "provider",
			    &b->bumped, err);
		pj_stmt_close(touched);
		pj_stmt_close(cas);
		touched = cas = NULL;
	}
	if (rc == PJ_OK && b->step->bump_consumers) {
		p[4] = PJ_TEXT(marker);
		rc = pj_stmt_prepare(
		    b->x->db, SQL_CONSUMERS_TOUCHED, &touched, err);
		if (rc == PJ_OK)
			rc = pj_stmt_prepare(
			    b->x->db, SQL_BUMP_CONSUMER, &cas, err);
		if (rc == PJ_OK)
			rc = bump(touched, cas, p, 5, &b->x->consumers,
			    "consumer", &b->bumped, err);
		pj_stmt_close(touched);
		pj_stmt_close(cas);
	}
	return rc;
}

/* One batch as one transaction (run by pj_batch_transaction). */
static int
restore_batch(void *arg, struct pj_error *err)
{
	struct batch *b = arg;
	struct pj_db *db = b->x->db;
	struct pj_restore_sql s;
	struct pj_param p[5], m[5];
	char marker[64];
	int64_t pending = 0;
	uint64_t marked, applied;
	int rc;

	memset(&s, 0, sizeof(s));
	b->pending = b->restored = b->bumped = 0;
	rc = pj_db_exec(db, SQL_FK_OFF, NULL, 0, NULL, err);
	if (rc == PJ_OK)
		rc = now_marker(db, marker, sizeof(marker), err);
	if (rc == PJ_OK)
		rc = b->step->prepare(
		    db, false, pj_log_enabled(PJ_LOG_DEBUG), &s, err);
	if (rc)
		goto out;
	p[0] = PJ_TEXT(b->x->opts->run_id);
	p[1] = PJ_TEXT(b->pass);
	p[2] = PJ_INT(b->after);
	p[3] = PJ_INT(b->last);
	p[4] = PJ_TEXT(marker);
	m[0] = p[4];
	memcpy(&m[1], p, 4 * sizeof(p[0]));
	rc = query_counts(s.lock, p, 4, &pending, NULL, err);
	if (rc == PJ_OK && s.list != NULL)
		rc = list_skipped(b, s.list, p, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(s.mark, m, 5, err);
	if (rc)
		goto out;
	marked = pj_stmt_affected(s.mark);
	rc = pj_stmt_exec(s.apply, p, 5, err);
	if (rc)
		goto out;
	applied = pj_stmt_affected(s.apply);
	/* An update that finds its row identical counts as unchanged. */
	if (applied > marked ||
	    (strcmp(b->step->action, "delete") == 0 && applied != marked)) {
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "%s: %llu archive rows marked, %llu written",
		    b->step->table, (unsigned long long)marked,
		    (unsigned long long)applied);
		goto out;
	}
	b->pending = (size_t)pending;
	b->restored = (size_t)marked;
	if (marked > 0)
		rc = bump_owners(b, marker, err);
out:
	pj_restore_sql_close(&s);
	return rc;
}

/* A dry run's batch: counts only, no lock. */
static int
check_batch(void *arg, struct pj_error *err)
{
	struct batch *b = arg;
	struct pj_restore_sql s;
	struct pj_param p[4];
	int64_t pending = 0, ok = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	b->pending = b->restored = b->bumped = 0;
	rc = b->step->prepare(
	    b->x->db, true, pj_log_enabled(PJ_LOG_DEBUG), &s, err);
	if (rc)
		goto out;
	p[0] = PJ_TEXT(b->x->opts->run_id);
	p[1] = PJ_TEXT(b->pass);
	p[2] = PJ_INT(b->after);
	p[3] = PJ_INT(b->last);
	rc = query_counts(s.check, p, 4, &pending, &ok, err);
	if (rc == PJ_OK && s.list != NULL)
		rc = list_skipped(b, s.list, p, err);
	if (rc == PJ_OK) {
		b->pending = (size_t)pending;
		b->restored = (size_t)ok;
	}
out:
	pj_restore_sql_close(&s);
	return rc;
}

/* The next batch of a step and pass: its last archive id and size. */
struct find {
	struct restore *x;
	const struct pj_restore_stepdef *step;
	const char *pass;
	int64_t after, last, n;
};

static int
find_batch(void *arg, struct pj_error *err)
{
	struct find *f = arg;
	struct pj_stmt *st = NULL;
	struct pj_param p[6] = { PJ_TEXT(f->x->opts->run_id), PJ_TEXT(f->pass),
		PJ_TEXT(f->step->table), PJ_TEXT(f->step->action),
		PJ_INT(f->after), PJ_INT(f->x->cfg->worker.batch_size) };
	int rc;

	rc = pj_stmt_prepare(f->x->db, SQL_FIND, &st, err);
	if (rc == PJ_OK)
		rc = query_counts(st, p, 6, &f->last, &f->n, err);
	pj_stmt_close(st);
	return rc;
}

static void
count_batch(const struct batch *b, struct pj_restore_step *sr)
{
	size_t missed = b->pending > b->restored ? b->pending - b->restored : 0;

	sr->found += b->pending;
	sr->restored += b->restored;
	sr->bumped += b->bumped;
	sr->batches++;
	if (strcmp(b->step->action, "update") == 0)
		sr->changed += missed;
	else
		sr->key_taken += missed;
}

/* Every batch of one step and one pass. */
static int
run_step_pass(struct restore *x, const struct pj_restore_stepdef *st,
    struct pj_restore_step *sr, const char *pass, struct pj_error *err)
{
	const struct pj_worker_config *w = &x->cfg->worker;
	struct find f = { x, st, pass, 0, 0, 0 };
	struct batch b;
	int rc = PJ_OK;

	for (;;) {
		if (x->opts->stop != NULL && *x->opts->stop) {
			x->r->stopped = true;
			break;
		}
		rc = pj_batch_transaction(
		    x->db, x->cfg, find_batch, &f, &sr->retries, err);
		if (rc || f.n == 0)
			break;
		memset(&b, 0, sizeof(b));
		b.x = x;
		b.step = st;
		b.pass = pass;
		b.after = f.after;
		b.last = f.last;
		rc = pj_batch_transaction(x->db, x->cfg,
		    x->opts->dry_run ? check_batch : restore_batch, &b,
		    &sr->retries, err);
		if (rc == PJ_OK) {
			count_batch(&b, sr);
		} else if (pj_batch_fatal(rc)) {
			break;
		} else {
			sr->found += (size_t)f.n;
			sr->failed += (size_t)f.n;
			pj_log_error("restore_batch_failed",
			    "table=%s action=%s pass=\"%s\" rows=%lld "
			    "status=%s %s",
			    st->table, st->action, pass, (long long)f.n,
			    pj_status_name(rc), err->msg);
			if (x->r->error[0] == '\0')
				pj_strlcpy(
				    x->r->error, err->msg, sizeof(x->r->error));
			pj_error_clear(err);
			rc = PJ_OK;
			if (w->on_batch_failure == PJ_ON_FAILURE_STOP)
				break;
		}
		f.after = f.last;
		if (!x->opts->dry_run && w->sleep_between_batches_ms > 0)
			pj_time_sleep_ms(w->sleep_between_batches_ms);
	}
	return rc;
}

static struct pj_param
pass_filter(const struct pj_restore_opts *opts)
{
	return opts->pass != NULL ? PJ_TEXT(opts->pass) : PJ_NULL;
}

/* The passes that archived rows in the run (or the one asked for). */
static int
load_passes(struct restore *x, struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(x->opts->run_id),
		pass_filter(x->opts) };
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	x->n_passes = 0;
	rc = pj_stmt_prepare(x->db, SQL_PASSES, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, p, 2, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		if (x->n_passes == MAX_RUN_PASSES) {
			rc = pj_error_set(err, PJ_EINTERNAL,
			    "run has more than %d passes", MAX_RUN_PASSES);
			break;
		}
		pj_strlcpy(x->passes[x->n_passes++], pj_stmt_text(st, 0, NULL),
		    PASS_NAME_MAX);
	}
	pj_stmt_close(st);
	return rc;
}

static int
load_restored_consumers(struct restore *x, struct pj_error *err)
{
	struct pj_param p = PJ_TEXT(x->opts->run_id);
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	x->consumers.n = 0;
	rc = pj_stmt_prepare(x->db, SQL_RESTORED_CONSUMERS, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &p, 1, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		rc = id_set_add(
		    &x->consumers, pj_stmt_int(st, 0), pj_stmt_int(st, 1), err);
	}
	pj_stmt_close(st);
	if (rc == PJ_OK && x->consumers.n > 1)
		qsort(x->consumers.v, x->consumers.n, sizeof(*x->consumers.v),
		    cmp_id_gen);
	return rc;
}

/* Rows of the run (and pass): all of them, and those restored. */
static int
totals(struct restore *x, int64_t *all, int64_t *restored, struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(x->opts->run_id),
		pass_filter(x->opts) };
	struct pj_stmt *st = NULL;
	int rc;

	rc = pj_stmt_prepare(x->db, SQL_TOTALS, &st, err);
	if (rc == PJ_OK)
		rc = query_counts(st, p, 2, all, restored, err);
	pj_stmt_close(st);
	return rc;
}

static int
count_other(struct restore *x, size_t *other, struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(x->opts->run_id),
		pass_filter(x->opts) };
	struct pj_stmt *st = NULL;
	int64_t n = 0;
	int rc;

	rc = pj_stmt_prepare(x->db, SQL_OTHER, &st, err);
	if (rc == PJ_OK)
		rc = query_counts(st, p, 2, &n, NULL, err);
	if (rc == PJ_OK)
		*other = (size_t)n;
	pj_stmt_close(st);
	return rc;
}

static int
run_steps(struct restore *x, struct pj_error *err)
{
	struct pj_restore_step *sr;
	size_t i, k;
	int rc = PJ_OK;

	for (i = 0; rc == PJ_OK && i < PJ_RESTORE_STEPS && !x->r->stopped;
	     i++) {
		sr = &x->r->steps[i];
		if (pj_restore_steps[i].bump_consumers && !x->opts->dry_run)
			rc = load_restored_consumers(x, err);
		for (k = 0; rc == PJ_OK && k < x->n_passes; k++)
			rc = run_step_pass(
			    x, &pj_restore_steps[i], sr, x->passes[k], err);
		if (sr->found == 0)
			continue;
		pj_log_info("restore_step_done",
		    "table=%s action=%s found=%zu restored=%zu key_taken=%zu "
		    "changed=%zu failed=%zu bumped=%zu",
		    sr->table, sr->action, sr->found, sr->restored,
		    sr->key_taken, sr->changed, sr->failed, sr->bumped);
	}
	return rc;
}

int
pj_restore_run(struct pj_db *db, const struct pj_config *cfg,
    const struct pj_restore_opts *opts, struct pj_restore_report *r,
    struct pj_error *err)
{
	struct restore *x;
	int64_t all = 0, restored = 0;
	size_t i, would = 0;
	int rc;

	pj_strlcpy(r->target, opts->run_id, sizeof(r->target));
	r->pass = opts->pass;
	r->dry_run = opts->dry_run;
	for (i = 0; i < PJ_RESTORE_STEPS; i++) {
		memset(&r->steps[i], 0, sizeof(r->steps[i]));
		r->steps[i].table = pj_restore_steps[i].table;
		r->steps[i].action = pj_restore_steps[i].action;
	}
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return pj_error_set(err, PJ_ENOMEM, "restore state");
	x->db = db;
	x->cfg = cfg;
	x->opts = opts;
	x->r = r;
	rc = totals(x, &all, &restored, err);
	if (rc || all == 0)
		goto out;
	r->archived = (size_t)all;
	r->already = (size_t)restored;
	rc = load_passes(x, err);
	if (rc == PJ_OK)
		rc = run_steps(x, err);
	if (rc == PJ_OK)
		rc = count_other(x, &r->other, err);
	if (rc == PJ_OK && !opts->dry_run)
		rc = totals(x, &all, &restored, err);
	if (rc)
		goto out;
	for (i = 0; i < PJ_RESTORE_STEPS; i++)
		would += r->steps[i].restored;
	r->remaining = opts->dry_run ? r->archived - r->already - would
	                             : (size_t)(all - restored);
out:
	free(x->consumers.v);
	free(x);
	return rc;
}
