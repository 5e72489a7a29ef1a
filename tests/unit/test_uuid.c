/* Unit tests for common/uuid.c: run id format and uniqueness. */
#include "common/uuid.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define N_IDS 1000

/* 8-4-4-4-12 lower-case hex, version 4, RFC 4122 variant. */
static bool
well_formed(const char *id)
{
	size_t i;

	if (strlen(id) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;

		if (hyphen != (id[i] == '-'))
			return false;
		if (!hyphen && strchr("0123456789abcdef", id[i]) == NULL)
			return false;
	}
	return id[14] == '4' && strchr("89ab", id[19]) != NULL;
}

static void
test_well_formed_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5",
		"4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5f0",
		"4B1F0C2E-8D7A-4C3B-9E2F-0A1B2C3D4E5F",
		"4b1f0c2e08d7a-4c3b-9e2f-0a1b2c3d4e5f",
		"4b1f0c2e-8d7a-1c3b-9e2f-0a1b2c3d4e5f",
		"4b1f0c2e-8d7a-4c3b-ce2f-0a1b2c3d4e5f",
		"4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5g",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (well_formed(bad[i]))
			fail_msg("accepted %s", bad[i]);
	}
	assert_true(well_formed("4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5f"));
}

static int
compare(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_generate(void **state)
{
	char(*ids)[PJ_UUID_LEN] = calloc(N_IDS, PJ_UUID_LEN);
	size_t i;

	(void)state;
	assert_non_null(ids);
	for (i = 0; i < N_IDS; i++) {
		memset(ids[i], 'X', PJ_UUID_LEN);
		pj_uuid_generate(ids[i]);
		if (ids[i][36] != '\0' || !well_formed(ids[i]))
			fail_msg("id %zu malformed: %.37s", i, ids[i]);
	}
	qsort(ids, N_IDS, PJ_UUID_LEN, compare);
	for (i = 1; i < N_IDS; i++) {
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate id %s", ids[i]);
	}
	free(ids);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_well_formed_rejects),
		cmocka_unit_test(test_generate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
