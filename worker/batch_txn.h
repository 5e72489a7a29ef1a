/*
 * One batch as one transaction, redone on a retryable failure: the loop
 * restore and archive purge share (the engine has its own for passes).
 */
#ifndef PJ_WORKER_BATCH_TXN_H
#define PJ_WORKER_BATCH_TXN_H

#include <stdbool.h>
#include <stddef.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"
#include "config/config.h"

/*
 * Runs work(arg, err) as one transaction: BEGIN, work, COMMIT. A
 * retryable failure (deadlock, lock wait, lost connection, generation
 * conflict) rolls back and redoes it after a jittered backoff, reconnecting
 * first when the connection is gone (until worker.reconnect_deadline), at
 * most worker.retries times; *retries counts the redos. work starts from
 * scratch on every attempt. Returns the last attempt's status, rolled
 * back unless PJ_OK.
 */
int pj_batch_transaction(struct pj_db *db, const struct pj_config *cfg,
    int (*work)(void *arg, struct pj_error *err), void *arg, size_t *retries,
    struct pj_error *err) PJ_MUSTCHECK;

/* True for a failure after which no later batch can succeed. */
bool pj_batch_fatal(int status);

#endif
