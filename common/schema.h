/* Checks that the connected database is a Placement schema this worker
 * can work on: every table and column it uses, and the Alembic version. */
#ifndef PJ_COMMON_SCHEMA_H
#define PJ_COMMON_SCHEMA_H

#include <stddef.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"

/*
 * Checks, in the current database of db, that every table and column of
 * the Placement schema exists, then copies alembic_version.version_num
 * into alembic (size bytes). PJ_ESCHEMA names what is missing ("table
 * consumers is missing", "column consumers.generation is missing"; with
 * several, the first few and a count) or says alembic_version has no row;
 * PJ_EINVAL if alembic is too small; database errors as pj_stmt_exec.
 * alembic is untouched on failure.
 */
int pj_schema_verify(struct pj_db *db, char *alembic, size_t size,
    struct pj_error *err) PJ_MUSTCHECK;

#endif
