/* --provider and --consumer: the scope entries, looked up once a run. */
#ifndef PJ_WORKER_SCOPE_H
#define PJ_WORKER_SCOPE_H

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"
#include "worker/pass.h"
#include "worker/report.h"

/*
 * Looks up every entry of r->scope on db: found, the provider's id, the
 * consumer's id as the database spells it (its consumers row, else its
 * allocations: an incomplete consumer exists too), and which entries name
 * the same row as an earlier one. An entry not found is logged and left
 * for the report. Fails only on a database error (err set).
 */
int pj_scope_resolve(struct pj_db *db, struct pj_run_report *r,
    struct pj_error *err) PJ_MUSTCHECK;

/* The ctx->scope of entry e (which must be found). */
struct pj_scope pj_scope_of(const struct pj_scope_entry *e);

/*
 * A pass's report "scope": NULL for an unscoped run, else the kinds of
 * the run's entries it applies to, or "not_applicable" for none.
 */
const char *pj_scope_pass_name(
    const struct pj_run_report *r, const struct pj_pass *pass);

#endif
