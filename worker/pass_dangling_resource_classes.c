/*
 * Dangling resource classes: allocations and inventories whose
 * resource_class_id has no resource_classes row. Report only (the config
 * allows off or report): a missing standard class (id below 10000) means
 * the table was not synced, which the Placement API does when it starts;
 * a missing custom class comes only from manual surgery or a restore, and
 * what to do with its rows is the operator's call (internals section 6).
 *
 * The pass pages allocations, then inventories (pj_key.part), each by id;
 * a key is one row holding a missing class (id2: the class id).
 */
#include "worker/pass.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

/* Placement's MIN_CUSTOM_RESOURCE_CLASS_ID: ids below are standard. */
#define MIN_CUSTOM_CLASS_ID 10000

enum part { PART_ALLOCATIONS, PART_INVENTORIES, PART_COUNT };

#define ALLOC_FIND_HEAD \
	"SELECT a.id, a.resource_class_id FROM allocations a" \
	" LEFT JOIN resource_classes rc ON rc.id = a.resource_class_id" \
	" WHERE rc.id IS NULL"
#define ALLOC_FIND_TAIL " ORDER BY a.id LIMIT ?"
static const char SQL_ALLOC_FIND_FIRST[] = ALLOC_FIND_HEAD ALLOC_FIND_TAIL;
static const char SQL_ALLOC_FIND_NEXT[] =
    ALLOC_FIND_HEAD " AND a.id > ?" ALLOC_FIND_TAIL;

#define INV_FIND_HEAD \
	"SELECT i.id, i.resource_class_id FROM inventories i" \
	" LEFT JOIN resource_classes rc ON rc.id = i.resource_class_id" \
	" WHERE rc.id IS NULL"
#define INV_FIND_TAIL " ORDER BY i.id LIMIT ?"
static const char SQL_INV_FIND_FIRST[] = INV_FIND_HEAD INV_FIND_TAIL;
static const char SQL_INV_FIND_NEXT[] =
    INV_FIND_HEAD " AND i.id > ?" INV_FIND_TAIL;

/* --provider: its allocations and inventories (parameter: its id);
 * --consumer: its allocations only, inventories belong to no consumer. */
#define ALLOC_ON_PROVIDER " AND a.resource_provider_id = ?"
static const char SQL_ALLOC_PROVIDER_FIRST[] =
    ALLOC_FIND_HEAD ALLOC_ON_PROVIDER ALLOC_FIND_TAIL;
static const char SQL_ALLOC_PROVIDER_NEXT[] =
    ALLOC_FIND_HEAD ALLOC_ON_PROVIDER " AND a.id > ?" ALLOC_FIND_TAIL;
#define ALLOC_OF_CONSUMER " AND a.consumer_id = ?"
static const char SQL_ALLOC_CONSUMER_FIRST[] =
    ALLOC_FIND_HEAD ALLOC_OF_CONSUMER ALLOC_FIND_TAIL;
static const char SQL_ALLOC_CONSUMER_NEXT[] =
    ALLOC_FIND_HEAD ALLOC_OF_CONSUMER " AND a.id > ?" ALLOC_FIND_TAIL;
#define INV_ON_PROVIDER " AND i.resource_provider_id = ?"
static const char SQL_INV_PROVIDER_FIRST[] =
    INV_FIND_HEAD INV_ON_PROVIDER INV_FIND_TAIL;
static const char SQL_INV_PROVIDER_NEXT[] =
    INV_FIND_HEAD INV_ON_PROVIDER " AND i.id > ?" INV_FIND_TAIL;

/*
 * Each missing class with the number of rows holding it, for one summary
 * line per class at the start of the pass. Both scans read only the
 * resource_class_id indexes.
 */
#define SUMMARY_HEAD \
	"SELECT m.resource_class_id, SUM(m.part = 0), SUM(m.part = 1) FROM ("
#define SUMMARY_ALLOC \
	"SELECT a.resource_class_id, 0 AS part FROM allocations a" \
	" LEFT JOIN resource_classes rc ON rc.id = a.resource_class_id" \
	" WHERE rc.id IS NULL"
#define SUMMARY_INV \
	" UNION ALL SELECT i.resource_class_id, 1 FROM inventories i" \
	" LEFT JOIN resource_classes rc ON rc.id = i.resource_class_id" \
	" WHERE rc.id IS NULL"
#define SUMMARY_TAIL \
	") m GROUP BY m.resource_class_id ORDER BY m.resource_class_id"
static const char SQL_SUMMARY[] =
    SUMMARY_HEAD SUMMARY_ALLOC SUMMARY_INV SUMMARY_TAIL;
/* The same for the scope: the provider's id twice, or the consumer's. */
static const char SQL_SUMMARY_PROVIDER[] = SUMMARY_HEAD SUMMARY_ALLOC
    ALLOC_ON_PROVIDER SUMMARY_INV INV_ON_PROVIDER SUMMARY_TAIL;
static const char SQL_SUMMARY_CONSUMER[] =
    SUMMARY_HEAD SUMMARY_ALLOC ALLOC_OF_CONSUMER SUMMARY_TAIL;

static const char *const part_tables[PART_COUNT] = {
	[PART_ALLOCATIONS] = "allocations",
	[PART_INVENTORIES] = "inventories",
};

static const char NOT_SYNCED[] =
    "standard resource classes not synced (the "
    "Placement API syncs them when it starts)";
static const char DANGLING[] = "dangling custom resource class";

