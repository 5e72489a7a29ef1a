/*
 * Orphaned consumers: consumers rows with no allocations, older than
 * passes.orphaned_consumers.min_age. Placement deletes a consumer when its
 * last allocation goes (delete_consumers_if_no_allocations) but has no
 * reaper for the ones that escape it (internals 1, 2): repair deletes them,
 * archived, the same way. An empty consumer needs no generation bump: for
 * clients a deleted one is what Placement itself leaves (internals 3).
 */
#include "worker/pass.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/strings.h"
#include "worker/archive.h"

/*
 * Old: last written (COALESCE(updated_at, created_at), naive UTC as
 * Placement writes it) before UTC_TIMESTAMP() - min_age. A consumer whose
 * two timestamps are both NULL counts as old: Placement always sets
 * created_at, so such a row was written outside it, and no in-flight
 * Placement request can be waiting to fill it. The parameter is min_age in
 * microseconds.
 */
#define OLD \
	" (COALESCE(c.updated_at, c.created_at) IS NULL" \
	" OR COALESCE(c.updated_at, c.created_at)" \
	" < UTC_TIMESTAMP() - INTERVAL ? MICROSECOND)"
/* Empty, by the collation: 'ABC' and 'abc ' are allocations of 'abc'. */
#define EMPTY \
	" NOT EXISTS (SELECT 1 FROM allocations a" \
	" WHERE a.consumer_id = c.uuid)"

/*
 * Keyset pages over the primary key. The anti-join probes
 * allocations_consumer_id_idx once per consumer and stops at LIMIT (a NOT
 * EXISTS here gets materialized: the whole index read for every batch).
 */
#define FIND_HEAD \
	"SELECT c.id, c.uuid, c.generation FROM consumers c" \
	" LEFT JOIN allocations a ON a.consumer_id = c.uuid WHERE"
#define FIND_TAIL OLD " AND a.id IS NULL ORDER BY c.id LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD FIND_TAIL;
static const char SQL_FIND_NEXT[] = FIND_HEAD " c.id > ? AND" FIND_TAIL;
/* --consumer: its row, by uniq_consumers0uuid. Parameters: the consumer,
 * the cursor, min_age, the limit. Repair goes by each key's id. */
static const char SQL_CONSUMER_FIRST[] = FIND_HEAD " c.uuid = ? AND" FIND_TAIL;
static const char SQL_CONSUMER_NEXT[] =
    FIND_HEAD " c.uuid = ? AND c.id > ? AND" FIND_TAIL;

/*
 * Locks the consumer's entries in allocations_consumer_id_idx, or the gap
 * where they would go, so no allocation for it (in any spelling the
 * collation equates) can be inserted until COMMIT. Taken for the whole
 * batch before any consumers row: Placement's order is allocations, then
 * consumers.
 */
static const char SQL_LOCK_ALLOCATIONS[] =
    "SELECT COUNT(*) FROM allocations WHERE consumer_id = ? FOR UPDATE";
/* The row itself, exclusively before the archive's shared read of it. */
static const char SQL_LOCK_CONSUMER[] =
    "SELECT id FROM consumers WHERE id = ? FOR UPDATE";

/*
 * The damage, re-checked under the locks: the same row as find_batch read
 * (id, uuid, generation: untouched since), still old, still empty.
 * Parameters: id, uuid, generation, min_age in microseconds.
 */
#define STILL_ORPHANED \
	" WHERE c.id = ? AND c.uuid = ? AND c.generation = ? AND" OLD \
	" AND" EMPTY
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_consumers', 'consumers', CAST(c.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6)"
    " FROM consumers c" STILL_ORPHANED;
static const char SQL_DELETE[] = "DELETE c FROM consumers c" STILL_ORPHANED;

static int64_t
min_age_us(const struct pj_ctx *ctx)
{
	return ctx->cfg->passes.orphaned_consumers_min_age_ms * 1000;
}

