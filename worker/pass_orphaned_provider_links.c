/*
 * Orphaned provider links: resource_provider_aggregates rows whose
 * provider or placement_aggregates row is gone, and resource_provider_traits
 * rows whose provider or trait is gone. Aggregate links have no foreign
 * key; trait links do, so those appear only after a restore with
 * FOREIGN_KEY_CHECKS=0 (internals section 7). Repair archives and deletes
 * them, and bumps the generation of a provider that is still there, as
 * Placement does when it changes a provider's aggregates or traits.
 *
 * The pass pages the two tables one after another (pj_key.part), each in
 * (resource_provider_id, other id) order: the aggregate table's primary
 * key, the trait table's (resource_provider_id, trait_id) index.
 */
#include "worker/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "common/strings.h"
#include "worker/archive.h"

enum part { PART_AGGREGATES, PART_TRAITS, PART_COUNT };

/* The damage, in one place per table for find, lock, archive, delete. */
#define AGG_FROM \
	" FROM resource_provider_aggregates rpa" \
	" LEFT JOIN resource_providers rp ON rp.id = rpa.resource_provider_id" \
	" LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id"
#define AGG_DAMAGE " (rp.id IS NULL OR pa.id IS NULL)"
#define TRAIT_FROM \
	" FROM resource_provider_traits rpt" \
	" LEFT JOIN resource_providers rp ON rp.id = rpt.resource_provider_id" \
	" LEFT JOIN traits t ON t.id = rpt.trait_id"
#define TRAIT_DAMAGE " (rp.id IS NULL OR t.id IS NULL)"

/* Keyset after (provider, other): provider >= ? AND (provider > ? OR
 * other > ?), a range the optimizer reads off the index. */
#define AGG_FIND_HEAD \
	"SELECT rpa.resource_provider_id, rpa.aggregate_id, rp.id IS NULL" AGG_FROM \
	" WHERE" AGG_DAMAGE
#define AGG_FIND_NEXT \
	" AND rpa.resource_provider_id >= ? AND (rpa.resource_provider_id > ?" \
	" OR rpa.aggregate_id > ?)"
#define AGG_FIND_TAIL \
	" ORDER BY rpa.resource_provider_id, rpa.aggregate_id LIMIT ?"
static const char SQL_AGG_FIND_FIRST[] = AGG_FIND_HEAD AGG_FIND_TAIL;
static const char SQL_AGG_FIND_NEXT[] =
    AGG_FIND_HEAD AGG_FIND_NEXT AGG_FIND_TAIL;

#define TRAIT_FIND_HEAD \
	"SELECT rpt.resource_provider_id, rpt.trait_id, rp.id IS NULL" TRAIT_FROM \
	" WHERE" TRAIT_DAMAGE
#define TRAIT_FIND_NEXT \
	" AND rpt.resource_provider_id >= ? AND (rpt.resource_provider_id > ?" \
	" OR rpt.trait_id > ?)"
#define TRAIT_FIND_TAIL \
	" ORDER BY rpt.resource_provider_id, rpt.trait_id LIMIT ?"
static const char SQL_TRAIT_FIND_FIRST[] = TRAIT_FIND_HEAD TRAIT_FIND_TAIL;
static const char SQL_TRAIT_FIND_NEXT[] =
    TRAIT_FIND_HEAD TRAIT_FIND_NEXT TRAIT_FIND_TAIL;

/* --provider: the provider's links only (parameters: provider id, then
 * the other id after the cursor). */
#define AGG_OF_PROVIDER " AND rpa.resource_provider_id = ?"
static const char SQL_AGG_PROVIDER_FIRST[] =
    AGG_FIND_HEAD AGG_OF_PROVIDER AGG_FIND_TAIL;
static const char SQL_AGG_PROVIDER_NEXT[] =
    AGG_FIND_HEAD AGG_OF_PROVIDER " AND rpa.aggregate_id > ?" AGG_FIND_TAIL;
#define TRAIT_OF_PROVIDER " AND rpt.resource_provider_id = ?"
static const char SQL_TRAIT_PROVIDER_FIRST[] =
    TRAIT_FIND_HEAD TRAIT_OF_PROVIDER TRAIT_FIND_TAIL;
static const char SQL_TRAIT_PROVIDER_NEXT[] =
    TRAIT_FIND_HEAD TRAIT_OF_PROVIDER " AND rpt.trait_id > ?" TRAIT_FIND_TAIL;

