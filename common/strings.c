/* Bounded string copies and wiping. */
#include "common/strings.h"

#include <string.h>

size_t
pj_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

void
pj_wipe(void *p, size_t size)
{
	/* A volatile pointer: the stores cannot be dropped as dead. */
	volatile unsigned char *v = p;

	while (size-- > 0)
		*v++ = 0;
}
