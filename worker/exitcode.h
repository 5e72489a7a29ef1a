/* The exit codes: documented in --help, the README and the man page, and
 * kept stable forever (cron and monitoring depend on them). The one place
 * that maps statuses and reports to them. */
#ifndef PJ_WORKER_EXITCODE_H
#define PJ_WORKER_EXITCODE_H

#include "worker/report.h"

enum pj_exit {
	PJ_EXIT_CLEAN = 0,
	PJ_EXIT_DAMAGE_REMAINS = 1,
	PJ_EXIT_REPAIRS_FAILED = 2,
	PJ_EXIT_LOCKED = 3,
	PJ_EXIT_USAGE = 64,
	PJ_EXIT_SCHEMA = 65,
	PJ_EXIT_UNREACHABLE = 69,
	PJ_EXIT_INTERNAL = 70,
	PJ_EXIT_ACCESS = 77,
	PJ_EXIT_CONFIG = 78,
};

/* The exit code of a failure that ended a command (status not PJ_OK). */
int pj_exit_for_status(int status);

/* The exit code of a check/repair run: the failure that ended it, else
 * failed repairs (2), else damage remaining or an early stop (1), else 0. */
int pj_exit_for_run(int status, const struct pj_run_report *r);

/* Flushes stdout and returns code, or 70 when the report could not be
 * written (a closed pipe, a full disk): a lost report is never "clean". */
int pj_exit_after_report(int code);

#endif
