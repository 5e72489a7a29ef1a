/* libFuzzer target: the duration parser on any text, and its round trip. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest text pj_time_format_duration writes: INT64_MAX and "ms". */
#define FORMAT_MAX 32

/*
 * Formatting into every shorter buffer, each allocated to its exact size
 * so that ASan sees a byte written past it, gives a NUL-terminated prefix
 * of the whole text.
 */
static void
check_truncation(int64_t ms, const char *whole)
{
	size_t len = strlen(whole), size;

	for (size = 1; size <= len + 1; size++) {
		char *buf = malloc(size);

		if (buf == NULL)
			abort();
		pj_time_format_duration(ms, buf, size);
		if (strnlen(buf, size) != size - 1 ||
		    memcmp(buf, whole, size - 1) != 0)
			abort();
		free(buf);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pj_error err = { 0 };
	char text[FORMAT_MAX], again_text[FORMAT_MAX];
	char *input = NULL;
	int64_t ms = -1, again = -1;
	int rc;

	/* The parser reads a C string: the bytes up to the first NUL. */
	input = malloc(size + 1);
	if (input == NULL)
		abort();
	memcpy(input, data, size);
	input[size] = '\0';
	rc = pj_time_parse_duration(input, &ms, &err);
	free(input);
	if (rc != PJ_OK) {
		/* Refused: PJ_EINVAL with a message, *ms untouched. */
		if (rc != PJ_EINVAL || err.code != PJ_EINVAL ||
		    err.msg[0] == '\0' || ms != -1)
			abort();
		return 0;
	}
	if (err.code != PJ_OK || ms < 0)
		abort();

	/* The round trip: the formatted text parses back to the same
	 * value, and is canonical (formatting that again changes nothing). */
	pj_time_format_duration(ms, text, sizeof(text));
	if (strnlen(text, sizeof(text)) >= sizeof(text) - 1)
		abort(); /* FORMAT_MAX is too small: it may have truncated */
	rc = pj_time_parse_duration(text, &again, &err);
	if (rc != PJ_OK || again != ms)
		abort();
	pj_time_format_duration(again, again_text, sizeof(again_text));
	if (strcmp(text, again_text) != 0)
		abort();
	check_truncation(ms, text);
	return 0;
}
