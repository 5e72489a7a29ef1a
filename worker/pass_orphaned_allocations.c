/*
 * Orphaned allocations: allocations whose resource_provider_id names no
 * resource_providers row (there is no foreign key: internals 7). They are
 * ghost usage that no API call shows. Repair deletes them, archived, and
 * settles each consumer that lost some as Placement's _set_allocations
 * does: a consumer that keeps other allocations gets its generation bumped
 * by compare-and-swap, one left with none is deleted (archived). The
 * provider is gone, so no provider generation moves.
 */
#include "worker/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/schema.h"
#include "common/strings.h"
#include "worker/archive.h"

/* Keyset pages over the primary key; the join probes the providers'. */
#define ORPHANS \
	" FROM allocations a" \
	" LEFT JOIN resource_providers rp ON rp.id = a.resource_provider_id"
#define FIND_HEAD \
	"SELECT a.id, a.resource_provider_id, a.consumer_id" ORPHANS \
	" WHERE rp.id IS NULL"
#define FIND_TAIL " ORDER BY a.id LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD FIND_TAIL;
static const char SQL_FIND_NEXT[] = FIND_HEAD " AND a.id > ?" FIND_TAIL;
/* --consumer: its allocations, through allocations_consumer_id_idx (which
 * holds the primary key, so they come in id order). */
#define OF_CONSUMER " AND a.consumer_id = ?"
static const char SQL_CONSUMER_FIRST[] = FIND_HEAD OF_CONSUMER FIND_TAIL;
static const char SQL_CONSUMER_NEXT[] =
    FIND_HEAD OF_CONSUMER " AND a.id > ?" FIND_TAIL;

/*
 * The batch's allocations, each by its id and the consumer find_batch saw
 * (an allocation never changes consumer in Placement: if one did, it is
 * left alone), joined to the provider it names. Parameter: the key list
 * (pj_batch_json: id, text = consumer_id). Every statement on them has a
 * _C twin for --consumer (parameters: keys, consumer), so a scoped run
 * never touches another consumer's rows. Every join starts from the key
 * list (STRAIGHT_JOIN: the optimizer must not prefer a scan of a small
 * table, which would lock all of it) and probes unique indexes.
 */
#define KEYED \
	" FROM" PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN allocations a ON a.id = j.id AND a.consumer_id = j.k" \
	" LEFT JOIN resource_providers rp ON rp.id = a.resource_provider_id"
/* The damage, re-checked under the lock. */
#define STILL_ORPHANED " WHERE rp.id IS NULL"
#define STILL_ORPHANED_C STILL_ORPHANED OF_CONSUMER

/*
 * Every allocation of the batch's consumers (any spelling), or the gap
 * where they would go, through allocations_consumer_id_idx: first, in the
 * order Placement's DELETE takes them (index, then rows), so a writer
 * holding a consumer's index entries cannot wait for an orphan's row we
 * hold; and until COMMIT none is added or removed, so the count of what a
 * consumer keeps cannot change. COUNT(a.id) keeps the join (with no
 * column of a used, table elimination would drop it, and its locks).
 */
#define CONSUMERS_ALLOCATIONS \
	"SELECT COUNT(a.id) FROM" PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN allocations a ON a.consumer_id = j.k"
static const char SQL_LOCK_CONSUMERS[] = CONSUMERS_ALLOCATIONS " FOR UPDATE";
static const char SQL_LOCK_CONSUMERS_C[] =
    CONSUMERS_ALLOCATIONS " WHERE a.consumer_id = ? FOR UPDATE";
/*
 * Then, through the join's probe, each existing provider the batch's
 * allocations name or the gap where a missing one would go: until COMMIT
 * no one can bring a provider back under them. (The WHERE on rp keeps the
 * join, as above.) Placement's lock order: allocations, providers,
 * consumers.
 */
