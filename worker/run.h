/* The check, repair and run commands. */
#ifndef PJ_WORKER_RUN_H
#define PJ_WORKER_RUN_H

#include "config/config.h"
#include "worker/cli.h"

/*
 * Runs check or repair once, or repair every worker.interval for `run`
 * (reloading the config on SIGHUP; a bad new file is reported and the
 * running config kept), printing a report per round. Writing runs hold
 * the run locks. Returns the exit code (worker/exitcode.h) of the last
 * round. cfg may be replaced by a reload.
 */
int pj_run_command(const struct pj_cli *cli, struct pj_config *cfg);

#endif
