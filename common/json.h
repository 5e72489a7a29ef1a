/* A small streaming JSON writer and string escaper (always valid output). */
#ifndef PJ_COMMON_JSON_H
#define PJ_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Writer state. Commas are placed automatically: call pj_json_key before
 * each member of an object, nothing before an array element. The caller
 * keeps the nesting balanced. Write errors are left in the FILE (ferror).
 */
struct pj_json {
	FILE *out;
	bool need_comma; /* a value was written at this level */
};

void pj_json_init(struct pj_json *j, FILE *out);
void pj_json_object_begin(struct pj_json *j);
void pj_json_object_end(struct pj_json *j);
void pj_json_array_begin(struct pj_json *j);
void pj_json_array_end(struct pj_json *j);
/* An object member's name; the next call writes its value. */
void pj_json_key(struct pj_json *j, const char *key);
/*
 * A string, escaped: quote, backslash and control characters, DEL,
 * U+2028/U+2029; valid UTF-8 passes through, each invalid sequence becomes
 * U+FFFD. NULL writes null.
 */
void pj_json_string(struct pj_json *j, const char *s);
void pj_json_int(struct pj_json *j, int64_t v);
void pj_json_uint(struct pj_json *j, uint64_t v);
/* Fixed three decimals; a NaN or infinity (not JSON) writes null. */
void pj_json_double(struct pj_json *j, double v);
void pj_json_bool(struct pj_json *j, bool v);
void pj_json_null(struct pj_json *j);

/*
 * Is s the start of a well-formed UTF-8 character (RFC 3629)? *len is
 * its length, or when not, the length of the ill-formed prefix to replace
 * (at least 1). Stops at a NUL.
 */
bool pj_utf8_seq(const unsigned char *s, size_t *len);

/*
 * Escapes src as pj_json_string does, without the quotes, into dst (size
 * bytes, NUL-terminated when size > 0). Never cuts an escape or a UTF-8
 * character in half. Returns true if all of src fit.
 */
bool pj_json_escape(char *dst, size_t size, const char *src);

#endif