/*
 * The batch's own links, each by its primary key (pj_batch_json: id =
 * resource_provider_id, id2 = the other id), joined to what they point
 * at. Every statement below starts from the key list (STRAIGHT_JOIN: the
 * optimizer must not prefer a scan, which would lock more) and touches
 * no other link, so a scoped batch stays inside its provider.
 */
#define AGG_KEYED \
	" FROM" PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN resource_provider_aggregates rpa" \
	" ON rpa.resource_provider_id = j.id AND rpa.aggregate_id = j.id2"
#define TRAIT_KEYED \
	" FROM" PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN resource_provider_traits rpt" \
	" ON rpt.trait_id = j.id2 AND rpt.resource_provider_id = j.id"
#define AGG_KEYED_DAMAGE \
	AGG_KEYED \
	" LEFT JOIN resource_providers rp ON rp.id = rpa.resource_provider_id" \
	" LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id" \
	" WHERE" AGG_DAMAGE
#define TRAIT_KEYED_DAMAGE \
	TRAIT_KEYED \
	" LEFT JOIN resource_providers rp ON rp.id = rpt.resource_provider_id" \
	" LEFT JOIN traits t ON t.id = rpt.trait_id WHERE" TRAIT_DAMAGE

/*
 * First the batch's links, so no one changes or removes one until
 * COMMIT; then the providers that stay and lose a link. Placement's
 * aggregate and trait writes take them in this order too: links, then the
 * provider's generation. A link whose target is gone is re-checked by the
 * archive and delete below, which read the target only to see it missing.
 */
static const char SQL_AGG_LOCK[] =
    "SELECT COUNT(rpa.aggregate_id)" AGG_KEYED " FOR UPDATE";
static const char SQL_TRAIT_LOCK[] =
    "SELECT COUNT(rpt.trait_id)" TRAIT_KEYED " FOR UPDATE";
static const char SQL_AGG_PROVIDERS[] =
    "SELECT rp.id, rp.generation, rp.generation IS NULL" AGG_KEYED
    " JOIN resource_providers rp ON rp.id = rpa.resource_provider_id"
    " LEFT JOIN placement_aggregates pa ON pa.id = rpa.aggregate_id"
    " WHERE pa.id IS NULL ORDER BY rp.id FOR UPDATE";
static const char SQL_TRAIT_PROVIDERS[] =
    "SELECT rp.id, rp.generation, rp.generation IS NULL" TRAIT_KEYED
    " JOIN resource_providers rp ON rp.id = rpt.resource_provider_id"
    " LEFT JOIN traits t ON t.id = rpt.trait_id"
    " WHERE t.id IS NULL ORDER BY rp.id FOR UPDATE";

/* Archive and delete select the damage alike, under the locks above.
 * Parameters: run id (archive only), keys. */
static const char SQL_AGG_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_provider_links', 'resource_provider_aggregates',"
    " CONCAT(rpa.resource_provider_id, ',', rpa.aggregate_id), 'delete', " PJ_ARCHIVE_PROVIDER_AGGREGATE
    ", UTC_TIMESTAMP(6)" AGG_KEYED_DAMAGE;
static const char SQL_AGG_DELETE[] = "DELETE rpa" AGG_KEYED_DAMAGE;
/* row_key in primary key order: (trait_id, resource_provider_id). */
static const char SQL_TRAIT_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_provider_links', 'resource_provider_traits',"
    " CONCAT(rpt.trait_id, ',', rpt.resource_provider_id), 'delete', " PJ_ARCHIVE_PROVIDER_TRAIT
    ", UTC_TIMESTAMP(6)" TRAIT_KEYED_DAMAGE;
static const char SQL_TRAIT_DELETE[] = "DELETE rpt" TRAIT_KEYED_DAMAGE;

/* Compare-and-swap, all of the batch's providers at once: each with the
 * generation read under the lock (j.id, j.generation). */
static const char SQL_BUMP[] =
    "UPDATE" PJ_SQL_BATCH_KEYS
    " STRAIGHT_JOIN resource_providers rp ON rp.id = j.id"
    " SET rp.generation = rp.generation + 1,"
    " rp.updated_at = UTC_TIMESTAMP() WHERE rp.generation = j.generation";

static const char *const part_tables[PART_COUNT] = {
	[PART_AGGREGATES] = "resource_provider_aggregates",
	[PART_TRAITS] = "resource_provider_traits",
};
static const char *const part_columns[PART_COUNT] = {
	[PART_AGGREGATES] = "aggregate_id",
	[PART_TRAITS] = "trait_id",
};
static const char *const part_targets[PART_COUNT] = {
	[PART_AGGREGATES] = "aggregate",
	[PART_TRAITS] = "trait",
};

