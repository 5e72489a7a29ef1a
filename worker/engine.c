/* The batch loop: transactions, retries, limits, dry run and counts. */
#include "worker/engine.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/runlock.h"
#include "common/strings.h"
#include "common/time.h"
#include "worker/archive.h"
#include "worker/pass.h"
#include "worker/scope.h"
#include "worker/throttle.h"

/* Why a pass loop ended early; the report's stopped_by. */
enum stop_reason {
	RUN_ON,
	STOP_MAX_ROWS,
	STOP_MAX_RUNTIME,
	STOP_SIGNAL,
	STOP_REPLICATION, /* paused longer than replication.max_pause */
};

static const char *const stop_names[] = {
	[RUN_ON] = NULL,
	[STOP_MAX_ROWS] = "max_rows",
	[STOP_MAX_RUNTIME] = "max_runtime",
	[STOP_SIGNAL] = "signal",
	[STOP_REPLICATION] = "replication",
};

struct engine {
	struct pj_ctx ctx;
	const struct pj_run_opts *opts;
	int64_t started_ms;
	size_t repaired_total; /* over all passes, for worker.max_rows */
	uint64_t rng;          /* backoff jitter */
	enum stop_reason stop;
	struct pj_batch batch;
	size_t batch_limit; /* current batch size, adapted by pace() */
	struct pj_throttle *throttle; /* runs that may write; else NULL */
	bool pass_failed_stop;        /* a failed batch ended the pass
	                                 (on_batch_failure) */
};

static bool
selected(const struct pj_run_opts *opts, const struct pj_pass *pass)
{
	size_t i;

	if (opts->n_only == 0)
		return true;
	for (i = 0; i < opts->n_only; i++) {
		if (strcmp(opts->only[i], pass->name) == 0)
			return true;
	}
	return false;
}

static enum stop_reason
check_limits(struct engine *e)
{
	const struct pj_worker_config *w = &e->ctx.cfg->worker;

	/* A stop holds for the rest of the run, also for the later scope
	 * entries of a pass (replication's is not re-checked here). */
	if (e->stop != RUN_ON)
		return e->stop;
	if (e->opts->stop != NULL && *e->opts->stop)
		return STOP_SIGNAL;
	if (w->max_runtime_ms > 0 &&
	    pj_time_mono_ms() - e->started_ms >= w->max_runtime_ms)
		return STOP_MAX_RUNTIME;
	if (w->max_rows > 0 && !e->opts->dry_run &&
	    e->repaired_total >= (size_t)w->max_rows)
		return STOP_MAX_ROWS;
	return RUN_ON;
}

/* Full jitter: a random wait up to retry_backoff * 2^attempt, capped,
 * and never past until_ms (monotonic; 0: no bound). */
static void
backoff(struct engine *e, unsigned int attempt, int64_t until_ms)
{
	int64_t cap = e->ctx.cfg->worker.retry_backoff_ms;

	for (; attempt > 0 && cap < 10000; attempt--)
		cap *= 2;
	e->rng ^= e->rng << 13;
	e->rng ^= e->rng >> 7;
	e->rng ^= e->rng << 17;
	pj_time_sleep_ms_until(1 + (int64_t)(e->rng % (uint64_t)cap), until_ms);
}

/* Reconnects with backoff until worker.reconnect_deadline has passed (a
 * server restart or failover), or a signal asks to stop. */