static const char SQL_LOCK_PROVIDERS[] =
    "SELECT COUNT(*)" KEYED STILL_ORPHANED " FOR UPDATE";
static const char SQL_LOCK_PROVIDERS_C[] =
    "SELECT COUNT(*)" KEYED STILL_ORPHANED_C " FOR UPDATE";
/*
 * Last, the consumers rows of the allocations still orphaned, with the
 * generations to compare-and-swap, one row per orphan, in consumers.id
 * order (NULL first: an incomplete consumer, nothing to settle; its gap is
 * locked, so no one creates it). This is the list acted on.
 */
#define CONSUMERS \
	"SELECT c.id, c.generation" KEYED \
	" LEFT JOIN consumers c ON c.uuid = a.consumer_id"
static const char SQL_CONSUMERS[] =
    CONSUMERS STILL_ORPHANED " ORDER BY c.id FOR UPDATE";
static const char SQL_CONSUMERS_C[] =
    CONSUMERS STILL_ORPHANED_C " ORDER BY c.id FOR UPDATE";

/* Parameters: run id, keys[, consumer]. */
#define ARCHIVE_ALLOCATIONS \
	"INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS \
	" SELECT ?, 'orphaned_allocations', 'allocations', CAST(a.id AS CHAR)," \
	" 'delete', " PJ_ARCHIVE_ALLOCATION ", UTC_TIMESTAMP(6)" KEYED
static const char SQL_ARCHIVE_ALLOCATIONS[] =
    ARCHIVE_ALLOCATIONS STILL_ORPHANED;
static const char SQL_ARCHIVE_ALLOCATIONS_C[] =
    ARCHIVE_ALLOCATIONS STILL_ORPHANED_C;
/* Parameters: keys[, consumer]. */
static const char SQL_DELETE_ALLOCATIONS[] = "DELETE a" KEYED STILL_ORPHANED;
static const char SQL_DELETE_ALLOCATIONS_C[] =
    "DELETE a" KEYED STILL_ORPHANED_C;

/*
 * Settling the consumers listed: a second key list (id = consumers.id,
 * generation as read under the lock), each consumer once. A consumer
 * that keeps allocations gets Placement's bump, compare-and-swap on the
 * generation read (its Core UPDATE also sets updated_at); one left with
 * none is deleted (delete_consumers_if_no_allocations), archived, guarded
 * by the same generation. Every listed consumer is exactly one of the two
 * unless its generation moved: bumped + deleted must be all of them.
 * What a consumer keeps is counted by a scalar subquery, read through
 * allocations_consumer_id_idx for each consumer: [NOT] EXISTS would become
 * a semi-join that the optimizer may run as a scan of the whole index.
 */
#define JOIN_LISTED \
	PJ_SQL_BATCH_KEYS " STRAIGHT_JOIN consumers c ON c.id = j.id"
#define KEEPS(op) \
	" WHERE c.generation = j.generation AND (SELECT COUNT(*)" \
	" FROM allocations a WHERE a.consumer_id = c.uuid) " op
static const char SQL_BUMP[] =
    "UPDATE" JOIN_LISTED
    " SET c.generation = c.generation + 1, c.updated_at = UTC_TIMESTAMP()" KEEPS(
        "> 0");
/* Parameters: run id, consumer keys. */
static const char SQL_ARCHIVE_CONSUMERS[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_allocations', 'consumers', CAST(c.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6) FROM" JOIN_LISTED KEEPS("= 0");
static const char SQL_DELETE_CONSUMERS[] =
    "DELETE c FROM" JOIN_LISTED KEEPS("= 0");

static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	static const struct pj_key_columns columns = { 0, 1, 2, -1 };
	struct pj_param p[3];
	struct pj_stmt *st = NULL;
	size_t np = pj_scope_param(&ctx->scope, p);
	bool consumer = ctx->scope.kind == PJ_SCOPE_CONSUMER;
	int rc;

	if (after != NULL)
		p[np++] = PJ_INT(after->id);
	p[np++] = PJ_INT((int64_t)b->cap);
	if (consumer && after == NULL)
		rc = pj_db_stmt(ctx->db, SQL_CONSUMER_FIRST, &st, err);
	else if (consumer)
		rc = pj_db_stmt(ctx->db, SQL_CONSUMER_NEXT, &st, err);
	else if (after == NULL)
		rc = pj_db_stmt(ctx->db, SQL_FIND_FIRST, &st, err);
	else
		rc = pj_db_stmt(ctx->db, SQL_FIND_NEXT, &st, err);
	if (rc == PJ_OK)
		rc = pj_batch_read(st, p, np, &columns, b, err);
	return rc;
}

