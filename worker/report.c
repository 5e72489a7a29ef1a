/* The run report: a table for people, one JSON document for programs. */
#include "worker/report.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"

#define N_COLUMNS 7
#define CELL_SIZE 32

static const char *const headers[N_COLUMNS] = { "pass", "mode", "found",
	"repaired", "failed", "remaining", "seconds" };

static bool
not_applicable(const struct pj_pass_report *p)
{
	return p->scope != NULL && strcmp(p->scope, "not_applicable") == 0;
}

size_t
pj_report_scope_missing(const struct pj_run_report *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->n_scope && i < PJ_MAX_SCOPE; i++)
		n += !r->scope[i].found;
	return n;
}

/* A pass's row as text; counts are "-" for a pass that did not run, "n/a"
 * for one the scope does not apply to. */
static void
pass_cells(const struct pj_pass_report *p, char cells[N_COLUMNS][CELL_SIZE])
{
	const size_t counts[] = { p->found, p->repaired, p->failed,
		p->remaining };
	size_t i;

	snprintf(cells[0], CELL_SIZE, "%s", p->name != NULL ? p->name : "?");
	snprintf(cells[1], CELL_SIZE, "%s", pj_cfg_mode_name(p->mode));
	for (i = 0; i < 4; i++) {
		if (p->ran)
			snprintf(cells[2 + i], CELL_SIZE, "%zu", counts[i]);
		else
			snprintf(cells[2 + i], CELL_SIZE, "%s",
			    not_applicable(p) ? "n/a" : "-");
	}
	if (p->ran)
		snprintf(cells[6], CELL_SIZE, "%.2f", p->seconds);
	else
		snprintf(cells[6], CELL_SIZE, "-");
}

/* Text columns are left-aligned, numbers right-aligned. */
static void
print_row(
    FILE *out, const char *const cells[N_COLUMNS], const int width[N_COLUMNS])
{
	int i;

	for (i = 0; i < N_COLUMNS; i++) {
		if (i > 0)
			fputs("  ", out);
		if (i < 2)
			fprintf(out, "%-*s", width[i], cells[i]);
		else
			fprintf(out, "%*s", width[i], cells[i]);
	}
	fputc('\n', out);
}

/* Error text from the database may hold anything: keep it on one line. */
static void
print_error(FILE *out, const char *pass, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;

	fputs("error: ", out);
	if (pass != NULL)
		fprintf(out, "pass %s: ", pass);
	for (; *s != '\0'; s++)
		fputc(*s < 0x20 || *s == 0x7f ? '?' : *s, out);
	fputc('\n', out);
}

static void
append(char *buf, size_t size, const char *part)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "", part);
}

/* How the run ended, from its counts: the words after the exit code. */
static void
outcome(const struct pj_run_report *r, char *buf, size_t size)
{
	bool failed = false, remains = false;
	char stopped[64];
	size_t i;

	for (i = 0; i < r->n_passes && i < PJ_MAX_PASSES; i++) {
		failed = failed || r->passes[i].failed > 0;
		remains = remains || r->passes[i].remaining > 0;
	}
	buf[0] = '\0';
	if (r->error[0] != '\0')
		append(buf, size, "error");
	if (r->stopped_by != NULL) {
		snprintf(
		    stopped, sizeof(stopped), "stopped by %s", r->stopped_by);
		append(buf, size, stopped);
	}
	if (pj_report_scope_missing(r) > 0)
		append(buf, size, "scope uuid not found");
	if (failed)
		append(buf, size, "some repairs failed");
	if (remains)
		append(buf, size, "damage remains");
	if (buf[0] == '\0')
		append(buf, size, "clean");
}

/* The scope's entries, one line each, and what n/a means. */
static void
scope_lines(const struct pj_run_report *r, FILE *out)
{
	size_t i;
	bool na = false;

	for (i = 0; i < r->n_scope && i < PJ_MAX_SCOPE; i++)
		fprintf(out, "scope: %s %s%s\n",
		    r->scope[i].consumer ? "consumer" : "provider",
		    r->scope[i].uuid, r->scope[i].found ? "" : " not found");
	for (i = 0; i < r->n_passes && i < PJ_MAX_PASSES; i++)
		na = na || not_applicable(&r->passes[i]);
	if (na)
		fputs(
		    "scope: n/a: the pass cannot find rows of the providers "
		    "or consumers given (run it without --provider and "
		    "--consumer)\n",
		    out);
}

void
pj_report_table(const struct pj_run_report *r, FILE *out)
{
	char cells[PJ_MAX_PASSES][N_COLUMNS][CELL_SIZE], how[128];
	const char *command = r->command != NULL ? r->command : "?";
	const char *dry_run = "";
	const char *row[N_COLUMNS];
	int width[N_COLUMNS];
	size_t n = r->n_passes < PJ_MAX_PASSES ? r->n_passes : PJ_MAX_PASSES;
	size_t i;
	int c;

	for (c = 0; c < N_COLUMNS; c++)
		width[c] = (int)strlen(headers[c]);
	for (i = 0; i < n; i++) {
		pass_cells(&r->passes[i], cells[i]);
		for (c = 0; c < N_COLUMNS; c++) {
			if ((int)strlen(cells[i][c]) > width[c])
				width[c] = (int)strlen(cells[i][c]);
		}
	}
	print_row(out, headers, width);
	for (i = 0; i < n; i++) {
		for (c = 0; c < N_COLUMNS; c++)
			row[c] = cells[i][c];
		print_row(out, row, width);
	}
	/* Galera only: other nodes' writes won, the batches were redone. */
	for (i = 0; i < n; i++) {
		if (r->passes[i].certification_failures > 0)
			fprintf(out,
			    "galera: pass %s: %zu certification failure%s, "
			    "redone\n",
			    cells[i][0], r->passes[i].certification_failures,
			    r->passes[i].certification_failures == 1 ? ""
			                                             : "s");
	}
	for (i = 0; i < n; i++) {
		if (r->passes[i].error[0] != '\0')
			print_error(out, cells[i][0], r->passes[i].error);
	}
	if (r->error[0] != '\0')
		print_error(out, NULL, r->error);
	scope_lines(r, out);
	/* check never writes: saying so there would only be noise. */
	if (r->dry_run && strcmp(command, "check") != 0)
		dry_run = " --dry-run";
	outcome(r, how, sizeof(how));
	fprintf(out, "run %s %s%s finished in %.2f s: exit %d (%s)\n",
	    r->run_id, command, dry_run, r->seconds, r->exit_code, how);
}

