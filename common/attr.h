/* Compiler attributes shared by every module. */
#ifndef PJ_COMMON_ATTR_H
#define PJ_COMMON_ATTR_H

/* A status that must not be ignored (see common/error.h). */
#define PJ_MUSTCHECK __attribute__((warn_unused_result))
/* printf-style checking of a format argument and its values. */
#define PJ_PRINTF(fmt, first) __attribute__((format(printf, fmt, first)))
#define PJ_NORETURN __attribute__((noreturn))

#endif
