/*
 * Unit tests for worker/metrics.c: every line is valid Prometheus text
 * exposition (a strict checker, itself tested on bad lines), labels are
 * escaped, the file is replaced atomically with mode 0644, the last success
 * survives a failed run, and nothing planted at the temporary name is used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/metrics.h"

/* ---- a strict exposition checker ---- */

#define CHECK_MAX_NAMES 64
#define CHECK_MAX_SERIES 256

struct checker {
	char typed[CHECK_MAX_NAMES][128]; /* metrics with a TYPE line */
	char helped[CHECK_MAX_NAMES][128];
	size_t n_typed, n_helped;
	char current[128]; /* metric whose samples are being read */
	char series[CHECK_MAX_SERIES][512];
	size_t n_series;
	char why[160];
};

static bool
in_list(char list[][128], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], name) == 0)
			return true;
	}
	return false;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* (labels: no colon); returns the length. */
static size_t
name_len(const char *s, bool colon)
{
	size_t n = 0;

	while (isalpha((unsigned char)s[n]) || s[n] == '_' ||
	    (colon && s[n] == ':') || (n > 0 && isdigit((unsigned char)s[n])))
		n++;
	return n;
}

/* A Go ParseFloat number as Prometheus writes it, or NaN, +Inf, -Inf. */
static bool
valid_float(const char *s)
{
	size_t i = 0, digits = 0;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 ||
	    strcmp(s, "-Inf") == 0)
		return true;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; isdigit((unsigned char)s[i]); i++)
		digits++;
	if (s[i] == '.') {
		for (i++; isdigit((unsigned char)s[i]); i++)
			digits++;
	}
	if (digits == 0)
		return false;
	if (s[i] == 'e' || s[i] == 'E') {
		i++;
		if (s[i] == '+' || s[i] == '-')
			i++;
		if (!isdigit((unsigned char)s[i]))
			return false;
		while (isdigit((unsigned char)s[i]))
			i++;
	}
	return s[i] == '\0';
}

static bool
fail_why(struct checker *c, const char *why)
{
	snprintf(c->why, sizeof(c->why), "%s", why);
	return false;
}

/* {name="value",...}: label syntax and escapes; *s moves past it. */
static bool
check_labels(struct checker *c, const char **s)
{
	const char *p = *s + 1;
	size_t n;

	while (*p != '}') {
		n = name_len(p, false);
		if (n == 0 || strncmp(p, "__", 2) == 0)
			return fail_why(c, "bad label name");
		p += n;
		if (p[0] != '=' || p[1] != '"')
			return fail_why(c, "expected =\" after a label name");
		for (p += 2; *p != '"'; p++) {
			if (*p == '\0' || *p == '\n')
				return fail_why(c, "unterminated label value");
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return fail_why(c, "bad escape");
			}
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return fail_why(c, "expected , or } after a label");
	}
	*s = p + 1;
	return true;
}

static bool
check_comment(struct checker *c, const char *line)
{
	char name[128], kind[32];
	size_t n;

	if (strncmp(line, "# HELP ", 7) != 0 &&
	    strncmp(line, "# TYPE ", 7) != 0)
		return true; /* any other comment */
	n = name_len(line + 7, true);
	if (n == 0 || n >= sizeof(name) || line[7 + n] != ' ')
		return fail_why(c, "bad metric name in HELP/TYPE");
	memcpy(name, line + 7, n);
	name[n] = '\0';
	if (line[2] == 'H') {
		if (in_list(c->helped, c->n_helped, name))
			return fail_why(c, "second HELP for a metric");
		snprintf(c->helped[c->n_helped++], 128, "%s", name);
		return true;
	}
	snprintf(kind, sizeof(kind), "%s", line + 8 + n);
	if (strcmp(kind, "gauge") != 0 && strcmp(kind, "counter") != 0 &&
	    strcmp(kind, "untyped") != 0 && strcmp(kind, "summary") != 0 &&
	    strcmp(kind, "histogram") != 0)
		return fail_why(c, "bad TYPE");
	if (in_list(c->typed, c->n_typed, name))
		return fail_why(c, "second TYPE for a metric");
	snprintf(c->typed[c->n_typed++], 128, "%s", name);
	snprintf(c->current, sizeof(c->current), "%s", name);
	return true;
}

