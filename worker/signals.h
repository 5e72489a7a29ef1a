/* Signals: SIGINT/SIGTERM ask the run to stop after the current batch (a
 * second one ends the process at once), SIGHUP asks `run` to reload its
 * config between rounds. */
#ifndef PJ_WORKER_SIGNALS_H
#define PJ_WORKER_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* Installs the handlers (no SA_RESTART, so sleeps end early). */
void pj_signals_install(void);
/* The flag the engine polls: set once SIGINT or SIGTERM arrived. */
volatile sig_atomic_t *pj_signals_stop_flag(void);
/* True once after each SIGHUP. */
bool pj_signals_take_reload(void);

#endif