/* "" means none: null in JSON. */
static void
string_or_null(struct pj_json *j, const char *key, const char *s)
{
	pj_json_key(j, key);
	pj_json_string(j, s != NULL && s[0] != '\0' ? s : NULL);
}

static void
count(struct pj_json *j, const char *key, size_t v)
{
	pj_json_key(j, key);
	pj_json_uint(j, v);
}

static void
milliseconds(struct pj_json *j, const char *key, int64_t us)
{
	pj_json_key(j, key);
	pj_json_double(j, (double)us / 1000.0);
}

/* null before the first committed batch, else {p50, p99, max}. */
static void
batch_ms_json(struct pj_json *j, const struct pj_batch_times *t)
{
	pj_json_key(j, "batch_ms");
	if (t->n == 0) {
		pj_json_null(j);
		return;
	}
	pj_json_object_begin(j);
	milliseconds(j, "p50", pj_batch_times_quantile(t, 0.50));
	milliseconds(j, "p99", pj_batch_times_quantile(t, 0.99));
	milliseconds(j, "max", t->max_us);
	pj_json_object_end(j);
}

static void
pass_json(struct pj_json *j, const struct pj_pass_report *p)
{
	pj_json_object_begin(j);
	pj_json_key(j, "name");
	pj_json_string(j, p->name);
	pj_json_key(j, "mode");
	pj_json_string(j, pj_cfg_mode_name(p->mode));
	pj_json_key(j, "ran");
	pj_json_bool(j, p->ran);
	string_or_null(j, "scope", p->scope);
	count(j, "found", p->found);
	count(j, "repaired", p->repaired);
	count(j, "failed", p->failed);
	count(j, "remaining", p->remaining);
	count(j, "batches", p->batches);
	count(j, "retries", p->retries);
	count(j, "conflicts", p->conflicts);
	count(j, "certification_failures", p->certification_failures);
	batch_ms_json(j, &p->batch_times);
	count(j, "batches_over_target", p->batches_over_target);
	pj_json_key(j, "seconds");
	pj_json_double(j, p->seconds);
	string_or_null(j, "error", p->error);
	pj_json_object_end(j);
}

/* The uuids of one kind of entry, found or not, as given. */
static void
scope_list(struct pj_json *j, const char *key, const struct pj_run_report *r,
    bool consumer, bool only_missing)
{
	size_t i;

	pj_json_key(j, key);
	pj_json_array_begin(j);
	for (i = 0; i < r->n_scope && i < PJ_MAX_SCOPE; i++) {
		if (r->scope[i].consumer == consumer &&
		    (!only_missing || !r->scope[i].found))
			pj_json_string(j, r->scope[i].uuid);
	}
	pj_json_array_end(j);
}

/* null, or {providers, consumers, not_found: {providers, consumers}}. */
static void
scope_json(struct pj_json *j, const struct pj_run_report *r)
{
	pj_json_key(j, "scope");
	if (r->n_scope == 0) {
		pj_json_null(j);
		return;
	}
	pj_json_object_begin(j);
	scope_list(j, "providers", r, false, false);
	scope_list(j, "consumers", r, true, false);
	pj_json_key(j, "not_found");
	pj_json_object_begin(j);
	scope_list(j, "providers", r, false, true);
	scope_list(j, "consumers", r, true, true);
	pj_json_object_end(j);
	pj_json_object_end(j);
}

void
pj_report_json(const struct pj_run_report *r, FILE *out)
{
	size_t n = r->n_passes < PJ_MAX_PASSES ? r->n_passes : PJ_MAX_PASSES;
	struct pj_json j;
	size_t i;

	pj_json_init(&j, out);
	pj_json_object_begin(&j);
	pj_json_key(&j, "schema_version");
	pj_json_int(&j, PJ_REPORT_SCHEMA_VERSION);
	pj_json_key(&j, "version");
	pj_json_string(&j, PJ_VERSION);
	pj_json_key(&j, "run_id");
	pj_json_string(&j, r->run_id);
	pj_json_key(&j, "command");
	pj_json_string(&j, r->command);
	pj_json_key(&j, "dry_run");
	pj_json_bool(&j, r->dry_run);
	pj_json_key(&j, "started_at");
	pj_json_string(&j, r->started_at);
	pj_json_key(&j, "seconds");
	pj_json_double(&j, r->seconds);
	pj_json_key(&j, "exit_code");
	pj_json_int(&j, r->exit_code);
	string_or_null(&j, "stopped_by", r->stopped_by);
	string_or_null(&j, "error", r->error);
	pj_json_key(&j, "passes");
	pj_json_array_begin(&j);
	for (i = 0; i < n; i++)
		pass_json(&j, &r->passes[i]);
	pj_json_array_end(&j);
	scope_json(&j, r);
	pj_json_object_end(&j);
	fputc('\n', out);
}