static bool
check_sample(struct checker *c, const char *line)
{
	const char *p = line;
	size_t n = name_len(line, true), i;

	if (n == 0 || n >= 128)
		return fail_why(c, "bad metric name");
	if (strncmp(line, c->current, n) != 0 || c->current[n] != '\0')
		return fail_why(c, "sample without its TYPE just before");
	p += n;
	if (*p == '{' && !check_labels(c, &p))
		return false;
	if ((size_t)(p - line) >= 512)
		return fail_why(c, "series too long for the checker");
	for (i = 0; i < c->n_series; i++) {
		if (strncmp(c->series[i], line, (size_t)(p - line)) == 0 &&
		    c->series[i][p - line] == '\0')
			return fail_why(c, "duplicate series");
	}
	snprintf(c->series[c->n_series++], 512, "%.*s", (int)(p - line), line);
	if (*p != ' ')
		return fail_why(c, "expected one space before the value");
	return valid_float(p + 1) ? true : fail_why(c, "bad value");
}

/* 0 if every line of text is valid, else the first bad line's number. */
static int
check_exposition(const char *text, char *why, size_t size)
{
	struct checker *c = calloc(1, sizeof(*c));
	char line[1024];
	const char *p = text, *nl;
	int number = 0, bad = 0;

	assert_non_null(c);
	while (bad == 0 && *p != '\0') {
		number++;
		nl = strchr(p, '\n');
		if (nl == NULL || (size_t)(nl - p) >= sizeof(line)) {
			bad = number;
			fail_why(
			    c, nl == NULL ? "no final newline" : "too long");
			break;
		}
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		if (line[0] == '\0' ||
		    !(line[0] == '#' ? check_comment(c, line)
		                     : check_sample(c, line))) {
			if (line[0] == '\0')
				fail_why(c, "empty line");
			bad = number;
		}
		if (c->n_series == CHECK_MAX_SERIES ||
		    c->n_typed == CHECK_MAX_NAMES ||
		    c->n_helped == CHECK_MAX_NAMES)
			fail_msg("checker: too many lines for its tables");
		p = nl + 1;
	}
	snprintf(why, size, "%s", c->why);
	free(c);
	return bad;
}

struct bad_case {
	const char *text;
	int line; /* expected first bad line */
};

static const struct bad_case bad_cases[] = {
	{ "# TYPE a gauge\na 1\n", 0 },
	{ "# HELP a x\n# TYPE a gauge\na{b=\"c\",d=\"e\\\\\\\"\\n\"} -1.5e+3\n",
	    0 },
	{ "# TYPE a gauge\na NaN\n# TYPE b gauge\nb +Inf\n", 0 },
	{ "# TYPE a gauge\na 1", 2 },
	{ "a 1\n", 1 },
	{ "# TYPE a gauge\nb 1\n", 2 },
	{ "# TYPE 1a gauge\n", 1 },
	{ "# TYPE a gauge\n# TYPE a gauge\n", 2 },
	{ "# TYPE a meter\n", 1 },
	{ "# HELP a x\n# HELP a y\n", 2 },
	{ "# TYPE a gauge\na{b=\"c} 1\n", 2 },
	{ "# TYPE a gauge\na{b=\"c\\x\"} 1\n", 2 },
	{ "# TYPE a gauge\na{b=c} 1\n", 2 },
	{ "# TYPE a gauge\na{__b=\"c\"} 1\n", 2 },
	{ "# TYPE a gauge\na{b=\"c\" d=\"e\"} 1\n", 2 },
	{ "# TYPE a gauge\na 1.2.3\n", 2 },
	{ "# TYPE a gauge\na one\n", 2 },
	{ "# TYPE a gauge\na  1\n", 2 },
	{ "# TYPE a gauge\na 1\na 2\n", 3 },
	{ "# TYPE a gauge\na{p=\"x\"} 1\na{p=\"x\"} 2\n", 3 },
	{ "# TYPE a gauge\n\na 1\n", 2 },
	{ "# TYPE a gauge\na 1e\n", 2 },
};