static int
reconnect(struct engine *e, struct pj_error *err)
{
	int64_t deadline =
	    pj_time_mono_ms() + e->ctx.cfg->worker.reconnect_deadline_ms;
	unsigned int attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		pj_error_clear(err);
		rc = pj_db_reconnect(e->ctx.db, err);
		/* A Galera node that is not synced fails like a lost link. */
		if (rc == PJ_OK && e->throttle != NULL)
			rc =
			    pj_throttle_check_node(e->throttle, e->ctx.db, err);
		if (rc != PJ_ECONN || pj_time_mono_ms() >= deadline ||
		    (e->opts->stop != NULL && *e->opts->stop))
			break;
		pj_log_warn(
		    "reconnect_failed", "attempt=%u %s", attempt + 1, err->msg);
		/* The deadline holds from the loss: no wait runs past it. */
		backoff(e, attempt + 1, deadline);
	}
	if (rc == PJ_OK)
		pj_log_info("reconnected", "attempts=%u endpoint=\"%s\"",
		    attempt + 1, pj_db_endpoint(e->ctx.db));
	/* Someone else may have taken the run lock meanwhile: then this
	 * run ends here (PJ_ELOCKED) and leaves the work to that one. */
	if (rc == PJ_OK && e->opts->db_lock_name != NULL)
		rc = pj_runlock_acquire_db(e->ctx.db, e->opts->db_lock_name,
		    e->ctx.cfg->worker.lock_timeout_ms, err);
	return rc;
}

/*
 * After a retryable failure: wait, and reconnect if the link is gone. A
 * reconnect that fails has used up worker.reconnect_deadline: the caller
 * ends the run rather than wait out a new deadline on every retry.
 */
static int
prepare_retry(
    struct engine *e, int rc, unsigned int attempt, struct pj_error *err)
{
	pj_error_clear(err);
	backoff(e, attempt, 0);
	if (rc == PJ_ECONN)
		return reconnect(e, err);
	return PJ_OK;
}

/* Before a repair batch: waits while replication asks for it. */
static int
wait_replication(struct engine *e, struct pj_error *err)
{
	static const enum stop_reason stops[] = {
		[PJ_THROTTLE_GO] = RUN_ON,
		[PJ_THROTTLE_STOPPED] = STOP_SIGNAL,
		[PJ_THROTTLE_DEADLINE] = STOP_MAX_RUNTIME,
		[PJ_THROTTLE_GAVE_UP] = STOP_REPLICATION,
	};
	const struct pj_worker_config *w = &e->ctx.cfg->worker;
	int64_t deadline =
	    w->max_runtime_ms > 0 ? e->started_ms + w->max_runtime_ms : 0;
	enum pj_throttle_verdict verdict = PJ_THROTTLE_GO;
	int rc;

	if (e->throttle == NULL)
		return PJ_OK;
	rc = pj_throttle_wait(
	    e->throttle, e->ctx.db, e->opts->stop, deadline, &verdict, err);
	if (rc == PJ_ECONN) {
		pj_log_warn("throttle_reconnect", "%s", err->msg);
		rc = reconnect(e, err);
		if (rc == PJ_OK)
			rc = pj_throttle_wait(e->throttle, e->ctx.db,
			    e->opts->stop, deadline, &verdict, err);
	}
	if (rc == PJ_OK)
		e->stop = stops[verdict];
	return rc;
}

/* A committed batch slower than worker.batch_target (0: no target). */
static bool
over_target(const struct engine *e, int64_t txn_us)
{
	int64_t target_us = e->ctx.cfg->worker.batch_target_ms * 1000;

	return target_us > 0 && txn_us > target_us;
}

/* Adaptive pacing: halve the batch after a slow transaction, grow it back
 * by a quarter after a fast one, so locks stay short under load. */
static void
pace(struct engine *e, int64_t txn_us)
{
	int64_t target_us = e->ctx.cfg->worker.batch_target_ms * 1000;
	size_t max = (size_t)e->ctx.cfg->worker.batch_size;

	if (target_us <= 0)
		return;
	if (over_target(e, txn_us)) {
		if (e->batch_limit > 1) {
			e->batch_limit = e->batch_limit / 2;
			pj_log_debug("batch_shrink", "limit=%zu us=%lld",
			    e->batch_limit, (long long)txn_us);
		}
	} else if (txn_us < target_us / 2 && e->batch_limit < max) {
		e->batch_limit += e->batch_limit / 4 + 1;
		if (e->batch_limit > max)
			e->batch_limit = max;
	}
}

