/* A small streaming JSON writer and string escaper (always valid output). */
#include "common/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The longest escape of one input sequence: "\u001f" or "\ufffd". */
#define ESCAPE_MAX 8

/*
 * Is s the start of a well-formed UTF-8 character (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF)? *len is its length, or,
 * when not, the length of the maximal ill-formed prefix to replace by one
 * U+FFFD (at least 1). A NUL is never a continuation byte, so this stops
 * at the end of the string.
 */
bool
pj_utf8_seq(const unsigned char *s, size_t *len)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		*len = 1;
		return false;
	}
	for (i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi) {
			*len = i;
			return false;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	*len = need + 1;
	return true;
}

/* The letter of a two-character escape for c, or 0. */
static char
short_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return '"';
	case '\\':
		return '\\';
	case '\b':
		return 'b';
	case '\f':
		return 'f';
	case '\n':
		return 'n';
	case '\r':
		return 'r';
	case '\t':
		return 't';
	default:
		return 0;
	}
}

/* Escapes the sequence at s into out; *used is the input bytes taken. */
static size_t
escape_next(const unsigned char *s, char out[ESCAPE_MAX], size_t *used)
{
	size_t n;

	*used = 1;
	if (s[0] < 0x80) {
		if (short_escape(s[0]) != 0) {
			out[0] = '\\';
			out[1] = short_escape(s[0]);
			return 2;
		}
		if (s[0] < 0x20 || s[0] == 0x7f)
			return (size_t)snprintf(
			    out, ESCAPE_MAX, "\\u%04x", s[0]);
		out[0] = (char)s[0];
		return 1;
	}
	if (!pj_utf8_seq(s, &n)) {
		*used = n;
		/* out holds bytes counted by the return value, no string */
		/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
		memcpy(out, "\\ufffd", 6);
		return 6;
	}
	*used = n;
	/* U+2028 and U+2029 are valid JSON but end a line in JavaScript. */
	if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] == 0xa8 || s[2] == 0xa9))
		return (size_t)snprintf(
		    out, ESCAPE_MAX, "\\u%04x", 0x2000 + s[2] - 0x80);
	memcpy(out, s, n);
	return n;
}

bool
pj_json_escape(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	char chunk[ESCAPE_MAX];
	size_t pos = 0, n, used;

	if (size == 0)
		return *s == '\0';
	while (*s != '\0') {
		n = escape_next(s, chunk, &used);
		if (pos + n >= size)
			break;
		memcpy(dst + pos, chunk, n);
		pos += n;
		s += used;
	}
	dst[pos] = '\0';
	return *s == '\0';
}

void
pj_json_init(struct pj_json *j, FILE *out)
{
	j->out = out;
	j->need_comma = false;
}

/* Separates a value from the one before it at the same level. */
static void
comma(struct pj_json *j)
{
	if (j->need_comma)
		fputc(',', j->out);
	j->need_comma = true;
}

static void
open_with(struct pj_json *j, char c)
{
	comma(j);
	fputc(c, j->out);
	j->need_comma = false;
}

static void
close_with(struct pj_json *j, char c)
{
	fputc(c, j->out);
	/* The container just closed is a value of its parent. */
	j->need_comma = true;
}

void
pj_json_object_begin(struct pj_json *j)
{
	open_with(j, '{');
}

void
pj_json_object_end(struct pj_json *j)
{
	close_with(j, '}');
}

void
pj_json_array_begin(struct pj_json *j)
{
	open_with(j, '[');
}

void
pj_json_array_end(struct pj_json *j)
{
	close_with(j, ']');
}

static void
write_string(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char chunk[ESCAPE_MAX];
	size_t n, used;

	fputc('"', out);
	while (*s != '\0') {
		/* Runs of bytes that stand for themselves go out in one call:
		 * batch key lists are mostly UUIDs. */
		for (n = 0;
		     s[n] >= 0x20 && s[n] < 0x7f && s[n] != '"' && s[n] != '\\';
		     n++)
			;
		if (n > 0) {
			fwrite(s, 1, n, out);
			s += n;
			continue;
		}
		n = escape_next(s, chunk, &used);
		fwrite(chunk, 1, n, out);
		s += used;
	}
	fputc('"', out);
}

void
pj_json_key(struct pj_json *j, const char *key)
{
	comma(j);
	write_string(j->out, key);
	fputc(':', j->out);
	j->need_comma = false;
}

void
pj_json_string(struct pj_json *j, const char *s)
{
	if (s == NULL) {
		pj_json_null(j);
		return;
	}
	comma(j);
	write_string(j->out, s);
}

void
pj_json_int(struct pj_json *j, int64_t v)
{
	comma(j);
	fprintf(j->out, "%" PRId64, v);
}

void
pj_json_uint(struct pj_json *j, uint64_t v)
{
	comma(j);
	fprintf(j->out, "%" PRIu64, v);
}

void
pj_json_double(struct pj_json *j, double v)
{
	if (!isfinite(v)) {
		pj_json_null(j);
		return;
	}
	comma(j);
	fprintf(j->out, "%.3f", v);
}

void
pj_json_bool(struct pj_json *j, bool v)
{
	comma(j);
	fputs(v ? "true" : "false", j->out);
}

void
pj_json_null(struct pj_json *j)
{
	comma(j);
	fputs("null", j->out);
}
