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

/* The batch's damage, re-checked under the lock: parameters lo, hi. */
#define IN_RANGE " WHERE a.id BETWEEN ? AND ? AND rp.id IS NULL"
/*
 * The same under --consumer (lo, hi, consumer): every statement below has
 * a _C twin that locks, re-checks and deletes only the consumer's rows, so
 * a scoped run never touches another consumer's orphan inside the range.
 */
#define IN_RANGE_C IN_RANGE OF_CONSUMER

/*
 * The consumers that lose allocations, one spelling per consumer (the
 * GROUP BY uses the collation), in index order. First read without locks,
 * to lock their allocations through allocations_consumer_id_idx before the
 * id range below, in the order Placement's DELETE takes them (index, then
 * rows): else a writer holding a consumer's index entries and waiting for
 * its orphan's row, held by the range lock, deadlocks with us. Then read
 * again under the range lock: that list is the one acted on.
 */
#define CONSUMER_IDS \
	"SELECT a.consumer_id FROM allocations a FORCE INDEX (PRIMARY)" \
	" LEFT JOIN resource_providers rp" \
	" ON rp.id = a.resource_provider_id" IN_RANGE \
	" GROUP BY a.consumer_id ORDER BY a.consumer_id"
static const char SQL_CONSUMER_IDS_READ[] = CONSUMER_IDS;
static const char SQL_CONSUMER_IDS_LOCKED[] =
    CONSUMER_IDS " LOCK IN SHARE MODE";
/* One consumer: its index range, not the whole id range. */
#define CONSUMER_IDS_C \
	"SELECT a.consumer_id" ORPHANS IN_RANGE_C \
	" GROUP BY a.consumer_id ORDER BY a.consumer_id"
static const char SQL_CONSUMER_IDS_READ_C[] = CONSUMER_IDS_C;
static const char SQL_CONSUMER_IDS_LOCKED_C[] =
    CONSUMER_IDS_C " LOCK IN SHARE MODE";
/* All of one consumer's allocations (any spelling), or the gap where they
 * would go: to lock them, and after the delete to count what is left. */
static const char SQL_CONSUMER_ALLOCATIONS[] =
    "SELECT COUNT(*) FROM allocations WHERE consumer_id = ? FOR UPDATE";
/*
 * Locks the allocations in the batch's id range and, through the join's
 * probe, each existing provider they name or the gap where a missing one
 * would go: until COMMIT no one can bring a provider back, or delete one
 * under an allocation we keep. (The WHERE on rp keeps the join: with
 * nothing read from rp, MariaDB's table elimination would drop it, and its
 * locks with it.) Placement's lock order: allocations, providers,
 * consumers.
 */
static const char SQL_LOCK_RANGE[] =
    "SELECT COUNT(*)" ORPHANS IN_RANGE " FOR UPDATE";
static const char SQL_LOCK_RANGE_C[] =
    "SELECT COUNT(*)" ORPHANS IN_RANGE_C " FOR UPDATE";
/* A consumer's row, and the generation to compare-and-swap; no row:
 * nothing to settle (an incomplete consumer). */
static const char SQL_CONSUMER_LOCK[] =
    "SELECT id, generation FROM consumers WHERE uuid = ? FOR UPDATE";

static const char SQL_ARCHIVE_ALLOCATIONS[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_allocations', 'allocations', CAST(a.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_ALLOCATION ", UTC_TIMESTAMP(6)" ORPHANS IN_RANGE;
static const char SQL_DELETE_ALLOCATIONS[] = "DELETE a" ORPHANS IN_RANGE;
static const char SQL_ARCHIVE_ALLOCATIONS_C[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_allocations', 'allocations', CAST(a.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_ALLOCATION ", UTC_TIMESTAMP(6)" ORPHANS IN_RANGE_C;
static const char SQL_DELETE_ALLOCATIONS_C[] = "DELETE a" ORPHANS IN_RANGE_C;

/* Placement's consumer bump; its Core UPDATE also sets updated_at. */
static const char SQL_BUMP[] =
    "UPDATE consumers SET generation = ? + 1, updated_at = UTC_TIMESTAMP()"
    " WHERE id = ? AND generation = ?";
/* delete_consumers_if_no_allocations, guarded by the generation read
 * under lock. Parameters: id, generation. */
#define EMPTY_CONSUMER \
	" WHERE c.id = ? AND c.generation = ? AND NOT EXISTS" \
	" (SELECT 1 FROM allocations a WHERE a.consumer_id = c.uuid)"
static const char SQL_ARCHIVE_CONSUMER[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_allocations', 'consumers', CAST(c.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_CONSUMER
    ", UTC_TIMESTAMP(6)"
    " FROM consumers c" EMPTY_CONSUMER;
static const char SQL_DELETE_CONSUMER[] =
    "DELETE c FROM consumers c" EMPTY_CONSUMER;

/* A consumer that loses allocations in this batch. */
struct consumer {
	char uuid[PJ_KEY_TEXT_MAX]; /* one spelling, as the database gave it */
	bool exists;                /* has a consumers row */
	int64_t id, generation;     /* of that row, read under lock */
};

/* The batch's key range, and the consumer when the run is scoped to one:
 * p[0..n-1] are the parameters of IN_RANGE (n 2) or IN_RANGE_C (n 3). */
struct range {
	struct pj_param p[3];
	size_t n;
};

/* The statements that settle consumers, prepared once per batch. */
struct settle {
	struct pj_stmt *count, *bump, *archive, *del;
	size_t bumped, deleted;
};

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
		rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_FIRST, &st, err);
	else if (consumer)
		rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_NEXT, &st, err);
	else if (after == NULL)
		rc = pj_stmt_prepare(ctx->db, SQL_FIND_FIRST, &st, err);
	else
		rc = pj_stmt_prepare(ctx->db, SQL_FIND_NEXT, &st, err);
	if (rc == PJ_OK)
		rc = pj_batch_read(st, p, np, &columns, b, err);
	pj_stmt_close(st);
	return rc;
}

