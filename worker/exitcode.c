/* Statuses and run reports to the documented exit codes. */
#include "worker/exitcode.h"

#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"

int
pj_exit_for_status(int status)
{
	switch (status) {
	case PJ_OK:
		return PJ_EXIT_CLEAN;
	case PJ_ELOCKED:
		return PJ_EXIT_LOCKED;
	case PJ_ESCHEMA:
		return PJ_EXIT_SCHEMA;
	case PJ_ECONN:
		return PJ_EXIT_UNREACHABLE;
	case PJ_EACCESS:
		return PJ_EXIT_ACCESS;
	case PJ_ECONFIG:
		return PJ_EXIT_CONFIG;
	default:
		return PJ_EXIT_INTERNAL;
	}
}

int
pj_exit_for_run(int status, const struct pj_run_report *r)
{
	/* A scope uuid not found: what was asked for was not checked. */
	bool failed = false,
	     remains = r->stopped_by != NULL || pj_report_scope_missing(r) > 0;
	size_t i;

	if (status != PJ_OK)
		return pj_exit_for_status(status);
	for (i = 0; i < r->n_passes; i++) {
		failed = failed || r->passes[i].failed > 0;
		remains = remains || r->passes[i].remaining > 0;
	}
	if (failed)
		return PJ_EXIT_REPAIRS_FAILED;
	return remains ? PJ_EXIT_DAMAGE_REMAINS : PJ_EXIT_CLEAN;
}

int
pj_exit_after_report(int code)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return code;
	fputs("placement-janitor: could not write the report to stdout\n",
	    stderr);
	return code == PJ_EXIT_CLEAN ? PJ_EXIT_INTERNAL : code;
}
