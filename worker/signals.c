/* The only state a signal handler touches (hence the two file globals). */
#include "worker/signals.h"

#include <string.h>

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
on_reload(int sig)
{
	(void)sig;
	reload_requested = 1;
}

void
pj_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	/* The first stop signal is ours; SA_RESETHAND makes the second
	 * one fatal, and the server rolls back the open transaction when
	 * the connection drops: never a half-done batch. */
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_reload;
	sa.sa_flags = 0;
	sigaction(SIGHUP, &sa, NULL);
}

volatile sig_atomic_t *
pj_signals_stop_flag(void)
{
	return &stop_requested;
}

bool
pj_signals_take_reload(void)
{
	if (!reload_requested)
		return false;
	reload_requested = 0;
	return true;
}