/* The consumers of the range's orphans, read under lock or not; *list is
 * the caller's to free. */
static int
list_consumers(struct pj_ctx *ctx, const struct range *range, bool locked,
    struct consumer **list, size_t *n, struct pj_error *err)
{
	bool scoped = range->n == 3;
	struct pj_stmt *st = NULL;
	struct consumer *c = NULL;
	size_t rows = 0, i = 0;
	bool row;
	int rc;

	if (locked && scoped)
		rc = pj_stmt_prepare(
		    ctx->db, SQL_CONSUMER_IDS_LOCKED_C, &st, err);
	else if (locked)
		rc =
		    pj_stmt_prepare(ctx->db, SQL_CONSUMER_IDS_LOCKED, &st, err);
	else if (scoped)
		rc =
		    pj_stmt_prepare(ctx->db, SQL_CONSUMER_IDS_READ_C, &st, err);
	else
		rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_IDS_READ, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, range->p, range->n, err);
	if (rc)
		goto out;
	rows = (size_t)pj_stmt_rows(st);
	c = calloc(rows + 1, sizeof(*c));
	if (c == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "%zu consumers", rows);
		goto out;
	}
	while (rc == PJ_OK && i < rows) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		pj_strlcpy(
		    c[i].uuid, pj_stmt_text(st, 0, NULL), sizeof(c[i].uuid));
		i++;
	}
	if (rc == PJ_OK) {
		*list = c;
		*n = i;
		c = NULL;
	}
out:
	free(c);
	pj_stmt_close(st);
	return rc;
}

/* Every allocation of each listed consumer, or the gap for them. */
static int
lock_allocations(struct pj_ctx *ctx, const struct consumer *list, size_t n,
    struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	size_t i;
	int rc;

	rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_ALLOCATIONS, &st, err);
	for (i = 0; rc == PJ_OK && i < n; i++) {
		struct pj_param uuid = PJ_TEXT(list[i].uuid);

		rc = pj_stmt_exec(st, &uuid, 1, err);
	}
	pj_stmt_close(st);
	return rc;
}

/* The consumers rows, with their generations. */
static int
lock_consumers(
    struct pj_ctx *ctx, struct consumer *list, size_t n, struct pj_error *err)
{
	struct pj_stmt *lock = NULL;
	bool row = false;
	size_t i;
	int rc;

	rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_LOCK, &lock, err);
	for (i = 0; rc == PJ_OK && i < n; i++) {
		struct pj_param uuid = PJ_TEXT(list[i].uuid);

		rc = pj_stmt_exec(lock, &uuid, 1, err);
		if (rc == PJ_OK)
			rc = pj_stmt_fetch(lock, &row, err);
		if (rc == PJ_OK && row) {
			list[i].exists = true;
			list[i].id = pj_stmt_int(lock, 0);
			list[i].generation = pj_stmt_int(lock, 1);
		}
	}
	pj_stmt_close(lock);
	return rc;
}

/*
 * Takes the batch's locks in Placement's order: the allocations of the
 * consumers concerned (as read without locks), the id range and its
 * providers, then (listed again under that lock: the list acted on) any
 * consumer's allocations not yet locked, and the consumers rows.
 */
static int
lock_batch(struct pj_ctx *ctx, const struct range *range,
    struct consumer **list, size_t *n, struct pj_error *err)
{
	struct consumer *seen = NULL;
	size_t n_seen = 0;
	int rc;

	rc = list_consumers(ctx, range, false, &seen, &n_seen, err);
	if (rc == PJ_OK)
		rc = lock_allocations(ctx, seen, n_seen, err);
	free(seen);
	if (rc == PJ_OK && range->n == 3)
		rc = pj_db_exec(
		    ctx->db, SQL_LOCK_RANGE_C, range->p, 3, NULL, err);
	else if (rc == PJ_OK)
		rc =
		    pj_db_exec(ctx->db, SQL_LOCK_RANGE, range->p, 2, NULL, err);
	if (rc == PJ_OK)
		rc = list_consumers(ctx, range, true, list, n, err);
	/* Already held unless the list grew since the first read. */
	if (rc == PJ_OK)
		rc = lock_allocations(ctx, *list, *n, err);
	if (rc == PJ_OK)
		rc = lock_consumers(ctx, *list, *n, err);
	return rc;
}