/* The checker must reject what it is for, and only that. */
static void
test_checker_catches_bad_lines(void **state)
{
	char why[160];
	size_t i;
	int got;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		got = check_exposition(bad_cases[i].text, why, sizeof(why));
		if (got != bad_cases[i].line)
			fail_msg("checker on \"%s\": line %d (%s), want %d",
			    bad_cases[i].text, got, why, bad_cases[i].line);
	}
}

/* ---- the metrics ---- */

static void
sample(struct pj_run_report *r, int exit_code)
{
	struct pj_pass_report *p;

	memset(r, 0, sizeof(*r));
	r->command = "repair";
	r->seconds = 12.5;
	r->exit_code = exit_code;
	r->n_passes = 3;
	p = &r->passes[0];
	p->name = "incomplete_consumers";
	p->mode = PJ_MODE_REPAIR;
	p->ran = true;
	p->found = 12;
	p->repaired = 10;
	p->failed = 2;
	p->remaining = 2;
	p->batches = 3;
	p->retries = 4;
	p->conflicts = 1;
	p->certification_failures = 3;
	p->seconds = 1.25;
	p = &r->passes[1];
	p->name = "we\"ird\\na\nme";
	p->mode = PJ_MODE_REPORT;
	p->ran = true;
	p->found = 7;
	p->remaining = 7;
	p = &r->passes[2];
	p->name = "root_provider_ids";
	p->mode = PJ_MODE_REPAIR;
}

static __attribute__((noinline)) char *
format(const struct pj_run_report *r, int64_t finished, int64_t success)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	pj_metrics_format(r, finished, success, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void
want_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, line, n) == 0 && p[n] == '\n')
			return;
	}
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

static const char *const sample_lines[] = {
	"placement_janitor_run_info{command=\"repair\",dry_run=\"false\","
	"version=\"" PJ_VERSION "\"} 1",
	"# TYPE placement_janitor_exit_code gauge",
	"placement_janitor_exit_code 2",
	"placement_janitor_run_duration_seconds 12.500000",
	"placement_janitor_run_stopped_early 0",
	"placement_janitor_last_run_timestamp_seconds 1764138993",
	"placement_janitor_last_success_timestamp_seconds 1764100000",
	"placement_janitor_pass_info{pass=\"incomplete_consumers\","
	"mode=\"repair\"} 1",
	"placement_janitor_pass_info{pass=\"we\\\"ird\\\\na\\nme\","
	"mode=\"report\"} 1",
	"placement_janitor_pass_ran{pass=\"root_provider_ids\"} 0",
	"placement_janitor_pass_found{pass=\"incomplete_consumers\"} 12",
	"placement_janitor_pass_repaired{pass=\"incomplete_consumers\"} 10",
	"placement_janitor_pass_failed{pass=\"incomplete_consumers\"} 2",
	"placement_janitor_pass_remaining{pass=\"we\\\"ird\\\\na\\nme\"} 7",
	"placement_janitor_pass_batches{pass=\"incomplete_consumers\"} 3",
	"placement_janitor_pass_retries{pass=\"incomplete_consumers\"} 4",
	"placement_janitor_pass_conflicts{pass=\"incomplete_consumers\"} 1",
	"placement_janitor_pass_certification_failures"
	"{pass=\"incomplete_consumers\"} 3",
	"placement_janitor_pass_found{pass=\"root_provider_ids\"} 0",
	"placement_janitor_pass_duration_seconds{pass=\"incomplete_consumers\"}"
	" 1.250000",
};

