/* Unit tests for common/json.c: escaping of hostile strings, the writer. */
#include "common/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/*
 * A strict JSON checker written independently of json.c: RFC 8259 syntax,
 * well-formed UTF-8 in strings, no raw control characters, and no escaped
 * surrogates (the writer never needs them). The last top-level string is
 * decoded into dec, so escaping can be checked to round-trip.
 */
struct checker {
	const unsigned char *p;
	char dec[8192];
	size_t dec_len;
};

static bool check_value(struct checker *c, int depth);

static void
skip_ws(struct checker *c)
{
	while (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')
		c->p++;
}

static void
dec_put(struct checker *c, const void *s, size_t n)
{
	if (c->dec_len + n < sizeof(c->dec)) {
		memcpy(c->dec + c->dec_len, s, n);
		c->dec_len += n;
		c->dec[c->dec_len] = '\0';
	}
}

/* Decodes one UTF-8 character by its code point; 0 if ill-formed. */
static size_t
utf8_char(const unsigned char *s)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp;
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return 0;
	cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool
check_escape(struct checker *c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned int cp;
	char utf8[4];
	int i;

	if (*c->p == 'u') {
		cp = 0;
		for (i = 1; i <= 4; i++) {
			char h = (char)c->p[i];

			if (h >= '0' && h <= '9')
				cp = cp * 16 + (unsigned int)(h - '0');
			else if (h >= 'a' && h <= 'f')
				cp = cp * 16 + (unsigned int)(h - 'a' + 10);
			else if (h >= 'A' && h <= 'F')
				cp = cp * 16 + (unsigned int)(h - 'A' + 10);
			else
				return false;
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			return false;
		if (cp < 0x80) {
			utf8[0] = (char)cp;
			dec_put(c, utf8, 1);
		} else if (cp < 0x800) {
			utf8[0] = (char)(0xc0 | (cp >> 6));
			utf8[1] = (char)(0x80 | (cp & 0x3f));
			dec_put(c, utf8, 2);
		} else {
			utf8[0] = (char)(0xe0 | (cp >> 12));
			utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			utf8[2] = (char)(0x80 | (cp & 0x3f));
			dec_put(c, utf8, 3);
		}
		c->p += 5;
		return true;
	}
	if (*c->p == '\0')
		return false;
	e = strchr(from, *c->p);
	if (e == NULL)
		return false;
	dec_put(c, &to[e - from], 1);
	c->p++;
	return true;
}

static bool
check_string(struct checker *c)
{
	size_t n;

	if (*c->p != '"')
		return false;
	c->p++;
	c->dec_len = 0;
	c->dec[0] = '\0';
	while (*c->p != '"') {
		if (*c->p < 0x20)
			return false; /* raw control character or end of text */
		if (*c->p == '\\') {
			c->p++;
			if (!check_escape(c))
				return false;
			continue;
		}
		n = utf8_char(c->p);
		if (n == 0)
			return false;
		dec_put(c, c->p, n);
		c->p += n;
	}
	c->p++;
	return true;
}

static bool
check_digits(struct checker *c)
{
	if (*c->p < '0' || *c->p > '9')
		return false;
	while (*c->p >= '0' && *c->p <= '9')
		c->p++;
	return true;
}

static bool
check_number(struct checker *c)
{
	if (*c->p == '-')
		c->p++;
	if (*c->p == '0')
		c->p++;
	else if (!check_digits(c))
		return false;
	if (*c->p == '.') {
		c->p++;
		if (!check_digits(c))
			return false;
	}
	if (*c->p == 'e' || *c->p == 'E') {
		c->p++;
		if (*c->p == '+' || *c->p == '-')
			c->p++;
		if (!check_digits(c))
			return false;
	}
	return true;
}

static bool
check_word(struct checker *c, const char *w)
{
	size_t n = strlen(w);

	if (strncmp((const char *)c->p, w, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* An object (close '}') or an array (close ']') after its opening. */
static bool
check_container(struct checker *c, char close, int depth)
{
	skip_ws(c);
	if (*c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		skip_ws(c);
		if (close == '}') {
			if (!check_string(c))
				return false;
			skip_ws(c);
			if (*c->p++ != ':')
				return false;
		}
		if (!check_value(c, depth + 1))
			return false;
		skip_ws(c);
		if (*c->p == close) {
			c->p++;
			return true;
		}
		if (*c->p++ != ',')
			return false;
	}
}

static bool
check_value(struct checker *c, int depth)
{
	if (depth > 32)
		return false;
	skip_ws(c);
	switch (*c->p) {
	case '{':
		c->p++;
		return check_container(c, '}', depth);
	case '[':
		c->p++;
		return check_container(c, ']', depth);
	case '"':
		return check_string(c);
	case 't':
		return check_word(c, "true");
	case 'f':
		return check_word(c, "false");
	case 'n':
		return check_word(c, "null");
	default:
		return check_number(c);
	}
}

/* One JSON text and nothing after it but white space. */
static bool
check_json(const char *text, struct checker *c)
{
	c->p = (const unsigned char *)text;
	c->dec_len = 0;
	c->dec[0] = '\0';
	if (!check_value(c, 0))
		return false;
	skip_ws(c);
	return *c->p == '\0';
}

/* s as a JSON string through a memory stream; the caller frees it. */
static char *
render_string(const char *s)
{
	struct pj_json j;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	pj_json_init(&j, f);
	pj_json_string(&j, s);
	assert_int_equal(fclose(f), 0);
	return text;
}

struct escape_case {
	const char *in;
	const char *want; /* the JSON text, quotes included */
};

static const struct escape_case escape_cases[] = {
	{ "", "\"\"" },
	{ "plain text 123", "\"plain text 123\"" },
	{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
	{ "C:\\dir\\", "\"C:\\\\dir\\\\\"" },
	{ "a\nb", "\"a\\nb\"" },
	{ "\"}\n{\"forged\":1", "\"\\\"}\\n{\\\"forged\\\":1\"" },
	{ "\r\t\b\f", "\"\\r\\t\\b\\f\"" },
	{ "\x01", "\"\\u0001\"" },
	{ "x\x1f", "\"x\\u001f\"" },
	{ "\x1b[31mred", "\"\\u001b[31mred\"" },
	{ "del\x7f", "\"del\\u007f\"" },
	{ "</script>/", "\"</script>/\"" },
	{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	{ "\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"" },
	{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },
	{ "\xef\xbf\xbf", "\"\xef\xbf\xbf\"" },
	{ "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },
	{ "a\xe2\x80\xa8z", "\"a\\u2028z\"" },
	{ "\xe2\x80\xa9", "\"\\u2029\"" },
	{ "\xc2\x85", "\"\xc2\x85\"" },
	{ "\xff", "\"\\ufffd\"" },
	{ "\x80", "\"\\ufffd\"" },
	{ "a\xfe\xff", "\"a\\ufffd\\ufffd\"" },
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "\xc1\xbf", "\"\\ufffd\\ufffd\"" },
	{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ "\xf5\x80", "\"\\ufffd\\ufffd\"" },
	{ "\xe2\x82", "\"\\ufffd\"" },
	{ "\xe2\x82x", "\"\\ufffdx\"" },
	{ "\xf0\x9f\x98", "\"\\ufffd\"" },
	{ "\xf0\x9f\x98\"", "\"\\ufffd\\\"\"" },
	{ "\xc3", "\"\\ufffd\"" },
	{ "\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"" },
};

static void
test_escape_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *tc = &escape_cases[i];
		struct checker c;
		char *got = render_string(tc->in);

		if (strcmp(got, tc->want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, tc->want);
		if (!check_json(got, &c))
			fail_msg("case %zu: %s is not valid JSON", i, got);
		free(got);
	}
}

/* Long hostile values are escaped whole (nothing is cut by the writer). */
static void
test_escape_long_values(void **state)
{
	static const struct {
		char fill;
		const char *escaped;
	} cases[] = {
		{ 'a', "a" },
		{ '"', "\\\"" },
		{ '\\', "\\\\" },
		{ '\n', "\\n" },
		{ '\x02', "\\u0002" },
	};
	char in[256], want[256 * 6 + 3];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got;

		memset(in, cases[i].fill, 255);
		in[255] = '\0';
		strcpy(want, "\"");
		for (k = 0; k < 255; k++)
			strcat(want, cases[i].escaped);
		strcat(want, "\"");
		got = render_string(in);
		if (strcmp(got, want) != 0)
			fail_msg(
			    "255 x 0x%02x: got %.60s...", cases[i].fill, got);
		free(got);
	}
}

/*
 * Every string of up to two arbitrary bytes, then pseudo-random ones:
 * the output is valid JSON, and valid UTF-8 input decodes back unchanged.
 */
static void
check_one(const char *in, size_t len)
{
	struct checker c;
	char *got = render_string(in);
	bool valid = true;
	size_t i, n;

	if (!check_json(got, &c))
		fail_msg("input of %zu bytes: invalid output %s", len, got);
	if (strstr(got, "\xe2\x80\xa8") != NULL)
		fail_msg("raw U+2028 in %s", got);
	for (i = 0; i < len; i += n) {
		n = utf8_char((const unsigned char *)in + i);
		if (n == 0) {
			valid = false;
			break;
		}
	}
	if (valid && strcmp(c.dec, in) != 0)
		fail_msg("%s does not decode back to its input", got);
	if (!valid && strstr(c.dec, "\xef\xbf\xbd") == NULL)
		fail_msg("%s: invalid input but no U+FFFD", got);
	free(got);
}

static void
test_escape_all_bytes(void **state)
{
	char in[24];
	unsigned int a, b, seed = 12345;
	size_t i, k, len;

	(void)state;
	for (a = 1; a < 256; a++) {
		in[0] = (char)a;
		in[1] = '\0';
		check_one(in, 1);
		for (b = 1; b < 256; b++) {
			in[1] = (char)b;
			in[2] = '\0';
			check_one(in, 2);
		}
	}
	for (i = 0; i < 20000; i++) {
		seed = seed * 1103515245u + 12345u;
		len = 1 + (seed >> 16) % (sizeof(in) - 1);
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			/* Mostly high bytes: that is where UTF-8 goes wrong. */
			in[k] = (char)(0x7f + (seed >> 16) % 0x81);
		}
		in[len] = '\0';
		check_one(in, len);
	}
}

struct bounded_case {
	const char *in;
	size_t size;
	const char *want;
	bool fits;
};

static const struct bounded_case bounded_cases[] = {
	{ "", 1, "", true },
	{ "abc", 4, "abc", true },
	{ "abc", 3, "ab", false },
	{ "abc", 1, "", false },
	{ "a\n", 4, "a\\n", true },
	{ "a\n", 3, "a", false },
	{ "\"x", 2, "", false },
	{ "\x01", 7, "\\u0001", true },
	{ "\x01", 6, "", false },
	{ "\xc3\xa9", 3, "\xc3\xa9", true },
	{ "\xc3\xa9", 2, "", false },
	{ "a\xf0\x9f\x98\x80", 5, "a", false },
	{ "\xff", 7, "\\ufffd", true },
	{ "\xff", 6, "", false },
	{ "\xe2\x80\xa8", 7, "\\u2028", true },
};

static void
test_escape_bounded(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bounded_cases) / sizeof(bounded_cases[0]); i++) {
		const struct bounded_case *tc = &bounded_cases[i];
		char buf[32];
		bool fits;

		memset(buf, '#', sizeof(buf));
		fits = pj_json_escape(buf, tc->size, tc->in);
		if (fits != tc->fits || strcmp(buf, tc->want) != 0)
			fail_msg("case %zu (size %zu): got \"%s\" fits=%d", i,
			    tc->size, buf, fits);
		if (buf[tc->size] != '#')
			fail_msg("case %zu: wrote past size %zu", i, tc->size);
	}
}

/* size 0: nothing written, not even a NUL. */
static void
test_escape_size_zero(void **state)
{
	char one = '#';

	(void)state;
	assert_false(pj_json_escape(&one, 0, "x"));
	assert_true(pj_json_escape(&one, 0, ""));
	assert_int_equal(one, '#');
}

static void
test_writer(void **state)
{
	static const char want[] =
	    "{\"a\":1,\"b\":[true,false,null,\"x\",{\"c\":-5},[]],"
	    "\"d\":{},\"e\":[[1],[2,3]],\"f\":1.500,\"g\":-0.001,"
	    "\"max\":18446744073709551615,\"min\":-9223372036854775808,"
	    "\"nan\":null,\"inf\":null,\"str\":null,\"k\\\"ey\\n\":\"v\"}";
	struct pj_json j;
	struct checker c;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	pj_json_init(&j, f);
	pj_json_object_begin(&j);
	pj_json_key(&j, "a");
	pj_json_int(&j, 1);
	pj_json_key(&j, "b");
	pj_json_array_begin(&j);
	pj_json_bool(&j, true);
	pj_json_bool(&j, false);
	pj_json_null(&j);
	pj_json_string(&j, "x");
	pj_json_object_begin(&j);
	pj_json_key(&j, "c");
	pj_json_int(&j, -5);
	pj_json_object_end(&j);
	pj_json_array_begin(&j);
	pj_json_array_end(&j);
	pj_json_array_end(&j);
	pj_json_key(&j, "d");
	pj_json_object_begin(&j);
	pj_json_object_end(&j);
	pj_json_key(&j, "e");
	pj_json_array_begin(&j);
	pj_json_array_begin(&j);
	pj_json_uint(&j, 1);
	pj_json_array_end(&j);
	pj_json_array_begin(&j);
	pj_json_uint(&j, 2);
	pj_json_uint(&j, 3);
	pj_json_array_end(&j);
	pj_json_array_end(&j);
	pj_json_key(&j, "f");
	pj_json_double(&j, 1.5);
	pj_json_key(&j, "g");
	pj_json_double(&j, -0.0012);
	pj_json_key(&j, "max");
	pj_json_uint(&j, UINT64_MAX);
	pj_json_key(&j, "min");
	pj_json_int(&j, INT64_MIN);
	pj_json_key(&j, "nan");
	pj_json_double(&j, NAN);
	pj_json_key(&j, "inf");
	pj_json_double(&j, -INFINITY);
	pj_json_key(&j, "str");
	pj_json_string(&j, NULL);
	pj_json_key(&j, "k\"ey\n");
	pj_json_string(&j, "v");
	pj_json_object_end(&j);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(text, want);
	assert_true(check_json(text, &c));
	free(text);
}

/* The checker itself must reject what it is there to catch. */
static void
test_checker_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"{",
		"{\"a\":1,}",
		"[1,]",
		"[1 2]",
		"\"a\nb\"",
		"\"\\x41\"",
		"\"\xff\"",
		"\"\xc0\xaf\"",
		"\"\\ud800\"",
		"{\"a\"}",
		"01",
		"1.",
		"nul",
		"\"open",
		"{} {}",
	};
	struct checker c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (check_json(bad[i], &c))
			fail_msg("checker accepted %s", bad[i]);
	}
	assert_true(check_json(" {\"a\":[1,-2.5e3,\"\\u00e9\"]} ", &c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_rejects),
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_long_values),
		cmocka_unit_test(test_escape_all_bytes),
		cmocka_unit_test(test_escape_bounded),
		cmocka_unit_test(test_escape_size_zero),
		cmocka_unit_test(test_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
