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
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/schema.h"
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
 * repair_batch works on key lists bound as rows (PJ_SQL_BATCH_KEYS): a
 * constant number of statements whatever the batch's size. Each reads the
 * list first (STRAIGHT_JOIN) and probes one primary key per key and table
 * (FORCE INDEX): on a small table the optimizer would rather scan, and a
 * locking scan would lock every row it passes.
 */
#define KEYS_JOINS \
	PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN consumers c FORCE INDEX (PRIMARY)" \
	" ON c.id = j.id" \
	" LEFT JOIN projects p FORCE INDEX (PRIMARY) ON p.id = c.project_id" \
	" LEFT JOIN users u FORCE INDEX (PRIMARY) ON u.id = c.user_id"

/*
 * Locks the batch's consumers and re-checks them. The joins' probes of the
 * projects and users primary keys lock the row found or, for a missing
 * one, the gap where it would go, so it cannot appear or vanish before
 * COMMIT. Bound: the batch's keys.
 */
static const char SQL_LOCK[] =
    "SELECT c.id, c.generation, p.id IS NULL, u.id IS NULL FROM" KEYS_JOINS
    " FOR UPDATE";

/* The archive and the update select exactly the same rows: the consumers
 * still dangling, each at the generation read under lock (the keys bound
 * first are those of the lock's damaged rows, with that generation). */
#define STILL_DANGLING " WHERE c.generation = j.generation AND" DAMAGE
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'dangling_consumer_refs', 'consumers', CAST(c.id AS CHAR),"
    " 'update', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6) FROM" KEYS_JOINS STILL_DANGLING;

/* No generation bump: the consumer's allocations do not change. */
static const char SQL_FIX[] =
    "UPDATE" KEYS_JOINS
    " SET c.project_id = IF(p.id IS NULL, ?, c.project_id),"
    " c.user_id = IF(u.id IS NULL, ?, c.user_id),"
    " c.updated_at = UTC_TIMESTAMP()" STILL_DANGLING;

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
			return pj_db_stmt(ctx->db, SQL_PROVIDER_FIRST, st, err);
		return pj_db_stmt(ctx->db, SQL_PROVIDER_NEXT, st, err);
	case PJ_SCOPE_CONSUMER:
		if (first)
			return pj_db_stmt(ctx->db, SQL_CONSUMER_FIRST, st, err);
		return pj_db_stmt(ctx->db, SQL_CONSUMER_NEXT, st, err);
	default:
		if (first)
			return pj_db_stmt(ctx->db, SQL_FIND_FIRST, st, err);
		return pj_db_stmt(ctx->db, SQL_FIND_NEXT, st, err);
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
		memset(&b->keys[n], 0, sizeof(b->keys[n]));
		b->keys[n].id = pj_stmt_int(st, 0);
		note(&b->keys[n], pj_stmt_text(st, 1, NULL), pj_stmt_int(st, 2),
		    pj_stmt_int(st, 3), pj_stmt_int(st, 4) != 0,
		    pj_stmt_int(st, 5) != 0);
		n++;
	}
	if (rc == PJ_OK)
		b->n = n;
out:
	return rc;
}

/*
 * Locks the batch's consumers (with the projects and users rows or gaps
 * they name) and keeps, as keys of a second list, those still dangling
 * with the generation read under the lock. Sets *n to their number.
 */
static int
lock_damaged(struct pj_ctx *ctx, const struct pj_batch *b, char **damaged,
    size_t *n, struct pj_error *err)
{
	struct pj_batch d = { NULL, 0, b->n };
	struct pj_stmt *st = NULL;
	struct pj_param keys;
	char *json = NULL;
	bool row;
	int rc;

	*damaged = NULL;
	*n = 0;
	d.keys = calloc(b->n > 0 ? b->n : 1, sizeof(*d.keys));
	if (d.keys == NULL)
		return pj_error_set(err, PJ_ENOMEM, "key list of %zu", b->n);
	rc = pj_batch_json(b, &json, err);
	if (rc)
		goto out;
	keys = PJ_TEXT(json);
	rc = pj_db_stmt(ctx->db, SQL_LOCK, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &keys, 1, err);
	while (rc == PJ_OK && d.n < d.cap) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		if (pj_stmt_int(st, 2) == 0 && pj_stmt_int(st, 3) == 0)
			continue; /* repaired since find_batch */
		d.keys[d.n].id = pj_stmt_int(st, 0);
		d.keys[d.n].generation = pj_stmt_int(st, 1);
		d.n++;
	}
	if (rc == PJ_OK)
		rc = pj_batch_json(&d, damaged, err);
	if (rc == PJ_OK)
		*n = d.n;
out:
	free(json);
	free(d.keys);
	return rc;
}

/*
 * The sentinels come first, as Placement makes a project and user before
 * the consumer naming them, and so that a sentinel made now can never land
 * on an id a consumer was checked to be missing. Then the batch's
 * consumers are locked by their ids: a range lock would stall every
 * healthy consumer between two damaged ones. The archive and the update
 * must each take exactly the rows the lock found damaged, else a conflict
 * (the engine rolls back and retries).
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_param p[3];
	int64_t project_id = 0, user_id = 0;
	uint64_t archived = 0, fixed = 0;
	char *damaged = NULL;
	size_t n = 0;
	int rc;

	rc = pj_sentinels_ensure(ctx, &project_id, &user_id, err);
	if (rc == PJ_OK)
		rc = lock_damaged(ctx, b, &damaged, &n, err);
	if (rc || n == 0)
		goto out;
	if (ctx->archive) {
		p[0] = PJ_TEXT(ctx->run_id);
		p[1] = PJ_TEXT(damaged);
		rc = pj_db_exec(ctx->db, SQL_ARCHIVE, p, 2, &archived, err);
		if (rc == PJ_OK && archived != n)
			rc = pj_error_set(err, PJ_ECONFLICT,
			    "consumers: archived %llu of %zu: changed meanwhile",
			    (unsigned long long)archived, n);
		if (rc)
			goto out;
	}
	p[0] = PJ_TEXT(damaged);
	p[1] = PJ_INT(project_id);
	p[2] = PJ_INT(user_id);
	rc = pj_db_exec(ctx->db, SQL_FIX, p, 3, &fixed, err);
	if (rc == PJ_OK && fixed != n)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumers: updated %llu of %zu: generation changed",
		    (unsigned long long)fixed, n);
	if (rc == PJ_OK)
		*repaired += n;
out:
	free(damaged);
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
