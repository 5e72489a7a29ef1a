/*
 * Replication awareness: repairs wait while a watched replica lags or the
 * Galera node is under flow control, and a Galera node that is not synced
 * gets no writes. The engine asks before every repair batch.
 */
#ifndef PJ_WORKER_THROTTLE_H
#define PJ_WORKER_THROTTLE_H

#include <signal.h>
#include <stdint.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"
#include "config/config.h"

struct pj_throttle;

/* How pj_throttle_wait ended. */
enum pj_throttle_verdict {
	PJ_THROTTLE_GO,       /* nothing holds writes back now */
	PJ_THROTTLE_STOPPED,  /* the stop flag was set while paused */
	PJ_THROTTLE_DEADLINE, /* the caller's deadline passed while paused */
	PJ_THROTTLE_GAVE_UP,  /* paused longer than replication.max_pause */
};

/*
 * A throttle for one writing run under cfg, whose replication and
 * database settings it copies (replica connections use the database
 * account, password source and TLS settings). Connects nothing yet.
 * Free with pj_throttle_close.
 */
int pj_throttle_open(const struct pj_config *cfg, struct pj_throttle **out,
    struct pj_error *err) PJ_MUSTCHECK;
/* Closes the replica connections and frees t; NULL is allowed. */
void pj_throttle_close(struct pj_throttle *t);

/*
 * After every connect and reconnect of db, before it writes: learns
 * whether db is a Galera node (wsrep_on) and, if so, refuses a node that
 * is not wsrep_ready and Synced with PJ_ECONN, as if the connection were
 * lost (the caller reconnects until its deadline, then gives up: exit 69).
 * On a server without wsrep nothing is asked again until the next call.
 */
int pj_throttle_check_node(
    struct pj_throttle *t, struct pj_db *db, struct pj_error *err) PJ_MUSTCHECK;

/*
 * Before a repair batch. Returns at once, without a query, while the last
 * check that found nothing is younger than replication.check_interval, and
 * when there is neither a replica to watch nor a Galera node. Otherwise
 * checks every replica's lag and (on Galera) db's state, receive queue and
 * flow control; while something holds, waits in steps of at most 200 ms,
 * checking again every check_interval, until it clears, *stop is set,
 * deadline_ms (monotonic, 0: none) passes or the pause outlasts
 * replication.max_pause; *verdict says which. A replica that cannot be
 * reached or read holds like a lagging one; a Galera node that is no
 * longer Synced fails with PJ_ECONN, as in pj_throttle_check_node. Fails with
 * PJ_EACCESS or PJ_ECONFIG when a replica refuses the account or its TLS
 * settings (no wait can fix those), and with db's own errors (PJ_ECONN:
 * reconnect, check the node, wait again).
 */
int pj_throttle_wait(struct pj_throttle *t, struct pj_db *db,
    const volatile sig_atomic_t *stop, int64_t deadline_ms,
    enum pj_throttle_verdict *verdict, struct pj_error *err) PJ_MUSTCHECK;

#endif
