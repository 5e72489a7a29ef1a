/* Batch transaction times in a log-scale histogram (batch_times.h). */
#include "worker/batch_times.h"

#include <math.h>
#include <stddef.h>

#define SUB_BITS 3
#define SUB (1 << SUB_BITS) /* buckets per power of two */

/* us >= 0: pj_batch_times_add counts a negative time as 0. */
static size_t
bucket_of(int64_t us)
{
	unsigned int e = 0;
	size_t i;

	if (us < SUB)
		return (size_t)us;
	while ((us >> e) >= 2 * SUB)
		e++;
	/* us is in [(SUB + sub) << e, (SUB + sub + 1) << e). */
	i = SUB + (size_t)e * SUB + (size_t)((us >> e) - SUB);
	return i < PJ_BATCH_TIMES_BUCKETS ? i : PJ_BATCH_TIMES_BUCKETS - 1;
}

/* The largest value bucket i holds. */
static int64_t
bucket_top(size_t i)
{
	size_t e, sub;

	if (i < SUB)
		return (int64_t)i;
	e = (i - SUB) / SUB;
	sub = (i - SUB) % SUB;
	return ((int64_t)(SUB + sub + 1) << e) - 1;
}

void
pj_batch_times_add(struct pj_batch_times *t, int64_t us)
{
	if (us < 0)
		us = 0;
	t->bucket[bucket_of(us)]++;
	t->n++;
	if (us > t->max_us)
		t->max_us = us;
}

int64_t
pj_batch_times_quantile(const struct pj_batch_times *t, double q)
{
	uint64_t rank, seen = 0;
	size_t i;

	if (t->n == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)t->n);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < PJ_BATCH_TIMES_BUCKETS; i++) {
		seen += t->bucket[i];
		if (seen >= rank)
			break;
	}
	/* The last bucket also holds every longer time: it has no top. */
	if (i >= PJ_BATCH_TIMES_BUCKETS - 1 || bucket_top(i) > t->max_us)
		return t->max_us;
	return bucket_top(i);
}