static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	static const struct pj_key_columns columns = { 0, -1, 1, 2 };
	bool consumer = ctx->scope.kind == PJ_SCOPE_CONSUMER;
	struct pj_param p[4];
	struct pj_stmt *st = NULL;
	size_t np = pj_scope_param(&ctx->scope, p);
	int rc;

	if (after != NULL)
		p[np++] = PJ_INT(after->id);
	p[np++] = PJ_INT(min_age_us(ctx));
	p[np++] = PJ_INT((int64_t)b->cap);
	if (consumer && after == NULL)
		rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_FIRST, &st, err);
	else if (consumer)
		rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_NEXT, &st, err);
	else if (after == NULL)
		rc = pj_stmt_prepare(ctx->db, SQL_FIND_FIRST, &st, err);
	else
		rc = pj_stmt_prepare(ctx->db, SQL_FIND_NEXT, &st, err);
	if (rc)
		goto out;
	rc = pj_batch_read(st, p, np, &columns, b, err);
out:
	pj_stmt_close(st);
	return rc;
}

/* Archives (if on) and deletes one consumer if it is still orphaned;
 * adds 1 to *deleted if it was. */
static int
delete_one(struct pj_ctx *ctx, struct pj_stmt *lock, struct pj_stmt *archive,
    struct pj_stmt *del, const struct pj_key *key, size_t *deleted,
    struct pj_error *err)
{
	struct pj_param id = PJ_INT(key->id);
	struct pj_param p[5] = { PJ_TEXT(ctx->run_id), PJ_INT(key->id),
		PJ_TEXT(key->text), PJ_INT(key->generation),
		PJ_INT(min_age_us(ctx)) };
	uint64_t archived = 0;
	int rc;

	rc = pj_stmt_exec(lock, &id, 1, err);
	if (rc == PJ_OK && pj_stmt_rows(lock) == 0)
		return PJ_OK; /* gone since find_batch */
	if (rc == PJ_OK && archive != NULL) {
		rc = pj_stmt_exec(archive, p, 5, err);
		archived = pj_stmt_affected(archive);
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(del, p + 1, 4, err);
	if (rc)
		return rc;
	if (archive != NULL && archived != pj_stmt_affected(del))
		return pj_error_set(err, PJ_ECONFLICT,
		    "consumer %lld: archived %llu rows, deleted %llu",
		    (long long)key->id, (unsigned long long)archived,
		    (unsigned long long)pj_stmt_affected(del));
	*deleted += (size_t)pj_stmt_affected(del);
	return PJ_OK;
}

static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_stmt *lock_alloc = NULL, *lock = NULL, *archive = NULL;
	struct pj_stmt *del = NULL;
	size_t i, deleted = 0;
	int rc;

	rc = pj_stmt_prepare(ctx->db, SQL_LOCK_ALLOCATIONS, &lock_alloc, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_LOCK_CONSUMER, &lock, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_stmt_prepare(ctx->db, SQL_ARCHIVE, &archive, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_DELETE, &del, err);
	for (i = 0; rc == PJ_OK && i < b->n; i++) {
		struct pj_param uuid = PJ_TEXT(b->keys[i].text);

		rc = pj_stmt_exec(lock_alloc, &uuid, 1, err);
	}
	for (i = 0; rc == PJ_OK && i < b->n; i++)
		rc = delete_one(
		    ctx, lock, archive, del, &b->keys[i], &deleted, err);
	if (rc == PJ_OK)
		*repaired += deleted;
	pj_stmt_close(del);
	pj_stmt_close(archive);
	pj_stmt_close(lock);
	pj_stmt_close(lock_alloc);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	char id[PJ_KEY_TEXT_MAX];

	snprintf(buf, size,
	    "consumer=\"%s\" id=%lld generation=%lld has no allocations",
	    pj_log_uuid(key->text, id, sizeof(id)), (long long)key->id,
	    (long long)key->generation);
}

static const struct pj_grant grants[] = {
	{ "consumers", PJ_PRIV_DELETE },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_orphaned_consumers = {
	.name = "orphaned_consumers",
	.description = "consumers with no allocations, older than min_age",
	.destructive = true,
	/* --provider: a consumer with no allocations is on no provider. */
	.scopes = PJ_SCOPES(PJ_SCOPE_CONSUMER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