/*
 * Reads the list of SQL_CONSUMERS into *list (keys id, generation), each
 * existing consumer once; list->keys is the caller's to free.
 */
static int
list_consumers(struct pj_ctx *ctx, const struct pj_param *p, size_t np,
    struct pj_batch *list, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	size_t rows = 0;
	bool row = true;
	int rc;

	if (np > 1)
		rc = pj_db_stmt(ctx->db, SQL_CONSUMERS_C, &st, err);
	else
		rc = pj_db_stmt(ctx->db, SQL_CONSUMERS, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, p, np, err);
	if (rc)
		goto out;
	rows = (size_t)pj_stmt_rows(st);
	list->keys = calloc(rows + 1, sizeof(*list->keys));
	if (list->keys == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "%zu consumers", rows);
		goto out;
	}
	list->cap = rows;
	while (rc == PJ_OK && list->n < list->cap) {
		struct pj_key *k = &list->keys[list->n];
		int64_t id;

		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		if (pj_stmt_is_null(st, 0))
			continue; /* no consumers row: nothing to settle */
		id = pj_stmt_int(st, 0);
		if (list->n > 0 && list->keys[list->n - 1].id == id)
			continue; /* another orphan of the same consumer */
		k->id = id;
		k->generation = pj_stmt_int(st, 1);
		list->n++;
	}
out:
	return rc;
}

/*
 * Takes the batch's locks in Placement's order: the allocations of the
 * batch's consumers, the providers (or gaps) of its allocations, then the
 * consumers rows, whose list it reads into *list.
 */
static int
lock_batch(struct pj_ctx *ctx, const struct pj_param *p, size_t np,
    struct pj_batch *list, struct pj_error *err)
{
	int rc;

	if (np > 1)
		rc =
		    pj_db_exec(ctx->db, SQL_LOCK_CONSUMERS_C, p, np, NULL, err);
	else
		rc = pj_db_exec(ctx->db, SQL_LOCK_CONSUMERS, p, np, NULL, err);
	if (rc == PJ_OK && np > 1)
		rc =
		    pj_db_exec(ctx->db, SQL_LOCK_PROVIDERS_C, p, np, NULL, err);
	else if (rc == PJ_OK)
		rc = pj_db_exec(ctx->db, SQL_LOCK_PROVIDERS, p, np, NULL, err);
	if (rc == PJ_OK)
		rc = list_consumers(ctx, p, np, list, err);
	return rc;
}

/* Archives (if on) and deletes the batch's orphans; *deleted rows. */
static int
delete_orphans(struct pj_ctx *ctx, const struct pj_param *p, size_t np,
    size_t *deleted, struct pj_error *err)
{
	struct pj_param a[3] = { PJ_TEXT(ctx->run_id), p[0], p[np - 1] };
	bool scoped = np > 1;
	uint64_t archived = 0, gone = 0;
	int rc = PJ_OK;

	if (ctx->archive && scoped)
		rc = pj_db_exec(
		    ctx->db, SQL_ARCHIVE_ALLOCATIONS_C, a, 3, &archived, err);
	else if (ctx->archive)
		rc = pj_db_exec(
		    ctx->db, SQL_ARCHIVE_ALLOCATIONS, a, 2, &archived, err);
	if (rc == PJ_OK && scoped)
		rc = pj_db_exec(
		    ctx->db, SQL_DELETE_ALLOCATIONS_C, p, 2, &gone, err);
	else if (rc == PJ_OK)
		rc = pj_db_exec(
		    ctx->db, SQL_DELETE_ALLOCATIONS, p, 1, &gone, err);
	if (rc == PJ_OK && ctx->archive && archived != gone)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "allocations: archived %llu rows, deleted %llu",
		    (unsigned long long)archived, (unsigned long long)gone);
	if (rc == PJ_OK)
		*deleted = (size_t)gone;
	return rc;
}

