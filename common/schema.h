/* Checks that the connected database is a Placement schema this worker
 * can work on: every table and column it uses, and the Alembic version. */
#ifndef PJ_COMMON_SCHEMA_H
#define PJ_COMMON_SCHEMA_H

#include <stddef.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"

/*
 * A batch's keys bound as one JSON array parameter (pj_batch_json), as rows
 * j.id, j.id2, j.k (the text key) and j.generation: a pass locks, re-checks
 * and repairs exactly its keys with a few set-based statements joined to
 * it, not a key range nor one round trip per key. The text is utf8mb3, the
 * charset of Placement's id columns, so joins probe their indexes;
 * pj_schema_verify checks that the collations agree.
 */
#define PJ_SQL_BATCH_KEYS \
	" JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT PATH '$.id'," \
	" id2 BIGINT PATH '$.id2'," \
	" k VARCHAR(255) CHARACTER SET utf8mb3 PATH '$.text'," \
	" generation BIGINT PATH '$.generation')) j"

/*
 * Checks, in the current database of db, that every table and column of
 * the Placement schema exists, then copies alembic_version.version_num
 * into alembic (size bytes). PJ_ESCHEMA names what is missing ("table
 * consumers is missing", "column consumers.generation is missing"; with
 * several, the first few and a count), that the id columns joined to
 * PJ_SQL_BATCH_KEYS compare in its collation, or says alembic_version has
 * no row;
 * PJ_EINVAL if alembic is too small; database errors as pj_stmt_exec.
 * alembic is untouched on failure.
 */
int pj_schema_verify(struct pj_db *db, char *alembic, size_t size,
    struct pj_error *err) PJ_MUSTCHECK;

#endif
