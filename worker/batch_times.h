/*
 * How long a pass's batch transactions took (BEGIN to COMMIT), kept in
 * constant memory however many batches a run has: a histogram with eight
 * buckets per power of two of microseconds, plus the exact count and
 * maximum. The report prints p50, p99 and the maximum from it, so an
 * operator sees how long the worker held its locks without -v's one line
 * per batch.
 */
#ifndef PJ_WORKER_BATCH_TIMES_H
#define PJ_WORKER_BATCH_TIMES_H

#include <stdint.h>

/* 0..7 us one bucket each, then 8 per power of two up to 2^39 us (6 days;
 * longer times count in the last bucket). */
#define PJ_BATCH_TIMES_BUCKETS (8 + 8 * 36)

struct pj_batch_times {
	uint32_t bucket[PJ_BATCH_TIMES_BUCKETS];
	uint64_t n;     /* batches counted */
	int64_t max_us; /* the longest, exact */
};

/* Counts one batch of us microseconds (negative counts as 0). */
void pj_batch_times_add(struct pj_batch_times *t, int64_t us);

/*
 * The q-quantile (0 < q <= 1) by nearest rank, in microseconds: the top of
 * the bucket holding it, so at most 1/8 above the true value and never
 * above max_us. 0 when no batch was counted.
 */
int64_t pj_batch_times_quantile(const struct pj_batch_times *t, double q);

#endif