static const char *
kind(int64_t class_id)
{
	return class_id < MIN_CUSTOM_CLASS_ID ? "standard" : "custom";
}

static const char *
meaning(int64_t class_id)
{
	return class_id < MIN_CUSTOM_CLASS_ID ? NOT_SYNCED : DANGLING;
}

/* One warning per missing class: its kind and how many rows hold it. */
static int
log_summary(struct pj_ctx *ctx, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	struct pj_param p[2];
	size_t np = pj_scope_param(&ctx->scope, p);
	bool row;
	int rc;

	if (ctx->scope.kind == PJ_SCOPE_PROVIDER) {
		p[np++] = p[0];
		rc = pj_stmt_prepare(ctx->db, SQL_SUMMARY_PROVIDER, &st, err);
	} else if (ctx->scope.kind == PJ_SCOPE_CONSUMER) {
		rc = pj_stmt_prepare(ctx->db, SQL_SUMMARY_CONSUMER, &st, err);
	} else {
		rc = pj_stmt_prepare(ctx->db, SQL_SUMMARY, &st, err);
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, p, np, err);
	while (rc == PJ_OK) {
		int64_t id;

		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		id = pj_stmt_int(st, 0);
		pj_log_warn("resource_class_missing",
		    "pass=dangling_resource_classes resource_class_id=%lld"
		    " kind=%s allocations=%lld inventories=%lld what=\"%s\"",
		    (long long)id, kind(id), (long long)pj_stmt_int(st, 1),
		    (long long)pj_stmt_int(st, 2), meaning(id));
	}
	pj_stmt_close(st);
	return rc;
}

static int
prepare_scoped(struct pj_db *db, enum pj_scope_kind kind, unsigned int part,
    bool first, struct pj_stmt **st, struct pj_error *err)
{
	if (kind == PJ_SCOPE_CONSUMER)
		return first
		    ? pj_stmt_prepare(db, SQL_ALLOC_CONSUMER_FIRST, st, err)
		    : pj_stmt_prepare(db, SQL_ALLOC_CONSUMER_NEXT, st, err);
	if (part == PART_ALLOCATIONS)
		return first
		    ? pj_stmt_prepare(db, SQL_ALLOC_PROVIDER_FIRST, st, err)
		    : pj_stmt_prepare(db, SQL_ALLOC_PROVIDER_NEXT, st, err);
	return first ? pj_stmt_prepare(db, SQL_INV_PROVIDER_FIRST, st, err)
	             : pj_stmt_prepare(db, SQL_INV_PROVIDER_NEXT, st, err);
}

static int
prepare_find(struct pj_db *db, enum pj_scope_kind kind, unsigned int part,
    bool first, struct pj_stmt **st, struct pj_error *err)
{
	if (kind != PJ_SCOPE_NONE)
		return prepare_scoped(db, kind, part, first, st, err);
	if (part == PART_ALLOCATIONS)
		return first
		    ? pj_stmt_prepare(db, SQL_ALLOC_FIND_FIRST, st, err)
		    : pj_stmt_prepare(db, SQL_ALLOC_FIND_NEXT, st, err);
	return first ? pj_stmt_prepare(db, SQL_INV_FIND_FIRST, st, err)
	             : pj_stmt_prepare(db, SQL_INV_FIND_NEXT, st, err);
}

static int
find_part(struct pj_ctx *ctx, unsigned int part, const struct pj_key *after,
    struct pj_batch *b, struct pj_error *err)
{
	struct pj_param p[3];
	struct pj_stmt *st = NULL;
	size_t n = 0, np = pj_scope_param(&ctx->scope, p);
	bool row;
	int rc;

	rc = prepare_find(
	    ctx->db, ctx->scope.kind, part, after == NULL, &st, err);
	if (rc)
		goto out;
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
		b->keys[n].id2 = pj_stmt_int(st, 1);
		n++;
	}
	if (rc == PJ_OK)
		b->n = n;
out:
	pj_stmt_close(st);
	return rc;
}

/* A batch holds rows of one table: inventories start when allocations
 * have nothing left after the cursor. */
static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	unsigned int part = after == NULL ? 0 : after->part;
	/* A consumer holds allocations, never inventories. */
	unsigned int parts = ctx->scope.kind == PJ_SCOPE_CONSUMER
	    ? PART_INVENTORIES
	    : PART_COUNT;
	int rc = PJ_OK;

	if (after == NULL)
		rc = log_summary(ctx, err);
	while (rc == PJ_OK) {
		rc = find_part(ctx, part, after, b, err);
		if (rc || b->n > 0 || part + 1 >= parts)
			break;
		part++;
		after = NULL;
	}
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	unsigned int part = key->part < PART_COUNT ? key->part : 0;

	snprintf(buf, size, "table=%s id=%lld resource_class_id=%lld: %s",
	    part_tables[part], (long long)key->id, (long long)key->id2,
	    key->id2 < MIN_CUSTOM_CLASS_ID ? "standard class not synced"
	                                   : "dangling custom class");
}

/* No repair_batch: the engine never repairs a pass without one, and the
 * config cannot set this one to repair. */
const struct pj_pass pj_pass_dangling_resource_classes = {
	.name = "dangling_resource_classes",
	.description =
	    "allocations and inventories of a missing resource class",
	.scopes = PJ_SCOPES(PJ_SCOPE_PROVIDER) | PJ_SCOPES(PJ_SCOPE_CONSUMER),
	.find_batch = find_batch,
	.describe = describe,
};
