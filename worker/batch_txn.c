/* The shared batch transaction of restore and archive purge. */
#include "worker/batch_txn.h"

#include <stdint.h>
#include <unistd.h>

#include "common/log.h"
#include "common/time.h"

/* Full jitter: a random wait up to retry_backoff * 2^attempt, capped,
 * and never past until_ms (monotonic; 0: no bound). */
static void
backoff(const struct pj_config *cfg, unsigned int attempt, int64_t until_ms)
{
	uint64_t cap = (uint64_t)cfg->worker.retry_backoff_ms;
	uint64_t noise =
	    (uint64_t)pj_time_mono_us() * 2654435761u ^ (uint64_t)getpid();

	for (; attempt > 0 && cap < 10000; attempt--)
		cap *= 2;
	pj_time_sleep_ms_until(
	    1 + (int64_t)(noise % (cap > 0 ? cap : 1)), until_ms);
}

/* Reconnects with backoff until worker.reconnect_deadline has passed (a
 * server restart or failover), as the engine does. */
static int
reconnect(struct pj_db *db, const struct pj_config *cfg, struct pj_error *err)
{
	int64_t deadline =
	    pj_time_mono_ms() + cfg->worker.reconnect_deadline_ms;
	unsigned int attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		pj_error_clear(err);
		rc = pj_db_reconnect(db, err);
		if (rc != PJ_ECONN || pj_time_mono_ms() >= deadline)
			break;
		pj_log_warn(
		    "reconnect_failed", "attempt=%u %s", attempt + 1, err->msg);
		/* The deadline holds from the loss: no wait runs past it. */
		backoff(cfg, attempt + 1, deadline);
	}
	if (rc == PJ_OK)
		pj_log_info("reconnected", "attempts=%u", attempt + 1);
	return rc;
}

int
pj_batch_transaction(struct pj_db *db, const struct pj_config *cfg,
    int (*work)(void *arg, struct pj_error *err), void *arg, size_t *retries,
    struct pj_error *err)
{
	unsigned int attempt;
	int rc;

	for (attempt = 0;; attempt++) {
		rc = pj_db_begin(db, err);
		if (rc == PJ_OK)
			rc = work(arg, err);
		if (rc == PJ_OK)
			rc = pj_db_commit(db, err);
		if (rc == PJ_OK)
			return PJ_OK;
		pj_db_rollback(db);
		if (!pj_status_retryable(rc) ||
		    attempt >= (unsigned int)cfg->worker.retries)
			return rc;
		(*retries)++;
		pj_log_info("batch_retry", "attempt=%u status=%s %s",
		    attempt + 1, pj_status_name(rc), err->msg);
		pj_error_clear(err);
		backoff(cfg, attempt, 0);
		if (rc == PJ_ECONN) {
			rc = reconnect(db, cfg, err);
			if (rc)
				return rc;
		}
	}
}

bool
pj_batch_fatal(int status)
{
	return status == PJ_ECONN || status == PJ_EACCESS ||
	    status == PJ_ESCHEMA || status == PJ_ENOMEM ||
	    status == PJ_EINTERNAL || status == PJ_ECONFIG;
}