static void
test_format_is_valid_exposition(void **state)
{
	struct pj_run_report r;
	char why[160];
	char *text;
	size_t i;
	int bad;

	(void)state;
	sample(&r, 2);
	text = format(&r, 1764138993, 1764100000);
	bad = check_exposition(text, why, sizeof(why));
	if (bad != 0)
		fail_msg("line %d: %s in:\n%s", bad, why, text);
	for (i = 0; i < sizeof(sample_lines) / sizeof(sample_lines[0]); i++)
		want_line(text, sample_lines[i]);
	free(text);
	/* No passes, no command, stopped early: still valid. */
	memset(&r, 0, sizeof(r));
	r.stopped_by = "signal";
	text = format(&r, 0, 0);
	bad = check_exposition(text, why, sizeof(why));
	if (bad != 0)
		fail_msg("empty report, line %d: %s in:\n%s", bad, why, text);
	want_line(text, "placement_janitor_run_stopped_early 1");
	free(text);
}

/* ---- the file ---- */

static char *
make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = malloc(4096);

	assert_non_null(dir);
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(dir, 4096, "%s/pj-metrics-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	return dir;
}

/* Names in dir, sorted by nothing, joined with spaces. */
static void
list_dir(const char *dir, char *buf, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t used = 0;

	assert_non_null(d);
	buf[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    used ? " " : "", e->d_name);
		assert_true(used < size);
	}
	closedir(d);
}

