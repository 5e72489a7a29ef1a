/* The incomplete project and user rows: found, or made once. */
#include "worker/sentinels.h"

#include <stdbool.h>
#include <stddef.h>

#include "common/db.h"

/* MySQL/MariaDB error number for a duplicate key. */
#define ER_DUP_ENTRY_NUMBER 1062

/* A locking read: it sees rows committed by others after our snapshot. */
static const char SQL_PROJECT_GET[] =
    "SELECT id FROM projects WHERE external_id = ? LOCK IN SHARE MODE";
static const char SQL_PROJECT_ADD[] =
    "INSERT INTO projects (external_id, created_at)"
    " VALUES (?, UTC_TIMESTAMP())";
static const char SQL_USER_GET[] =
    "SELECT id FROM users WHERE external_id = ? LOCK IN SHARE MODE";
static const char SQL_USER_ADD[] =
    "INSERT INTO users (external_id, created_at) VALUES (?, UTC_TIMESTAMP())";

/*
 * The id of the row whose external_id is external_id, made with add if
 * missing. A duplicate key means another worker or the Placement API made
 * it meanwhile: read that one back (get is a locking read, so it sees it).
 */
static int
ensure_external(struct pj_stmt *get, struct pj_stmt *add,
    const char *external_id, int64_t *id, struct pj_error *err)
{
	struct pj_param p = PJ_TEXT(external_id);
	unsigned int attempt;
	bool row = false;
	int rc = PJ_OK;

	for (attempt = 0; rc == PJ_OK && attempt < 2; attempt++) {
		rc = pj_stmt_exec(get, &p, 1, err);
		if (rc == PJ_OK)
			rc = pj_stmt_fetch(get, &row, err);
		if (rc || row)
			break;
		rc = pj_stmt_exec(add, &p, 1, err);
		if (rc == PJ_EDB && err->db_errno == ER_DUP_ENTRY_NUMBER) {
			pj_error_clear(err);
			rc = PJ_OK;
		}
	}
	if (rc == PJ_OK && !row)
		rc = pj_error_set(err, PJ_EDB,
		    "row for external id %.64s vanished after insert",
		    external_id);
	if (rc == PJ_OK)
		*id = pj_stmt_int(get, 0);
	return rc;
}

int
pj_sentinels_ensure(struct pj_ctx *ctx, int64_t *project_id, int64_t *user_id,
    struct pj_error *err)
{
	const struct pj_placement_config *pc = &ctx->cfg->placement;
	struct pj_stmt *get = NULL, *add = NULL;
	int64_t project = 0, user = 0;
	int rc;

	rc = pj_db_stmt(ctx->db, SQL_PROJECT_GET, &get, err);
	if (rc == PJ_OK)
		rc = pj_db_stmt(ctx->db, SQL_PROJECT_ADD, &add, err);
	if (rc == PJ_OK)
		rc = ensure_external(
		    get, add, pc->incomplete_project_id, &project, err);
	get = add = NULL;
	if (rc == PJ_OK)
		rc = pj_db_stmt(ctx->db, SQL_USER_GET, &get, err);
	if (rc == PJ_OK)
		rc = pj_db_stmt(ctx->db, SQL_USER_ADD, &add, err);
	if (rc == PJ_OK)
		rc = ensure_external(
		    get, add, pc->incomplete_user_id, &user, err);
	if (rc == PJ_OK) {
		*project_id = project;
		*user_id = user;
	}
	return rc;
}