static int
find_with_retry(struct engine *e, const struct pj_pass *pass,
    const struct pj_key *after, struct pj_pass_report *pr, struct pj_error *err)
{
	unsigned int attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		e->batch.n = 0;
		e->batch.cap = e->batch_limit;
		rc = pass->find_batch(&e->ctx, after, &e->batch, err);
		if (rc == PJ_OK || !pj_status_retryable(rc) ||
		    attempt >= (unsigned int)e->ctx.cfg->worker.retries)
			return rc;
		pr->retries++;
		pj_log_warn("find_retry", "pass=%s attempt=%u status=%s %s",
		    pass->name, attempt + 1, pj_status_name(rc), err->msg);
		rc = prepare_retry(e, rc, attempt, err);
		if (rc)
			return rc;
	}
}

/* One batch as one transaction, redone whole on a retryable error. */
static int
repair_with_retry(struct engine *e, const struct pj_pass *pass,
    struct pj_pass_report *pr, size_t *repaired, struct pj_error *err)
{
	int64_t t0;
	unsigned int attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		*repaired = 0;
		t0 = pj_time_mono_us();
		rc = pj_db_begin(e->ctx.db, err);
		if (rc == PJ_OK)
			rc = pass->repair_batch(
			    &e->ctx, &e->batch, repaired, err);
		if (rc == PJ_OK)
			rc = pj_db_commit(e->ctx.db, err);
		if (rc == PJ_OK) {
			t0 = pj_time_mono_us() - t0;
			pj_log_debug("batch_done",
			    "pass=%s keys=%zu repaired=%zu us=%lld", pass->name,
			    e->batch.n, *repaired, (long long)t0);
			pj_batch_times_add(&pr->batch_times, t0);
			if (over_target(e, t0))
				pr->batches_over_target++;
			pace(e, t0);
			return PJ_OK;
		}
		pj_db_rollback(e->ctx.db);
		if (!pj_status_retryable(rc) ||
		    attempt >= (unsigned int)e->ctx.cfg->worker.retries)
			return rc;
		pr->retries++;
		if (rc == PJ_ECONFLICT)
			pr->conflicts++;
		if (rc == PJ_ECERT)
			pr->certification_failures++;
		pj_log_info("batch_retry", "pass=%s attempt=%u status=%s %s",
		    pass->name, attempt + 1, pj_status_name(rc), err->msg);
		rc = prepare_retry(e, rc, attempt, err);
		if (rc)
			return rc;
	}
}

/* Failures that end the whole run: nothing later could succeed. */
static bool
fatal(int rc)
{
	return rc == PJ_ECONN || rc == PJ_EACCESS || rc == PJ_ESCHEMA ||
	    rc == PJ_ENOMEM || rc == PJ_EINTERNAL || rc == PJ_ECONFIG ||
	    rc == PJ_ELOCKED;
}

static void
log_found(const struct pj_pass *pass, const struct pj_batch *b)
{
	char text[PJ_KEY_TEXT_MAX + 64];
	size_t i;

	if (!pj_log_enabled(PJ_LOG_DEBUG) || pass->describe == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		pass->describe(&b->keys[i], text, sizeof(text));
		pj_log_debug("found", "pass=%s %s", pass->name, text);
	}
}

/* Counts the damage after the cursor without repairing: what remains. */
static int
count_rest(struct engine *e, const struct pj_pass *pass, struct pj_key *after,
    bool have_after, struct pj_pass_report *pr, struct pj_error *err)
{
	int rc;

	for (;;) {
		rc = find_with_retry(
		    e, pass, have_after ? after : NULL, pr, err);
		if (rc || e->batch.n == 0)
			return rc;
		pr->remaining += e->batch.n;
		*after = e->batch.keys[e->batch.n - 1];
		have_after = true;
		if (e->opts->stop != NULL && *e->opts->stop)
			return PJ_OK;
	}
}

