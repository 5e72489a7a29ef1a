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
#include <stdlib.h>

#include "common/log.h"
#include "common/schema.h"
#include "common/strings.h"
#include "worker/archive.h"

/*
 * Old: last written (COALESCE(updated_at, created_at), naive UTC as
 * Placement writes it) before UTC_TIMESTAMP() - min_age. A consumer whose
 * two timestamps are both NULL counts as old: Placement always sets
 * created_at, so such a row was written outside it, and no in-flight
 * Placement request can be waiting to fill it. The parameter is min_age in
 * microseconds; T is the consumers row's alias.
 */
#define LAST_WRITTEN(T) "COALESCE(" T ".updated_at, " T ".created_at)"
#define OLD(T) \
	" (" LAST_WRITTEN(T) " IS NULL" \
	" OR " LAST_WRITTEN(T) \
	" < UTC_TIMESTAMP() - INTERVAL ? MICROSECOND)"
/*
 * Empty, by the collation ('ABC' and 'abc ' are allocations of 'abc'): an
 * anti-join probing allocations_consumer_id_idx once per consumer. Not a
 * NOT EXISTS: the optimizer may turn it into a materialized NOT IN, the
 * whole index read for every statement (seen in a benchmark round: batches
 * of a second).
 */
#define EMPTY_JOIN \
	" LEFT JOIN allocations a FORCE INDEX (allocations_consumer_id_idx)" \
	" ON a.consumer_id = c.uuid"
#define EMPTY " a.id IS NULL"

/*
 * Keyset pages in uuid order: uniq_consumers0uuid (uuid and id, covering)
 * is read in order and each uuid probes allocations_consumer_id_idx, so
 * both indexes are walked forward and the pages one probe reads are the
 * next one's. In id order each probe lands on a random page (uuids are
 * random): at 10^6 allocations the whole anti-join took 0.88 s that way
 * against 0.40 s this way (RESULTS.md). Only the empty ones read their
 * consumers row (c2, after the anti-join, by STRAIGHT_JOIN) for age and
 * generation.
 */
#define FIND_HEAD \
	"SELECT c2.id, c.uuid, c2.generation" \
	" FROM consumers c FORCE INDEX (uniq_consumers0uuid)" EMPTY_JOIN \
	" STRAIGHT_JOIN consumers c2 FORCE INDEX (PRIMARY) ON c2.id = c.id" \
	" WHERE"
#define FIND_TAIL " AND" EMPTY " AND" OLD("c2") " ORDER BY c.uuid LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD " TRUE" FIND_TAIL;
static const char SQL_FIND_NEXT[] = FIND_HEAD " c.uuid > ?" FIND_TAIL;
/* --consumer: its row, by uniq_consumers0uuid. Parameters: the consumer,
 * the cursor, min_age, the limit. Repair goes by each key's id. */
static const char SQL_CONSUMER_FIRST[] = FIND_HEAD " c.uuid = ?" FIND_TAIL;
static const char SQL_CONSUMER_NEXT[] =
    FIND_HEAD " c.uuid = ? AND c.uuid > ?" FIND_TAIL;

/*
 * repair_batch works on the batch's keys as rows (PJ_SQL_BATCH_KEYS), four
 * statements whatever the batch's size. Each reads the key list first
 * (STRAIGHT_JOIN) and probes one index per key (FORCE INDEX): on a small
 * table the optimizer would rather scan, and a locking scan would lock
 * every row it passes.
 */
#define KEYS_CONSUMERS \
	PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN consumers c FORCE INDEX (PRIMARY)" \
	" ON c.id = j.id"

/*
 * Locks each consumer's entries in allocations_consumer_id_idx, or the gap
 * where they would go, so no allocation for it (in any spelling the
 * collation equates) can be inserted until COMMIT. Taken for the whole
 * batch before any consumers row: Placement's order is allocations, then
 * consumers. COUNT(a.id), not COUNT(*): with no column of a used, table
 * elimination drops the join.
 */
static const char SQL_LOCK_ALLOCATIONS[] =
    "SELECT COUNT(a.id) FROM" PJ_SQL_BATCH_KEYS
    " LEFT JOIN allocations a FORCE INDEX (allocations_consumer_id_idx)"
    " ON a.consumer_id = j.k FOR UPDATE";
/* The rows themselves, exclusively before the archive's shared read. */
static const char SQL_LOCK_CONSUMERS[] =
    "SELECT COUNT(c.id) FROM" KEYS_CONSUMERS " FOR UPDATE";

/*
 * The damage, re-checked under the locks: the same row as find_batch read
 * (id, uuid, generation: untouched since), still old, still empty. Bound
 * after the keys: min_age in microseconds. A key that fails it is left
 * alone; the archive and the delete select the same rows.
 */
#define STILL_ORPHANED \
	KEYS_CONSUMERS \
	" AND c.uuid = j.k AND c.generation = j.generation" EMPTY_JOIN \
	" WHERE" OLD("c") " AND" EMPTY
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_consumers', 'consumers', CAST(c.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6)"
    " FROM" STILL_ORPHANED;
static const char SQL_DELETE[] = "DELETE c FROM" STILL_ORPHANED;

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
		p[np++] = PJ_TEXT(after->text);
	p[np++] = PJ_INT(min_age_us(ctx));
	p[np++] = PJ_INT((int64_t)b->cap);
	if (consumer && after == NULL)
		rc = pj_db_stmt(ctx->db, SQL_CONSUMER_FIRST, &st, err);
	else if (consumer)
		rc = pj_db_stmt(ctx->db, SQL_CONSUMER_NEXT, &st, err);
	else if (after == NULL)
		rc = pj_db_stmt(ctx->db, SQL_FIND_FIRST, &st, err);
	else
		rc = pj_db_stmt(ctx->db, SQL_FIND_NEXT, &st, err);
	if (rc)
		goto out;
	rc = pj_batch_read(st, p, np, &columns, b, err);
out:
	return rc;
}

/*
 * Locks the batch's allocations (entries or gaps), then its consumers
 * rows, then archives (if on) and deletes those still orphaned. The
 * archive and the delete must agree on the rows, else another writer got
 * in between: a conflict, rolled back and retried by the engine.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_param p[3];
	uint64_t archived = 0, deleted = 0;
	char *keys = NULL;
	int rc;

	rc = pj_batch_json(b, &keys, err);
	if (rc)
		goto out;
	p[0] = PJ_TEXT(ctx->run_id);
	p[1] = PJ_TEXT(keys);
	p[2] = PJ_INT(min_age_us(ctx));
	rc = pj_db_exec(ctx->db, SQL_LOCK_ALLOCATIONS, &p[1], 1, NULL, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(
		    ctx->db, SQL_LOCK_CONSUMERS, &p[1], 1, NULL, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_db_exec(ctx->db, SQL_ARCHIVE, p, 3, &archived, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(ctx->db, SQL_DELETE, &p[1], 2, &deleted, err);
	if (rc)
		goto out;
	if (ctx->archive && archived != deleted) {
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumers: archived %llu rows, deleted %llu",
		    (unsigned long long)archived, (unsigned long long)deleted);
		goto out;
	}
	*repaired += (size_t)deleted;
out:
	free(keys);
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