/* The statements of one part; NULL until prepared. */
struct part_stmts {
	struct pj_stmt *lock, *providers, *archive, *remove, *bump;
};

static int
prepare_find(struct pj_db *db, unsigned int part, bool first, bool scoped,
    struct pj_stmt **st, struct pj_error *err)
{
	if (scoped && part == PART_AGGREGATES)
		return first ? pj_db_stmt(db, SQL_AGG_PROVIDER_FIRST, st, err)
		             : pj_db_stmt(db, SQL_AGG_PROVIDER_NEXT, st, err);
	if (scoped)
		return first ? pj_db_stmt(db, SQL_TRAIT_PROVIDER_FIRST, st, err)
		             : pj_db_stmt(db, SQL_TRAIT_PROVIDER_NEXT, st, err);
	if (part == PART_AGGREGATES)
		return first ? pj_db_stmt(db, SQL_AGG_FIND_FIRST, st, err)
		             : pj_db_stmt(db, SQL_AGG_FIND_NEXT, st, err);
	return first ? pj_db_stmt(db, SQL_TRAIT_FIND_FIRST, st, err)
	             : pj_db_stmt(db, SQL_TRAIT_FIND_NEXT, st, err);
}

/* Up to b->cap damaged links of one part after *after (NULL: from the
 * start), into b->keys[0..]; sets b->n. */
static int
find_part(struct pj_ctx *ctx, unsigned int part, const struct pj_key *after,
    struct pj_batch *b, struct pj_error *err)
{
	bool scoped = ctx->scope.kind == PJ_SCOPE_PROVIDER;
	struct pj_param p[4];
	struct pj_stmt *st = NULL;
	size_t n = 0, np = 0;
	bool row;
	int rc;

	rc = prepare_find(ctx->db, part, after == NULL, scoped, &st, err);
	if (rc)
		goto out;
	np = pj_scope_param(&ctx->scope, p);
	if (after != NULL && !scoped) {
		p[np++] = PJ_INT(after->id);
		p[np++] = PJ_INT(after->id);
	}
	if (after != NULL)
		p[np++] = PJ_INT(after->id2);
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
		/* For describe only: which side of the link is gone. */
		pj_strlcpy(b->keys[n].text,
		    pj_stmt_int(st, 2) ? "provider" : part_targets[part],
		    sizeof(b->keys[n].text));
		n++;
	}
	if (rc == PJ_OK)
		b->n = n;
out:
	return rc;
}

/* A batch holds keys of one part: the next part starts when this one has
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

static int
prepare_part(struct pj_db *db, unsigned int part, struct part_stmts *s,
    struct pj_error *err)
{
	int rc;

	if (part == PART_AGGREGATES) {
		rc = pj_db_stmt(db, SQL_AGG_LOCK, &s->lock, err);
		if (rc == PJ_OK)
			rc = pj_db_stmt(
			    db, SQL_AGG_PROVIDERS, &s->providers, err);
		if (rc == PJ_OK)
			rc = pj_db_stmt(db, SQL_AGG_ARCHIVE, &s->archive, err);
		if (rc == PJ_OK)
			rc = pj_db_stmt(db, SQL_AGG_DELETE, &s->remove, err);
	} else {
		rc = pj_db_stmt(db, SQL_TRAIT_LOCK, &s->lock, err);
		if (rc == PJ_OK)
			rc = pj_db_stmt(
			    db, SQL_TRAIT_PROVIDERS, &s->providers, err);
		if (rc == PJ_OK)
			rc =
			    pj_db_stmt(db, SQL_TRAIT_ARCHIVE, &s->archive, err);
		if (rc == PJ_OK)
			rc = pj_db_stmt(db, SQL_TRAIT_DELETE, &s->remove, err);
	}
	if (rc == PJ_OK)
		rc = pj_db_stmt(db, SQL_BUMP, &s->bump, err);
	return rc;
}

/* A provider that stays and loses links in this batch. */
struct provider {
	int64_t id, generation;
};

/*
 * Locks the surviving providers of the batch's damaged links (in id order)
 * and reads their generations into *out (caller frees), one entry each.
 */
static int
lock_providers(struct part_stmts *s, const struct pj_param *keys,
    struct provider **out, size_t *n_out, struct pj_error *err)
{
	struct provider *list = NULL;
	size_t n = 0, cap;
	bool row;
	int rc;

