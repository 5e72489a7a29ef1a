/*
 * The configured "incomplete" project and user rows
 * (placement.incomplete_project_id / incomplete_user_id), which Placement
 * itself gives to consumers it cannot attribute (create_incomplete_consumers).
 * Passes point consumers at them.
 */
#ifndef PJ_WORKER_SENTINELS_H
#define PJ_WORKER_SENTINELS_H

#include <stdint.h>

#include "common/attr.h"
#include "common/error.h"
#include "worker/pass.h"

/*
 * Inside the caller's transaction: the row ids of the incomplete project
 * and user, each inserted when missing. A duplicate key on insert means
 * someone else (another worker, the Placement API) made the row meanwhile:
 * it is read back with a locking read, which sees it. On failure the
 * outputs are untouched and err says why (PJ_EDB, PJ_ERETRY, PJ_ECONN).
 */
int pj_sentinels_ensure(struct pj_ctx *ctx, int64_t *project_id,
    int64_t *user_id, struct pj_error *err) PJ_MUSTCHECK;

#endif