/* Archives (if on) and deletes the range's orphans; *deleted rows. */
static int
delete_orphans(struct pj_ctx *ctx, const struct range *range, size_t *deleted,
    struct pj_error *err)
{
	struct pj_param p[4] = { PJ_TEXT(ctx->run_id), range->p[0], range->p[1],
		range->p[2] };
	bool scoped = range->n == 3;
	uint64_t archived = 0, gone = 0;
	int rc = PJ_OK;

	if (ctx->archive && scoped)
		rc = pj_db_exec(
		    ctx->db, SQL_ARCHIVE_ALLOCATIONS_C, p, 4, &archived, err);
	else if (ctx->archive)
		rc = pj_db_exec(
		    ctx->db, SQL_ARCHIVE_ALLOCATIONS, p, 3, &archived, err);
	if (rc == PJ_OK && scoped)
		rc = pj_db_exec(
		    ctx->db, SQL_DELETE_ALLOCATIONS_C, range->p, 3, &gone, err);
	else if (rc == PJ_OK)
		rc = pj_db_exec(
		    ctx->db, SQL_DELETE_ALLOCATIONS, range->p, 2, &gone, err);
	if (rc == PJ_OK && ctx->archive && archived != gone)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "allocations %lld..%lld: archived %llu rows, deleted %llu",
		    (long long)range->p[0].num, (long long)range->p[1].num,
		    (unsigned long long)archived, (unsigned long long)gone);
	if (rc == PJ_OK)
		*deleted = (size_t)gone;
	return rc;
}

/* Bumps the consumer if it keeps allocations, else deletes it. */
static int
settle_one(struct pj_ctx *ctx, struct settle *s, const struct consumer *c,
    struct pj_error *err)
{
	struct pj_param uuid = PJ_TEXT(c->uuid);
	struct pj_param bump[3] = { PJ_INT(c->generation), PJ_INT(c->id),
		PJ_INT(c->generation) };
	struct pj_param del[3] = { PJ_TEXT(ctx->run_id), PJ_INT(c->id),
		PJ_INT(c->generation) };
	bool row = false;
	int rc;

	rc = pj_stmt_exec(s->count, &uuid, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(s->count, &row, err);
	if (rc)
		return rc;
	if (row && pj_stmt_int(s->count, 0) > 0) {
		rc = pj_stmt_exec(s->bump, bump, 3, err);
		if (rc == PJ_OK && pj_stmt_affected(s->bump) != 1)
			rc = pj_error_set(err, PJ_ECONFLICT,
			    "consumer %lld: generation changed",
			    (long long)c->id);
		s->bumped += rc == PJ_OK;
		return rc;
	}
	if (s->archive != NULL) {
		rc = pj_stmt_exec(s->archive, del, 3, err);
		if (rc == PJ_OK && pj_stmt_affected(s->archive) != 1)
			rc = pj_error_set(err, PJ_ECONFLICT,
			    "consumer %lld: changed before archive",
			    (long long)c->id);
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(s->del, del + 1, 2, err);
	if (rc == PJ_OK && pj_stmt_affected(s->del) != 1)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumer %lld: changed before delete", (long long)c->id);
	s->deleted += rc == PJ_OK;
	return rc;
}

static int
settle_consumers(struct pj_ctx *ctx, const struct consumer *list, size_t n,
    struct pj_error *err)
{
	struct settle s;
	size_t i;
	int rc;

	memset(&s, 0, sizeof(s));
	rc = pj_stmt_prepare(ctx->db, SQL_CONSUMER_ALLOCATIONS, &s.count, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_BUMP, &s.bump, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_stmt_prepare(
		    ctx->db, SQL_ARCHIVE_CONSUMER, &s.archive, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_DELETE_CONSUMER, &s.del, err);
	for (i = 0; rc == PJ_OK && i < n; i++) {
		if (list[i].exists)
			rc = settle_one(ctx, &s, &list[i], err);
	}
	if (rc == PJ_OK)
		pj_log_debug("orphaned_allocations_consumers",
		    "bumped=%zu deleted=%zu", s.bumped, s.deleted);
	pj_stmt_close(s.del);
	pj_stmt_close(s.archive);
	pj_stmt_close(s.bump);
	pj_stmt_close(s.count);
	return rc;
}

static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct range range = {
		{ PJ_INT(b->keys[0].id), PJ_INT(b->keys[b->n - 1].id) }, 2
	};
	struct consumer *list = NULL;
	size_t n = 0, deleted = 0;
	int rc;

	range.n += pj_scope_param(&ctx->scope, &range.p[2]);
	rc = lock_batch(ctx, &range, &list, &n, err);
	if (rc == PJ_OK)
		rc = delete_orphans(ctx, &range, &deleted, err);
	if (rc == PJ_OK)
		rc = settle_consumers(ctx, list, n, err);
	if (rc == PJ_OK)
		*repaired += deleted;
	free(list);
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