/* The pass over the whole database, or over one scope entry (e->ctx.scope),
 * with its own cursor. */
static int
run_entry(struct engine *e, const struct pj_pass *pass,
    struct pj_pass_report *pr, struct pj_error *err)
{
	/* A report-only pass has no repair_batch: it never repairs. */
	bool repairing = pr->mode == PJ_MODE_REPAIR && !e->opts->dry_run &&
	    pass->repair_batch != NULL;
	struct pj_key after;
	bool have_after = false;
	size_t repaired;
	int rc = PJ_OK;

	memset(&after, 0, sizeof(after));
	for (;;) {
		e->stop = check_limits(e);
		if (e->stop != RUN_ON)
			break;
		if (repairing) {
			rc = wait_replication(e, err);
			if (rc || e->stop != RUN_ON)
				break;
		}
		rc = find_with_retry(
		    e, pass, have_after ? &after : NULL, pr, err);
		if (rc || e->batch.n == 0)
			break;
		pr->found += e->batch.n;
		log_found(pass, &e->batch);
		if (e->opts->progress != NULL)
			pj_progress_update(
			    e->opts->progress, (int64_t)pr->found);
		if (!repairing) {
			pr->remaining += e->batch.n;
		} else {
			rc = repair_with_retry(e, pass, pr, &repaired, err);
			if (rc == PJ_OK) {
				pr->repaired += repaired;
				pr->batches++;
				e->repaired_total += repaired;
			} else if (fatal(rc)) {
				/* Rolled back, and the run ends here. */
				pr->remaining += e->batch.n;
				break;
			} else {
				/* The batch is left as it was: count, go on. */
				pr->failed += e->batch.n;
				pr->remaining += e->batch.n;
				pj_log_error("batch_failed",
				    "pass=%s keys=%zu status=%s %s", pass->name,
				    e->batch.n, pj_status_name(rc), err->msg);
				if (pr->error[0] == '\0')
					pj_strlcpy(pr->error, err->msg,
					    sizeof(pr->error));
				pj_error_clear(err);
				rc = PJ_OK;
				if (e->ctx.cfg->worker.on_batch_failure ==
				    PJ_ON_FAILURE_STOP) {
					e->pass_failed_stop = true;
					break;
				}
			}
		}
		after = e->batch.keys[e->batch.n - 1];
		have_after = true;
		if (repairing &&
		    e->ctx.cfg->worker.sleep_between_batches_ms > 0)
			pj_time_sleep_ms(
			    e->ctx.cfg->worker.sleep_between_batches_ms);
	}
	/* A limit stopped the repair: say how much damage is left. */
	if (rc == PJ_OK &&
	    (e->stop == STOP_MAX_ROWS || e->stop == STOP_MAX_RUNTIME ||
	        e->stop == STOP_REPLICATION))
		rc = count_rest(e, pass, &after, have_after, pr, err);
	return rc;
}

/*
 * Unscoped: one run over the database. Scoped: one run per entry the pass
 * applies to (found, not a duplicate), counts summed. A limit reached in
 * one entry makes the later ones count what remains, as run_entry does.
 */
static int
run_pass(struct engine *e, const struct pj_pass *pass,
    const struct pj_run_report *report, struct pj_pass_report *pr,
    struct pj_error *err)
{
	size_t i;
	int rc = PJ_OK;

	e->pass_failed_stop = false;
	if (report->n_scope == 0)
		return run_entry(e, pass, pr, err);
	/* on_batch_failure: stop ends the pass, not only its scope entry. */
	for (i = 0; rc == PJ_OK && !e->pass_failed_stop && i < report->n_scope;
	     i++) {
		const struct pj_scope_entry *s = &report->scope[i];

		e->ctx.scope = pj_scope_of(s);
		if (!s->found || s->duplicate ||
		    !(pass->scopes & PJ_SCOPES(e->ctx.scope.kind)))
			continue;
		rc = run_entry(e, pass, pr, err);
	}
	memset(&e->ctx.scope, 0, sizeof(e->ctx.scope));
	return rc;
}

