/*
 * Dangling consumer references: consumers whose project_id or user_id has
 * no projects/users row. Placement reads consumers through inner joins on
 * both, so such a consumer can be neither read nor written through the API
 * (internals section 8). Repair points the missing side, and only that
 * side, at the configured incomplete project or user, as Placement's own
 * create_incomplete_consumers attributes consumers it cannot place.
 */
#include "worker/pass.h"

#include <stdio.h>

#include "common/log.h"
#include "common/strings.h"
#include "worker/archive.h"
#include "worker/sentinels.h"

/* The consumer and the rows its references should name. */
#define JOINS \
	" consumers c LEFT JOIN projects p ON p.id = c.project_id" \
	" LEFT JOIN users u ON u.id = c.user_id"
#define DAMAGE " (p.id IS NULL OR u.id IS NULL)"

/* Keyset pages over the consumers primary key; each join probes one. */
#define FIND_HEAD \
	"SELECT c.id, c.uuid, c.project_id, c.user_id, p.id IS NULL," \
	" u.id IS NULL FROM" JOINS " WHERE" DAMAGE
#define FIND_TAIL " ORDER BY c.id LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD FIND_TAIL;
static const char SQL_FIND_NEXT[] = FIND_HEAD " AND c.id > ?" FIND_TAIL;
/* --provider: consumers with allocations on it, reached from its
 * allocations (allocations_resource_provider_class_used_idx), each once. */
#define PROVIDER_FIND_HEAD \
	"SELECT DISTINCT c.id, c.uuid, c.project_id, c.user_id," \
	" p.id IS NULL, u.id IS NULL FROM allocations a" \
	" JOIN consumers c ON c.uuid = a.consumer_id" \
	" LEFT JOIN projects p ON p.id = c.project_id" \
	" LEFT JOIN users u ON u.id = c.user_id" \
	" WHERE a.resource_provider_id = ? AND" DAMAGE
static const char SQL_PROVIDER_FIRST[] = PROVIDER_FIND_HEAD FIND_TAIL;
static const char SQL_PROVIDER_NEXT[] =
    PROVIDER_FIND_HEAD " AND c.id > ?" FIND_TAIL;
/* --consumer: its row, by uniq_consumers0uuid. */
#define OF_CONSUMER " AND c.uuid = ?"
static const char SQL_CONSUMER_FIRST[] = FIND_HEAD OF_CONSUMER FIND_TAIL;
static const char SQL_CONSUMER_NEXT[] =
    FIND_HEAD OF_CONSUMER " AND c.id > ?" FIND_TAIL;

/*
 * Locks one consumer and re-checks it. The joins' probes of the projects
 * and users primary keys lock the row found or, for a missing one, the gap
 * where it would go, so it cannot appear or vanish before COMMIT.
 */
static const char SQL_LOCK[] =
    "SELECT c.generation, c.project_id, c.user_id, p.id IS NULL,"
    " u.id IS NULL FROM" JOINS " WHERE c.id = ? FOR UPDATE";

/* The archive and the update select exactly the same row: the consumer at
 * the generation read under lock, still dangling. */
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'dangling_consumer_refs', 'consumers', CAST(c.id AS CHAR),"
    " 'update', " PJ_ARCHIVE_CONSUMER ", UTC_TIMESTAMP(6) FROM" JOINS
    " WHERE c.id = ? AND c.generation = ? AND" DAMAGE;

/* No generation bump: the consumer's allocations do not change. */
static const char SQL_FIX[] =
    "UPDATE" JOINS
    " SET c.project_id = IF(p.id IS NULL, ?, c.project_id),"
    " c.user_id = IF(u.id IS NULL, ?, c.user_id),"
    " c.updated_at = UTC_TIMESTAMP()"
    " WHERE c.id = ? AND c.generation = ? AND" DAMAGE;

/* What -v shows for a candidate; kept in the key's text. */
static void
note(struct pj_key *key, const char *uuid, int64_t project_id, int64_t user_id,
    bool no_project, bool no_user)
{
	char id[PJ_KEY_TEXT_MAX];

	pj_log_uuid(uuid, id, sizeof(id));
	if (no_project && no_user)
		snprintf(key->text, sizeof(key->text),
		    "consumer=\"%.64s\" project_id=%lld user_id=%lld missing",
		    id, (long long)project_id, (long long)user_id);
	else if (no_project)
		snprintf(key->text, sizeof(key->text),
		    "consumer=\"%.64s\" project_id=%lld missing", id,
		    (long long)project_id);
	else
		snprintf(key->text, sizeof(key->text),
		    "consumer=\"%.64s\" user_id=%lld missing", id,
		    (long long)user_id);
}

