/*
 * Unused projects and users: rows no consumer references. Placement never
 * deletes them (internals section 2), so they pile up. Report only (the
 * config allows off or report): deleting one would race Placement's
 * ensure_consumer, which reads or creates the project and user and inserts
 * the consumer in separate transactions. The configured incomplete project
 * and user are never reported: Placement and incomplete_consumers use them.
 *
 * The pass pages projects, then users (pj_key.part), each by id.
 */
#include "worker/pass.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/strings.h"

enum part { PART_PROJECTS, PART_USERS, PART_COUNT };

/* The incomplete id is bound first and compared by the server, in the
 * column's collation. consumers_project_id_uuid_idx answers NOT EXISTS. */
#define PROJECT_FIND_HEAD \
	"SELECT p.id, p.external_id FROM projects p" \
	" WHERE p.external_id <> ? AND NOT EXISTS" \
	" (SELECT 1 FROM consumers c WHERE c.project_id = p.id)"
#define PROJECT_FIND_TAIL " ORDER BY p.id LIMIT ?"
static const char SQL_PROJECT_FIND_FIRST[] =
    PROJECT_FIND_HEAD PROJECT_FIND_TAIL;
static const char SQL_PROJECT_FIND_NEXT[] =
    PROJECT_FIND_HEAD " AND p.id > ?" PROJECT_FIND_TAIL;

/*
 * No index of consumers starts with user_id: NOT IN lets the server
 * materialize the set of user ids once per batch (one scan of a covering
 * index) instead of scanning consumers once per user.
 */
#define USER_FIND_HEAD \
	"SELECT u.id, u.external_id FROM users u" \
	" WHERE u.external_id <> ? AND u.id NOT IN" \
	" (SELECT c.user_id FROM consumers c)"
#define USER_FIND_TAIL " ORDER BY u.id LIMIT ?"
static const char SQL_USER_FIND_FIRST[] = USER_FIND_HEAD USER_FIND_TAIL;
static const char SQL_USER_FIND_NEXT[] =
    USER_FIND_HEAD " AND u.id > ?" USER_FIND_TAIL;

static const char *const part_tables[PART_COUNT] = {
	[PART_PROJECTS] = "projects",
	[PART_USERS] = "users",
};

static int
prepare_find(struct pj_db *db, unsigned int part, bool first,
    struct pj_stmt **st, struct pj_error *err)
{
	if (part == PART_PROJECTS)
		return first
		    ? pj_stmt_prepare(db, SQL_PROJECT_FIND_FIRST, st, err)
		    : pj_stmt_prepare(db, SQL_PROJECT_FIND_NEXT, st, err);
	return first ? pj_stmt_prepare(db, SQL_USER_FIND_FIRST, st, err)
	             : pj_stmt_prepare(db, SQL_USER_FIND_NEXT, st, err);
}

static int
find_part(struct pj_ctx *ctx, unsigned int part, const struct pj_key *after,
    struct pj_batch *b, struct pj_error *err)
{
	const struct pj_placement_config *pc = &ctx->cfg->placement;
	struct pj_param p[3];
	struct pj_stmt *st = NULL;
	size_t n = 0, np = 0;
	bool row;
	int rc;

	rc = prepare_find(ctx->db, part, after == NULL, &st, err);
	if (rc)
		goto out;
	p[np++] = PJ_TEXT(part == PART_PROJECTS ? pc->incomplete_project_id
	                                        : pc->incomplete_user_id);
	if (after != NULL)
		p[np++] = PJ_INT(after->id);
	p[np++] = PJ_INT((int64_t)b->cap);
	rc = pj_stmt_exec(st, p, np, err);
	while (rc == PJ_OK && n < b->cap) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		memset(&b->keys[n], 0, sizeof(b->keys[n]));
		b->keys[n].part = part;
		b->keys[n].id = pj_stmt_int(st, 0);
		/* For describe only. */
		pj_strlcpy(b->keys[n].text, pj_stmt_text(st, 1, NULL),
		    sizeof(b->keys[n].text));
		n++;
	}
	if (rc == PJ_OK)
		b->n = n;
out:
	pj_stmt_close(st);
	return rc;
}

/* A batch holds rows of one table: users start when projects have
 * nothing left after the cursor. */
static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	unsigned int part = after == NULL ? 0 : after->part;
	int rc;

	for (;;) {
		rc = find_part(ctx, part, after, b, err);
		if (rc || b->n > 0 || part + 1 >= PART_COUNT)
			return rc;
		part++;
		after = NULL;
	}
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	unsigned int part = key->part < PART_COUNT ? key->part : 0;
	char id[PJ_KEY_TEXT_MAX];

	snprintf(buf, size,
	    "table=%s id=%lld external_id=\"%s\": no consumer refers to it",
	    part_tables[part], (long long)key->id,
	    pj_log_uuid(key->text, id, sizeof(id)));
}

/* No repair_batch: the engine never repairs a pass without one, and the
 * config cannot set this one to repair. */
const struct pj_pass pj_pass_unused_projects_users = {
	.name = "unused_projects_users",
	.description = "projects and users that no consumer references",
	/* No scope: a project or user no consumer names belongs to no
	 * provider, and a consumer's own are never unused. */
	.scopes = 0,
	.find_batch = find_batch,
	.describe = describe,
};