int
pj_engine_run(struct pj_db *db, const struct pj_config *cfg,
    const struct pj_run_opts *opts, struct pj_run_report *report,
    struct pj_error *err)
{
	struct engine e;
	const struct pj_pass *const *pp;
	struct pj_pass_report *pr;
	bool archive_checked = false;
	int64_t t0;
	int rc = PJ_OK;

	memset(&e, 0, sizeof(e));
	e.ctx.db = db;
	e.ctx.cfg = cfg;
	e.ctx.run_id = report->run_id;
	e.ctx.archive = cfg->archive.enabled;
	e.opts = opts;
	e.started_ms = pj_time_mono_ms();
	e.rng = (uint64_t)pj_time_mono_us() ^ ((uint64_t)getpid() << 32) ^ 1;
	e.batch.cap = (size_t)cfg->worker.batch_size;
	e.batch_limit = e.batch.cap;
	e.batch.keys = calloc(e.batch.cap, sizeof(*e.batch.keys));
	if (e.batch.keys == NULL)
		return pj_error_set(
		    err, PJ_ENOMEM, "batch of %zu keys", e.batch.cap);
	if (!opts->dry_run) {
		rc = pj_throttle_open(cfg, &e.throttle, err);
		if (rc) {
			free(e.batch.keys);
			return rc;
		}
	}
	report->dry_run = opts->dry_run;
	report->command = opts->command;
	rc = pj_scope_resolve(db, report, err);
	for (pp = pj_passes; *pp != NULL; pp++) {
		if (!selected(opts, *pp) ||
		    pj_cfg_pass_mode(cfg, (*pp)->name) == PJ_MODE_OFF)
			continue;
		if (report->n_passes == PJ_MAX_PASSES) {
			rc = pj_error_set(err, PJ_EINTERNAL, "too many passes");
			break;
		}
		pr = &report->passes[report->n_passes++];
		memset(pr, 0, sizeof(*pr));
		pr->name = (*pp)->name;
		pr->mode = pj_cfg_pass_mode(cfg, (*pp)->name);
		pr->scope = pj_scope_pass_name(report, *pp);
		if (rc || e.stop != RUN_ON)
			continue; /* listed as not run */
		if (pr->scope != NULL &&
		    strcmp(pr->scope, "not_applicable") == 0)
			continue; /* n/a in the report */
		/* Nothing may be deleted unless it can be archived first. */
		if ((*pp)->destructive && pr->mode == PJ_MODE_REPAIR &&
		    !opts->dry_run && e.ctx.archive && !archive_checked) {
			rc = pj_archive_check(db, err);
			archive_checked = rc == PJ_OK;
			if (rc)
				continue;
		}
		pr->ran = true;
		t0 = pj_time_mono_us();
		pj_log_info("pass_start", "pass=%s mode=%s dry_run=%s",
		    pr->name, pj_cfg_mode_name(pr->mode),
		    opts->dry_run ? "true" : "false");
		if (opts->progress != NULL)
			pj_progress_start(opts->progress, pr->name, -1);
		rc = run_pass(&e, *pp, report, pr, err);
		if (opts->progress != NULL)
			pj_progress_end(opts->progress);
		pr->seconds = (double)(pj_time_mono_us() - t0) / 1e6;
		pj_log_info("pass_done",
		    "pass=%s found=%zu repaired=%zu failed=%zu remaining=%zu "
		    "batches=%zu retries=%zu certification_failures=%zu "
		    "seconds=%.3f",
		    pr->name, pr->found, pr->repaired, pr->failed,
		    pr->remaining, pr->batches, pr->retries,
		    pr->certification_failures, pr->seconds);
	}
	report->stopped_by = stop_names[e.stop];
	pj_throttle_close(e.throttle);
	free(e.batch.keys);
	return rc;
}