	rc = pj_stmt_exec(s->providers, keys, 1, err);
	if (rc)
		goto out;
	cap = (size_t)pj_stmt_rows(s->providers);
	list = calloc(cap > 0 ? cap : 1, sizeof(*list));
	if (list == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "%zu providers", cap);
		goto out;
	}
	while (rc == PJ_OK && n < cap) {
		rc = pj_stmt_fetch(s->providers, &row, err);
		if (rc || !row)
			break;
		/* A NULL generation (never written by Placement) has
		 * nothing to bump. Rows come in id order, once a link. */
		if (pj_stmt_int(s->providers, 2) ||
		    (n > 0 && list[n - 1].id == pj_stmt_int(s->providers, 0)))
			continue;
		list[n].id = pj_stmt_int(s->providers, 0);
		list[n].generation = pj_stmt_int(s->providers, 1);
		n++;
	}
	if (rc)
		goto out;
	*out = list;
	*n_out = n;
	list = NULL;
out:
	free(list);
	return rc;
}

/* Every provider bumped by one statement; one missing is a conflict. */
static int
bump_providers(struct part_stmts *s, const struct provider *list, size_t n,
    struct pj_error *err)
{
	struct pj_batch b = { NULL, n, n };
	struct pj_param p;
	char *json = NULL;
	size_t i;
	int rc;

	if (n == 0)
		return PJ_OK;
	b.keys = calloc(n, sizeof(*b.keys));
	if (b.keys == NULL)
		return pj_error_set(err, PJ_ENOMEM, "%zu providers", n);
	for (i = 0; i < n; i++) {
		b.keys[i].id = list[i].id;
		b.keys[i].generation = list[i].generation;
	}
	rc = pj_batch_json(&b, &json, err);
	if (rc == PJ_OK) {
		p = PJ_TEXT(json);
		rc = pj_stmt_exec(s->bump, &p, 1, err);
	}
	if (rc == PJ_OK && pj_stmt_affected(s->bump) != n)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "resource providers: %llu of %zu generations unchanged",
		    (unsigned long long)pj_stmt_affected(s->bump), n);
	free(json);
	free(b.keys);
	return rc;
}

static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	unsigned int part = b->keys[0].part;
	struct pj_param p[2] = { PJ_TEXT(ctx->run_id), PJ_TEXT(NULL) };
	struct part_stmts s = { 0 };
	struct provider *providers = NULL;
	size_t n_providers = 0;
	uint64_t archived = 0, deleted;
	char *keys = NULL;
	int rc;

	if (part >= PART_COUNT || b->keys[b->n - 1].part != part)
		return pj_error_set(err, PJ_EINTERNAL,
		    "orphaned_provider_links: batch spans tables");
	rc = pj_batch_json(b, &keys, err);
	if (rc)
		return rc;
	p[1] = PJ_TEXT(keys);
	rc = prepare_part(ctx->db, part, &s, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(s.lock, &p[1], 1, err);
	if (rc == PJ_OK)
		rc = lock_providers(&s, &p[1], &providers, &n_providers, err);
	if (rc == PJ_OK && ctx->archive) {
		rc = pj_stmt_exec(s.archive, p, 2, err);
		archived = rc == PJ_OK ? pj_stmt_affected(s.archive) : 0;
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(s.remove, &p[1], 1, err);
	if (rc)
		goto out;
	deleted = pj_stmt_affected(s.remove);
	if (ctx->archive && archived != deleted) {
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "%s: archived %llu rows, deleted %llu", part_tables[part],
		    (unsigned long long)archived, (unsigned long long)deleted);
		goto out;
	}
	rc = bump_providers(&s, providers, n_providers, err);
	if (rc == PJ_OK)
		*repaired += (size_t)deleted;
out:
	free(providers);
	free(keys);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	unsigned int part = key->part < PART_COUNT ? key->part : 0;

	snprintf(buf, size,
	    "table=%s resource_provider_id=%lld %s=%lld: %s gone",
	    part_tables[part], (long long)key->id, part_columns[part],
	    (long long)key->id2, key->text);
}

static const struct pj_grant grants[] = {
	{ "resource_provider_aggregates", PJ_PRIV_DELETE },
	{ "resource_provider_traits", PJ_PRIV_DELETE },
	{ "resource_providers", PJ_PRIV_UPDATE },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_orphaned_provider_links = {
	.name = "orphaned_provider_links",
	.description =
	    "aggregate and trait links to a missing provider, "
	    "aggregate or trait",
	.destructive = true,
	.scopes = PJ_SCOPES(PJ_SCOPE_PROVIDER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