static void
remove_dir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[8192];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(unlink(path), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = malloc(65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
test_write_replaces_file_with_mode_0644(void **state)
{
	struct pj_error err = { 0 };
	struct pj_run_report r;
	char path[8192], names[256];
	char *dir = make_dir(), *want, *got;
	struct stat st;
	mode_t old_umask;

	(void)state;
	snprintf(path, sizeof(path), "%s/placement_janitor.prom", dir);
	sample(&r, 0);
	old_umask = umask(077);
	assert_int_equal(pj_metrics_write(path, &r, 1000, &err), PJ_OK);
	r.exit_code = 1;
	assert_int_equal(pj_metrics_write(path, &r, 2000, &err), PJ_OK);
	umask(old_umask);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	if ((st.st_mode & 07777) != 0644)
		fail_msg(
		    "mode %04o, want 0644", (unsigned)(st.st_mode & 07777));
	/* Exactly the formatted text; exit 1 counts as a success. */
	want = format(&r, 2000, 2000);
	got = slurp(path);
	assert_string_equal(got, want);
	free(want);
	free(got);
	/* The temporary file is gone: only the target is left. */
	list_dir(dir, names, sizeof(names));
	assert_string_equal(names, "placement_janitor.prom");
	remove_dir(dir);
}

struct success_case {
	int exit_code;
	int64_t finished;
	int64_t last_success; /* expected in the file */
};

/* A run after run, in order, on one file. */
static const struct success_case success_cases[] = {
	{ 2, 100, 0 },    /* never succeeded */
	{ 0, 200, 200 },  /* success */
	{ 2, 300, 200 },  /* failed: kept */
	{ 78, 400, 200 }, /* config error: kept */
	{ 3, 500, 200 },  /* (locked: not to be written, but kept) */
	{ 1, 600, 600 },  /* damage remains: a success */
	{ 69, 700, 600 },
};

static void
test_last_success_survives_failed_runs(void **state)
{
	struct pj_error err = { 0 };
	struct pj_run_report r;
	char path[8192];
	char *dir = make_dir();
	size_t i;
	int64_t got;

	(void)state;
	snprintf(path, sizeof(path), "%s/pj.prom", dir);
	for (i = 0; i < sizeof(success_cases) / sizeof(success_cases[0]); i++) {
		const struct success_case *c = &success_cases[i];

		sample(&r, c->exit_code);
		assert_int_equal(
		    pj_metrics_write(path, &r, c->finished, &err), PJ_OK);
		got = pj_metrics_last_success(path);
		if (got != c->last_success)
			fail_msg(
			    "after exit %d at %lld: last success %lld, "
			    "want %lld",
			    c->exit_code, (long long)c->finished,
			    (long long)got, (long long)c->last_success);
	}
	remove_dir(dir);
}

/* A symlink at the temporary name is never followed nor removed, and the
 * old metrics file is left as it was. */
static void
test_symlink_at_temp_name_is_refused(void **state)
{
	struct pj_error err = { 0 };
	struct pj_run_report r;
	char path[8192], tmp[8300], victim[8192], target[8192];
	char *dir = make_dir(), *before, *after, *text;
	struct stat st;
	ssize_t n;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/pj.prom", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	sample(&r, 0);
	assert_int_equal(pj_metrics_write(path, &r, 1000, &err), PJ_OK);
	before = slurp(path);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(symlink(victim, tmp), 0);
	r.exit_code = 2;
	assert_int_equal(pj_metrics_write(path, &r, 2000, &err), PJ_EIO);
	if (strstr(err.msg, tmp) == NULL)
		fail_msg("message does not name %s: %s", tmp, err.msg);
	text = slurp(victim);
	assert_string_equal(text, "precious\n");
	free(text);
	after = slurp(path);
	assert_string_equal(after, before);
	assert_int_equal(lstat(tmp, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	n = readlink(tmp, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, victim);
	free(before);
	free(after);
	/* A symlinked metrics file is not read for the last success. */
	assert_int_equal(unlink(tmp), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(victim, path), 0);
	f = fopen(victim, "w");
	assert_non_null(f);
	fputs("placement_janitor_last_success_timestamp_seconds 123\n", f);
	fclose(f);
	assert_int_equal(pj_metrics_last_success(path), 0);
	assert_int_equal(pj_metrics_last_success(victim), 123);
	remove_dir(dir);
}

struct path_case {
	const char *path;
	int rc;
};

static const struct path_case path_cases[] = {
	{ "metrics.txt", PJ_EINVAL },
	{ "", PJ_EINVAL },
	{ NULL, PJ_EINVAL },
	{ ".prom", PJ_EINVAL },
	{ "/tmp/.prom", PJ_EINVAL },
	{ "/tmp/x.prom.tmp", PJ_EINVAL },
	{ "/nonexistent-pj-dir/x.prom", PJ_EIO },
};

static void
test_bad_paths(void **state)
{
	struct pj_run_report r;
	size_t i;
	int rc;

	(void)state;
	sample(&r, 0);
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		struct pj_error err = { 0 };

		rc = pj_metrics_write(path_cases[i].path, &r, 1, &err);
		if (rc != path_cases[i].rc)
			fail_msg("\"%s\": rc %d, want %d (%s)",
			    path_cases[i].path ? path_cases[i].path : "(null)",
			    rc, path_cases[i].rc, err.msg);
	}
}

/*
 * A reader that reads the file over and over while it is rewritten
 * sees one whole version or the other, never a mix or a part.
 */
static void
test_reader_never_sees_a_partial_file(void **state)
{
	struct pj_error err = { 0 };
	struct pj_run_report a, b;
	char path[8192];
	char *dir = make_dir(), *text_a, *text_b;
	pid_t reader;
	int status, i;

	(void)state;
	snprintf(path, sizeof(path), "%s/pj.prom", dir);
	sample(&a, 0);
	sample(&b, 0);
	b.n_passes = 1;
	text_a = format(&a, 1000, 1000);
	text_b = format(&b, 2000, 2000);
	assert_int_equal(pj_metrics_write(path, &a, 1000, &err), PJ_OK);
	reader = fork();
	assert_true(reader >= 0);
	if (reader == 0) {
		for (;;) {
			char *got = slurp(path);

			if (strcmp(got, text_a) != 0 &&
			    strcmp(got, text_b) != 0)
				_exit(1);
			free(got);
		}
	}
	for (i = 0; i < 300; i++) {
		assert_int_equal(pj_metrics_write(path, i % 2 ? &a : &b,
		                     i % 2 ? 1000 : 2000, &err),
		    PJ_OK);
	}
	assert_int_equal(kill(reader, SIGKILL), 0);
	assert_int_equal(waitpid(reader, &status, 0), reader);
	if (WIFEXITED(status))
		fail_msg("the reader saw a partial or mixed file");
	free(text_a);
	free(text_b);
	remove_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker_catches_bad_lines),
		cmocka_unit_test(test_format_is_valid_exposition),
		cmocka_unit_test(test_write_replaces_file_with_mode_0644),
		cmocka_unit_test(test_last_success_survives_failed_runs),
		cmocka_unit_test(test_symlink_at_temp_name_is_refused),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_reader_never_sees_a_partial_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
