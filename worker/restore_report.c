/* The restore report: a table for people, one JSON document for programs. */
#include "worker/restore.h"

#include <stdio.h>
#include <string.h>

#include "common/json.h"

/* Error text from the database may hold anything: keep it on one line. */
static void
print_one_line(FILE *out, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;

	for (; *s != '\0'; s++)
		fputc(*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

static size_t
sum(const struct pj_restore_report *r, size_t offset)
{
	size_t i, total = 0;

	for (i = 0; i < PJ_RESTORE_STEPS; i++)
		total += *(const size_t *)((const char *)&r->steps[i] + offset);
	return total;
}

#define SUM(r, field) sum(r, offsetof(struct pj_restore_step, field))

/* How it ended, in words, after the exit code. */
static const char *
outcome(const struct pj_restore_report *r)
{
	if (r->error[0] != '\0' && SUM(r, failed) == 0)
		return "error";
	if (r->archived == 0)
		return "nothing archived for this run";
	if (SUM(r, failed) > 0)
		return "some batches failed";
	if (r->stopped)
		return "stopped by signal";
	if (r->remaining > 0)
		return r->dry_run ? "some rows would not be restored"
		                  : "some rows could not be restored";
	return r->dry_run ? "every row would be restored"
	                  : "every row restored";
}

void
pj_restore_report_table(const struct pj_restore_report *r, FILE *out)
{
	const struct pj_restore_step *s;
	size_t i;

	fprintf(out, "%-28s  %-6s  %7s  %8s  %9s  %7s  %6s  %6s\n", "table",
	    "action", "found", "restored", "key_taken", "changed", "failed",
	    "bumped");
	for (i = 0; i < PJ_RESTORE_STEPS; i++) {
		s = &r->steps[i];
		fprintf(out,
		    "%-28s  %-6s  %7zu  %8zu  %9zu  %7zu  %6zu  %6zu\n",
		    s->table != NULL ? s->table : "?",
		    s->action != NULL ? s->action : "?", s->found, s->restored,
		    s->key_taken, s->changed, s->failed, s->bumped);
	}
	if (r->error[0] != '\0') {
		fputs("error: ", out);
		print_one_line(out, r->error);
		fputc('\n', out);
	}
	if (r->other > 0)
		fprintf(out,
		    "%zu archived rows of a table or action restore does not "
		    "take\n",
		    r->other);
	fprintf(out, "restore %s of run %s (%s%s)%s: archived %zu, ", r->run_id,
	    r->target, r->pass != NULL ? "pass " : "all passes",
	    r->pass != NULL ? r->pass : "", r->dry_run ? " --dry-run" : "",
	    r->archived);
	fprintf(out,
	    "restored before %zu, %s %zu, not restored %zu; "
	    "%.2f s: exit %d (%s)\n",
	    r->already, r->dry_run ? "would restore" : "restored now",
	    SUM(r, restored), r->remaining, r->seconds, r->exit_code,
	    outcome(r));
}

static void
string_or_null(struct pj_json *j, const char *key, const char *s)
{
	pj_json_key(j, key);
	if (s != NULL && s[0] != '\0')
		pj_json_string(j, s);
	else
		pj_json_null(j);
}

static void
count(struct pj_json *j, const char *key, size_t v)
{
	pj_json_key(j, key);
	pj_json_uint(j, v);
}

static void
step_json(struct pj_json *j, const struct pj_restore_step *s)
{
	pj_json_object_begin(j);
	string_or_null(j, "table", s->table);
	string_or_null(j, "action", s->action);
	count(j, "found", s->found);
	count(j, "restored", s->restored);
	count(j, "key_taken", s->key_taken);
	count(j, "changed_since", s->changed);
	count(j, "failed", s->failed);
	count(j, "generations_bumped", s->bumped);
	count(j, "batches", s->batches);
	count(j, "retries", s->retries);
	pj_json_object_end(j);
}

void
pj_restore_report_json(const struct pj_restore_report *r, FILE *out)
{
	struct pj_json j;
	size_t i;

	pj_json_init(&j, out);
	pj_json_object_begin(&j);
	pj_json_key(&j, "schema_version");
	pj_json_int(&j, PJ_RESTORE_SCHEMA_VERSION);
	string_or_null(&j, "version", PJ_VERSION);
	string_or_null(&j, "command", "restore");
	string_or_null(&j, "run_id", r->run_id);
	string_or_null(&j, "target_run_id", r->target);
	string_or_null(&j, "pass", r->pass);
	pj_json_key(&j, "dry_run");
	pj_json_bool(&j, r->dry_run);
	string_or_null(&j, "started_at", r->started_at);
	pj_json_key(&j, "seconds");
	pj_json_double(&j, r->seconds);
	pj_json_key(&j, "exit_code");
	pj_json_int(&j, r->exit_code);
	string_or_null(&j, "stopped_by", r->stopped ? "signal" : NULL);
	string_or_null(&j, "error", r->error);
	count(&j, "archived", r->archived);
	count(&j, "already_restored", r->already);
	count(&j, "restored", SUM(r, restored));
	count(&j, "key_taken", SUM(r, key_taken));
	count(&j, "changed_since", SUM(r, changed));
	count(&j, "failed", SUM(r, failed));
	count(&j, "other", r->other);
	count(&j, "remaining", r->remaining);
	count(&j, "generations_bumped", SUM(r, bumped));
	pj_json_key(&j, "steps");
	pj_json_array_begin(&j);
	for (i = 0; i < PJ_RESTORE_STEPS; i++)
		step_json(&j, &r->steps[i]);
	pj_json_array_end(&j);
	pj_json_object_end(&j);
	fputc('\n', out);
}
