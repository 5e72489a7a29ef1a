/* The least-privilege GRANT statements for the configured account. */
#ifndef PJ_WORKER_GRANTS_H
#define PJ_WORKER_GRANTS_H

#include <stdio.h>

#include "config/config.h"

/*
 * Writes GRANTs for cfg's user on cfg's database: SELECT on the schema,
 * plus each write privilege that a pass in repair mode needs, table by
 * table. Text for the operator to run; the worker never executes it.
 */
void pj_grants_print(const struct pj_config *cfg, FILE *out);

#endif
