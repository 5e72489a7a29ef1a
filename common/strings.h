/* Bounded string copies and checks. */
#ifndef PJ_COMMON_STRINGS_H
#define PJ_COMMON_STRINGS_H

#include <stdbool.h>
#include <stddef.h>

/* Copies src into dst (size bytes), always NUL-terminated; returns
 * strlen(src), so a result >= size means it was truncated. */
size_t pj_strlcpy(char *dst, const char *src, size_t size);

/* Overwrites size bytes at p in a way the compiler may not elide. */
void pj_wipe(void *p, size_t size);

#endif
