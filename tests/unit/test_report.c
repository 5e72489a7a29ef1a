/* Unit tests for worker/report.c: the JSON contract and the table. */
#include "worker/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "worker/exitcode.h"

#define RUN_ID "4b1f0c2e-8d7a-4c3b-9e2f-0a1b2c3d4e5f"

/* noinline: inlined, GCC 12 -O2 mistakes the memstream's buffer pointer
 * for a dangling one (-Wdangling-pointer). */
static __attribute__((noinline)) char *
render(const struct pj_run_report *r, bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	if (json)
		pj_report_json(r, f);
	else
		pj_report_table(r, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* A repair run: one pass ran and partly failed, one was never reached. */
static void
sample(struct pj_run_report *r)
{
	struct pj_pass_report *p;

	memset(r, 0, sizeof(*r));
	snprintf(r->run_id, sizeof(r->run_id), "%s", RUN_ID);
	r->command = "repair";
	snprintf(r->started_at, sizeof(r->started_at), "2026-11-26T06:16:33Z");
	r->seconds = 1.234;
	r->exit_code = 2;
	r->stopped_by = "max_rows";
	r->n_passes = 2;
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
	p->certification_failures = 2;
	pj_batch_times_add(&p->batch_times, 5000);
	pj_batch_times_add(&p->batch_times, 12000);
	pj_batch_times_add(&p->batch_times, 250000);
	p->batches_over_target = 1;
	p->seconds = 1.234;
	snprintf(p->error, sizeof(p->error), "deadlock \"found\"\nwhen\\x");
	p = &r->passes[1];
	p->name = "root_provider_ids";
	p->mode = PJ_MODE_REPORT;
}

static void
test_json_sample(void **state)
{
	static const char want[] =
	    "{\"schema_version\":1,\"version\":\"" PJ_VERSION
	    "\","
	    "\"run_id\":\"" RUN_ID
	    "\",\"command\":\"repair\","
	    "\"dry_run\":false,\"started_at\":\"2026-11-26T06:16:33Z\","
	    "\"seconds\":1.234,\"exit_code\":2,\"stopped_by\":\"max_rows\","
	    "\"error\":null,\"passes\":["
	    "{\"name\":\"incomplete_consumers\",\"mode\":\"repair\","
	    "\"ran\":true,\"scope\":null,\"found\":12,\"repaired\":10,\"failed\":2,"
	    "\"remaining\":2,\"batches\":3,\"retries\":4,\"conflicts\":1,"
	    "\"certification_failures\":2,"
	    /* p50: the top of 12000's bucket (12288 - 1); p99: the max */
	    "\"batch_ms\":{\"p50\":12.287,\"p99\":250.000,\"max\":250.000},"
	    "\"batches_over_target\":1,\"seconds\":1.234,"
	    "\"error\":\"deadlock \\\"found\\\"\\nwhen\\\\x\"},"
	    "{\"name\":\"root_provider_ids\",\"mode\":\"report\","
	    "\"ran\":false,\"scope\":null,\"found\":0,\"repaired\":0,"
	    "\"failed\":0,\"remaining\":0,\"batches\":0,\"retries\":0,"
	    "\"conflicts\":0,\"certification_failures\":0,"
	    "\"batch_ms\":null,\"batches_over_target\":0,"
	    "\"seconds\":0.000,\"error\":null}],"
	    "\"scope\":null}\n";
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char *got;

	(void)state;
	assert_non_null(r);
	sample(r);
	got = render(r, true);
	assert_string_equal(got, want);
	free(got);
	free(r);
}

static void
test_json_empty(void **state)
{
	static const char want[] =
	    "{\"schema_version\":1,\"version\":\"" PJ_VERSION
	    "\","
	    "\"run_id\":\"\",\"command\":null,\"dry_run\":true,"
	    "\"started_at\":\"\",\"seconds\":0.000,\"exit_code\":70,"
	    "\"stopped_by\":null,\"error\":\"out of memory\",\"passes\":[],"
	    "\"scope\":null}\n";
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char *got;

	(void)state;
	assert_non_null(r);
	r->dry_run = true;
	r->exit_code = 70;
	snprintf(r->error, sizeof(r->error), "out of memory");
	got = render(r, true);
	assert_string_equal(got, want);
	free(got);
	free(r);
}

/* Database error text can hold anything; the document stays valid. */
static void
test_json_hostile_errors(void **state)
{
	static const struct {
		const char *error;
		const char *want; /* the "error" member's JSON value */
	} cases[] = {
		{ "\"},\"exit_code\":0,\"x\":\"",
		    "\"\\\"},\\\"exit_code\\\":0,"
		    "\\\"x\\\":\\\"\"" },
		{ "line\r\nbreak\ttab", "\"line\\r\\nbreak\\ttab\"" },
		{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
		{ "bad \xff\xfe utf-8 \xc3",
		    "\"bad \\ufffd\\ufffd utf-8 \\ufffd\"" },
		{ "name \xe2\x80\xa8 caf\xc3\xa9",
		    "\"name \\u2028 caf\xc3\xa9\"" },
		{ "\\", "\"\\\\\"" },
	};
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char member[600];
	size_t i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got;

		sample(r);
		snprintf(r->error, sizeof(r->error), "%s", cases[i].error);
		snprintf(r->passes[0].error, sizeof(r->passes[0].error), "%s",
		    cases[i].error);
		got = render(r, true);
		snprintf(member, sizeof(member),
		    "\"stopped_by\":\"max_rows\","
		    "\"error\":%s,\"passes\":[",
		    cases[i].want);
		if (strstr(got, member) == NULL)
			fail_msg("case %zu: run error not %s in %s", i,
			    cases[i].want, got);
		snprintf(member, sizeof(member),
		    "\"seconds\":1.234,\"error\":%s},", cases[i].want);
		if (strstr(got, member) == NULL)
			fail_msg("case %zu: pass error not %s in %s", i,
			    cases[i].want, got);
		if (strchr(got, '\n') != got + strlen(got) - 1)
			fail_msg("case %zu: not one line: %s", i, got);
		free(got);
	}
	free(r);
}

static void
test_table_sample(void **state)
{
	static const char want[] =
	    "pass                  mode    found  repaired  failed  remaining"
	    "  seconds\n"
	    "incomplete_consumers  repair     12        10       2          2"
	    "     1.23\n"
	    "root_provider_ids     report      -         -       -          -"
	    "        -\n"
	    "galera: pass incomplete_consumers: 2 certification failures,"
	    " redone\n"
	    "error: pass incomplete_consumers: deadlock \"found\"?when\\x\n"
	    "error: run ??\n"
	    "run " RUN_ID
	    " repair finished in 1.23 s: exit 2 "
	    "(error, stopped by max_rows, some repairs failed, "
	    "damage remains)\n";
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char *got;

	(void)state;
	assert_non_null(r);
	sample(r);
	snprintf(r->error, sizeof(r->error), "run \x01\x7f");
	got = render(r, false);
	assert_string_equal(got, want);
	free(got);
	free(r);
}

/* The last line says how the run ended, from the counts. */
static void
test_table_outcome(void **state)
{
	static const struct {
		const char *command;
		bool dry_run;
		const char *stopped_by;
		size_t failed, remaining;
		const char *error;
		int exit_code;
		const char *want;
	} cases[] = {
		{ "check", true, NULL, 0, 0, "", 0,
		    "check finished in 0.50 s: exit 0 (clean)\n" },
		{ "check", true, NULL, 0, 3, "", 1,
		    "check finished in 0.50 s: exit 1 (damage remains)\n" },
		{ "repair", true, NULL, 0, 3, "", 1,
		    "repair --dry-run finished in 0.50 s: exit 1 "
		    "(damage remains)\n" },
		{ "repair", false, "signal", 0, 0, "", 1,
		    "repair finished in 0.50 s: exit 1 (stopped by signal)\n" },
		{ "run", false, NULL, 1, 1, "", 2,
		    "run finished in 0.50 s: exit 2 (some repairs failed, "
		    "damage remains)\n" },
		{ "repair", false, NULL, 0, 0, "lost connection", 69,
		    "repair finished in 0.50 s: exit 69 (error)\n" },
		{ NULL, false, NULL, 0, 0, "", 70,
		    "? finished in 0.50 s: exit 70 (clean)\n" },
	};
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char want[256];
	size_t i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got, *last;

		memset(r, 0, sizeof(*r));
		snprintf(r->run_id, sizeof(r->run_id), "%s", RUN_ID);
		r->command = cases[i].command;
		r->dry_run = cases[i].dry_run;
		r->stopped_by = cases[i].stopped_by;
		r->seconds = 0.5;
		r->exit_code = cases[i].exit_code;
		snprintf(r->error, sizeof(r->error), "%s", cases[i].error);
		r->n_passes = 1;
		r->passes[0].name = "incomplete_consumers";
		r->passes[0].mode = PJ_MODE_REPAIR;
		r->passes[0].ran = true;
		r->passes[0].failed = cases[i].failed;
		r->passes[0].remaining = cases[i].remaining;
		got = render(r, false);
		snprintf(
		    want, sizeof(want), "run " RUN_ID " %s", cases[i].want);
		last = strstr(got, "\nrun ");
		if (last == NULL || strcmp(last + 1, want) != 0)
			fail_msg("case %zu: got %s want %s", i, got, want);
		if (cases[i].error[0] != '\0' &&
		    strstr(got, "\nerror: lost connection\n") == NULL)
			fail_msg("case %zu: no error line in %s", i, got);
		free(got);
	}
	free(r);
}

/* A scoped run: its entries, the one not found, a pass that is n/a. */
static void
test_scope(void **state)
{
	static const char *const table_lines[] = {
		"root_provider_ids     report    n/a       n/a     n/a        n/a"
		"        -\n",
		"scope: provider a1\n",
		"scope: consumer ffff not found\n",
		"scope: n/a: the pass cannot find rows",
		"exit 1 (scope uuid not found)\n",
	};
	static const char *const json_parts[] = {
		"\"ran\":true,\"scope\":\"providers\",",
		"\"ran\":false,\"scope\":\"not_applicable\",",
		"\"scope\":{\"providers\":[\"a1\"],\"consumers\":[\"ffff\"],"
		"\"not_found\":{\"providers\":[],\"consumers\":[\"ffff\"]}}}\n",
	};
	struct pj_run_report *r = calloc(1, sizeof(*r));
	char *got;
	size_t i;

	(void)state;
	assert_non_null(r);
	sample(r);
	r->stopped_by = NULL;
	r->passes[0].failed = 0;
	r->passes[0].remaining = 0;
	r->passes[0].error[0] = '\0';
	r->passes[0].scope = "providers";
	r->passes[1].scope = "not_applicable";
	r->n_scope = 2;
	snprintf(r->scope[0].uuid, sizeof(r->scope[0].uuid), "a1");
	r->scope[0].found = true;
	snprintf(r->scope[1].uuid, sizeof(r->scope[1].uuid), "ffff");
	r->scope[1].consumer = true;
	assert_int_equal(pj_report_scope_missing(r), 1);
	/* Not found: what was asked for was not checked, never exit 0. */
	r->exit_code = pj_exit_for_run(PJ_OK, r);
	assert_int_equal(r->exit_code, 1);
	got = render(r, false);
	for (i = 0; i < sizeof(table_lines) / sizeof(table_lines[0]); i++) {
		if (strstr(got, table_lines[i]) == NULL)
			fail_msg("table lacks \"%s\": %s", table_lines[i], got);
	}
	free(got);
	got = render(r, true);
	for (i = 0; i < sizeof(json_parts) / sizeof(json_parts[0]); i++) {
		if (strstr(got, json_parts[i]) == NULL)
			fail_msg("json lacks %s: %s", json_parts[i], got);
	}
	free(got);
	r->scope[1].found = true;
	assert_int_equal(pj_exit_for_run(PJ_OK, r), 0);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_sample),
		cmocka_unit_test(test_json_empty),
		cmocka_unit_test(test_json_hostile_errors),
		cmocka_unit_test(test_table_sample),
		cmocka_unit_test(test_table_outcome),
		cmocka_unit_test(test_scope),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
