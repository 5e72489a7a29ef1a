/* The batch time histogram: quantiles within one bucket of the truth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/batch_times.h"

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) by nearest rank, as the benchmarks count it. */
static int64_t
exact_quantile(int64_t *v, size_t n, double q)
{
	size_t rank = (size_t)(q * (double)n + 0.999999);

	qsort(v, n, sizeof(*v), cmp_i64);
	return v[(rank < 1 ? 1 : rank) - 1];
}

static void
test_empty(void **state)
{
	struct pj_batch_times t;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_int_equal(pj_batch_times_quantile(&t, 0.5), 0);
	assert_int_equal(pj_batch_times_quantile(&t, 0.99), 0);
}

/* Below 8 us every value has its own bucket; one value is its own
 * quantile; a negative time counts as 0. */
static void
test_small_and_single(void **state)
{
	struct pj_batch_times t;
	int64_t us;

	(void)state;
	for (us = 0; us < 40; us++) {
		memset(&t, 0, sizeof(t));
		pj_batch_times_add(&t, us);
		assert_int_equal(pj_batch_times_quantile(&t, 0.5), us);
		assert_int_equal(pj_batch_times_quantile(&t, 1.0), us);
	}
	memset(&t, 0, sizeof(t));
	pj_batch_times_add(&t, -5);
	assert_int_equal(t.n, 1);
	assert_int_equal(pj_batch_times_quantile(&t, 0.5), 0);
}

/* Spread samples (1 us to 20 s, a few far out): every reported quantile
 * is at least the true one and at most 1/8 above it, and p100 is the
 * exact maximum. */
static void
test_quantiles_bounded(void **state)
{
	static const double qs[] = { 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0 };
	enum { N = 5000 };
	struct pj_batch_times t;
	int64_t *v = malloc(N * sizeof(*v));
	uint64_t x = 88172645463325252ULL;
	size_t i, k;

	(void)state;
	assert_non_null(v);
	memset(&t, 0, sizeof(t));
	for (i = 0; i < N; i++) {
		/* xorshift64: a fixed, spread sequence */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (int64_t)(x % 20000000u) >> (x % 24);
		if (i % 997 == 0)
			v[i] = 20000000 + (int64_t)i;
		pj_batch_times_add(&t, v[i]);
	}
	assert_int_equal(t.n, N);
	for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		int64_t want = exact_quantile(v, N, qs[k]);
		int64_t got = pj_batch_times_quantile(&t, qs[k]);

		if (got < want || (double)got > (double)want * 1.125 + 1)
			fail_msg("q=%.3f: got %lld, true %lld", qs[k],
			    (long long)got, (long long)want);
	}
	assert_int_equal(pj_batch_times_quantile(&t, 1.0), t.max_us);
	assert_int_equal(t.max_us, exact_quantile(v, N, 1.0));
	free(v);
}

/* Past the last bucket (2^39 us) times still count, and the maximum stays
 * exact. */
static void
test_huge(void **state)
{
	struct pj_batch_times t;

	(void)state;
	memset(&t, 0, sizeof(t));
	pj_batch_times_add(&t, 10);
	pj_batch_times_add(&t, INT64_MAX);
	assert_int_equal(t.n, 2);
	assert_int_equal(pj_batch_times_quantile(&t, 0.5), 10);
	assert_true(pj_batch_times_quantile(&t, 1.0) == INT64_MAX);
	assert_int_equal(t.bucket[PJ_BATCH_TIMES_BUCKETS - 1], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_small_and_single),
		cmocka_unit_test(test_quantiles_bounded),
		cmocka_unit_test(test_huge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