/* Bumps each listed consumer that keeps allocations, deletes the rest. */
static int
settle_consumers(
    struct pj_ctx *ctx, const struct pj_batch *list, struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(ctx->run_id), PJ_TEXT(NULL) };
	uint64_t bumped = 0, archived = 0, deleted = 0;
	char *keys = NULL;
	int rc;

	if (list->n == 0)
		return PJ_OK;
	rc = pj_batch_json(list, &keys, err);
	if (rc)
		return rc;
	p[1] = PJ_TEXT(keys);
	rc = pj_db_exec(ctx->db, SQL_BUMP, &p[1], 1, &bumped, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_db_exec(
		    ctx->db, SQL_ARCHIVE_CONSUMERS, p, 2, &archived, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(
		    ctx->db, SQL_DELETE_CONSUMERS, &p[1], 1, &deleted, err);
	if (rc == PJ_OK && ctx->archive && archived != deleted)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumers: archived %llu rows, deleted %llu",
		    (unsigned long long)archived, (unsigned long long)deleted);
	else if (rc == PJ_OK && bumped + deleted != list->n)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumers: %zu to settle, bumped %llu, deleted %llu:"
		    " a generation changed",
		    list->n, (unsigned long long)bumped,
		    (unsigned long long)deleted);
	if (rc == PJ_OK)
		pj_log_debug("orphaned_allocations_consumers",
		    "bumped=%llu deleted=%llu", (unsigned long long)bumped,
		    (unsigned long long)deleted);
	free(keys);
	return rc;
}

/*
 * A constant number of statements per batch, each on the whole key list:
 * three locking reads, the archive and delete of the orphans, then the
 * bump, archive and delete of their consumers.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_batch list = { NULL, 0, 0 };
	struct pj_param p[2];
	size_t np = 1, deleted = 0;
	char *keys = NULL;
	int rc;

	rc = pj_batch_json(b, &keys, err);
	if (rc)
		goto out;
	p[0] = PJ_TEXT(keys);
	np += pj_scope_param(&ctx->scope, &p[1]);
	rc = lock_batch(ctx, p, np, &list, err);
	if (rc == PJ_OK)
		rc = delete_orphans(ctx, p, np, &deleted, err);
	if (rc == PJ_OK)
		rc = settle_consumers(ctx, &list, err);
	if (rc == PJ_OK)
		*repaired += deleted;
out:
	free(list.keys);
	free(keys);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	char id[PJ_KEY_TEXT_MAX];

	snprintf(buf, size,
	    "allocation=%lld consumer=\"%s\" provider_id=%lld: no such"
	    " provider",
	    (long long)key->id, pj_log_uuid(key->text, id, sizeof(id)),
	    (long long)key->id2);
}

static const struct pj_grant grants[] = {
	{ "allocations", PJ_PRIV_DELETE },
	{ "consumers", PJ_PRIV_UPDATE | PJ_PRIV_DELETE },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_orphaned_allocations = {
	.name = "orphaned_allocations",
	.description = "allocations whose resource provider does not exist",
	.destructive = true,
	/* --provider: an existing provider has no orphaned allocations. */
	.scopes = PJ_SCOPES(PJ_SCOPE_CONSUMER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