static int
prepare_find(const struct pj_ctx *ctx, bool first, struct pj_stmt **st,
    struct pj_error *err)
{
	switch (ctx->scope.kind) {
	case PJ_SCOPE_PROVIDER:
		if (first)
			return pj_stmt_prepare(
			    ctx->db, SQL_PROVIDER_FIRST, st, err);
		return pj_stmt_prepare(ctx->db, SQL_PROVIDER_NEXT, st, err);
	case PJ_SCOPE_CONSUMER:
		if (first)
			return pj_stmt_prepare(
			    ctx->db, SQL_CONSUMER_FIRST, st, err);
		return pj_stmt_prepare(ctx->db, SQL_CONSUMER_NEXT, st, err);
	default:
		if (first)
			return pj_stmt_prepare(
			    ctx->db, SQL_FIND_FIRST, st, err);
		return pj_stmt_prepare(ctx->db, SQL_FIND_NEXT, st, err);
	}
}

/* Each candidate is repaired by its own id, re-checked under lock: a
 * scoped batch's repair touches only the consumers it found. */
static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	struct pj_param p[3];
	struct pj_stmt *st = NULL;
	size_t n = 0, np = pj_scope_param(&ctx->scope, p);
	bool row;
	int rc;

	if (after != NULL)
		p[np++] = PJ_INT(after->id);
	p[np++] = PJ_INT((int64_t)b->cap);
	rc = prepare_find(ctx, after == NULL, &st, err);
	if (rc)
		goto out;
	rc = pj_stmt_exec(st, p, np, err);
	while (rc == PJ_OK && n < b->cap) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		b->keys[n].id = pj_stmt_int(st, 0);
		note(&b->keys[n], pj_stmt_text(st, 1, NULL), pj_stmt_int(st, 2),
		    pj_stmt_int(st, 3), pj_stmt_int(st, 4) != 0,
		    pj_stmt_int(st, 5) != 0);
		n++;
	}
	if (rc == PJ_OK)
		b->n = n;
out:
	pj_stmt_close(st);
	return rc;
}

struct stmts {
	struct pj_stmt *lock, *archive, *fix;
	int64_t project_id, user_id; /* the sentinels */
};

/* One consumer: lock, re-check, archive, repoint. Adds 1 or 0. */
static int
repair_one(struct pj_ctx *ctx, const struct stmts *s, int64_t id,
    size_t *repaired, struct pj_error *err)
{
	struct pj_param p[4];
	int64_t generation;
	bool row = false;
	int rc;

	p[0] = PJ_INT(id);
	rc = pj_stmt_exec(s->lock, p, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(s->lock, &row, err);
	if (rc || !row)
		return rc; /* an error, or deleted since find_batch */
	if (pj_stmt_int(s->lock, 3) == 0 && pj_stmt_int(s->lock, 4) == 0)
		return PJ_OK; /* repaired since find_batch */
	generation = pj_stmt_int(s->lock, 0);
	if (s->archive != NULL) {
		p[0] = PJ_TEXT(ctx->run_id);
		p[1] = PJ_INT(id);
		p[2] = PJ_INT(generation);
		rc = pj_stmt_exec(s->archive, p, 3, err);
		if (rc)
			return rc;
		if (pj_stmt_affected(s->archive) != 1)
			return pj_error_set(err, PJ_ECONFLICT,
			    "consumer %lld: changed while archiving",
			    (long long)id);
	}
	p[0] = PJ_INT(s->project_id);
	p[1] = PJ_INT(s->user_id);
	p[2] = PJ_INT(id);
	p[3] = PJ_INT(generation);
	rc = pj_stmt_exec(s->fix, p, 4, err);
	if (rc)
		return rc;
	if (pj_stmt_affected(s->fix) != 1)
		return pj_error_set(err, PJ_ECONFLICT,
		    "consumer %lld: generation %lld changed", (long long)id,
		    (long long)generation);
	(*repaired)++;
	return PJ_OK;
}

/*
 * The sentinels come first, as Placement makes a project and user before
 * the consumer naming them, and so that a sentinel made now can never land
 * on an id a consumer was checked to be missing. Then each consumer is
 * locked on its own: a range lock would stall every healthy consumer
 * between two damaged ones.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct stmts s = { NULL, NULL, NULL, 0, 0 };
	size_t i;
	int rc;

	rc = pj_sentinels_ensure(ctx, &s.project_id, &s.user_id, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_LOCK, &s.lock, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_stmt_prepare(ctx->db, SQL_ARCHIVE, &s.archive, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_FIX, &s.fix, err);
	for (i = 0; rc == PJ_OK && i < b->n; i++)
		rc = repair_one(ctx, &s, b->keys[i].id, repaired, err);
	pj_stmt_close(s.lock);
	pj_stmt_close(s.archive);
	pj_stmt_close(s.fix);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	pj_strlcpy(buf, key->text, size);
}

static const struct pj_grant grants[] = {
	{ "consumers", PJ_PRIV_UPDATE },
	{ "projects", PJ_PRIV_INSERT },
	{ "users", PJ_PRIV_INSERT },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_dangling_consumer_refs = {
	.name = "dangling_consumer_refs",
	.description = "consumers whose project or user row is missing",
	.destructive = true,
	.scopes = PJ_SCOPES(PJ_SCOPE_PROVIDER) | PJ_SCOPES(PJ_SCOPE_CONSUMER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
