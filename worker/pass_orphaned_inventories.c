/*
 * Orphaned inventories: inventories whose resource provider row is gone.
 * Placement deletes a provider's inventories in the transaction that
 * deletes the provider, and inventories have no foreign key (internals
 * section 7), so these come from edits outside Placement. Repair archives
 * and deletes them; no generation moves, as the provider is gone.
 */
#include "worker/pass.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/schema.h"
#include "worker/archive.h"

/* The damage, in one place for find, archive and delete alike. */
#define DAMAGE_FROM \
	" FROM inventories i" \
	" LEFT JOIN resource_providers rp ON rp.id = i.resource_provider_id"
#define DAMAGE " rp.id IS NULL"

/* Keyset pages over the primary key; the join probes the provider's. */
#define FIND_HEAD \
	"SELECT i.id, i.resource_provider_id" DAMAGE_FROM " WHERE" DAMAGE
#define FIND_TAIL " ORDER BY i.id LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD FIND_TAIL;
static const char SQL_FIND_NEXT[] = FIND_HEAD " AND i.id > ?" FIND_TAIL;

/*
 * Locks the batch's own inventory rows, so no one changes them until
 * COMMIT. Only inventories: a provider row that is gone cannot be locked,
 * and the archive and delete below read a provider row only to see that
 * it is missing. Rows added meanwhile are not in the key list, so they are
 * never touched.
 */
static const char SQL_LOCK[] =
    "SELECT COUNT(i.id) FROM" PJ_SQL_BATCH_KEYS
    " STRAIGHT_JOIN inventories i ON i.id = j.id FOR UPDATE";

/* Re-checks the damage under the lock: archive and delete see the same
 * rows, the batch's keys that are still orphaned. */
#define KEYS_DAMAGE \
	" FROM" PJ_SQL_BATCH_KEYS \
	" STRAIGHT_JOIN inventories i ON i.id = j.id" \
	" LEFT JOIN resource_providers rp ON rp.id = i.resource_provider_id" \
	" WHERE" DAMAGE
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'orphaned_inventories', 'inventories', CAST(i.id AS CHAR),"
    " 'delete', " PJ_ARCHIVE_INVENTORY ", UTC_TIMESTAMP(6)" KEYS_DAMAGE;
static const char SQL_DELETE[] = "DELETE i" KEYS_DAMAGE;

static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	static const struct pj_key_columns columns = { 0, 1, -1, -1 };
	struct pj_param p[2];
	struct pj_stmt *st = NULL;
	int rc;

	if (after == NULL) {
		p[0] = PJ_INT((int64_t)b->cap);
		rc = pj_db_stmt(ctx->db, SQL_FIND_FIRST, &st, err);
	} else {
		p[0] = PJ_INT(after->id);
		p[1] = PJ_INT((int64_t)b->cap);
		rc = pj_db_stmt(ctx->db, SQL_FIND_NEXT, &st, err);
	}
	if (rc == PJ_OK)
		rc = pj_batch_read(
		    st, p, after == NULL ? 1 : 2, &columns, b, err);
	return rc;
}

static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_param p[2];
	uint64_t archived = 0, deleted = 0;
	char *keys = NULL;
	int rc;

	rc = pj_batch_json(b, &keys, err);
	if (rc)
		goto out;
	p[0] = PJ_TEXT(ctx->run_id);
	p[1] = PJ_TEXT(keys);
	rc = pj_db_exec(ctx->db, SQL_LOCK, &p[1], 1, NULL, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_db_exec(ctx->db, SQL_ARCHIVE, p, 2, &archived, err);
	if (rc == PJ_OK)
		rc = pj_db_exec(ctx->db, SQL_DELETE, &p[1], 1, &deleted, err);
	if (rc)
		goto out;
	if (ctx->archive && archived != deleted) {
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "inventories %lld..%lld: archived %llu rows, deleted %llu",
		    (long long)b->keys[0].id, (long long)b->keys[b->n - 1].id,
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
	snprintf(buf, size,
	    "inventory=%lld resource_provider_id=%lld: provider gone",
	    (long long)key->id, (long long)key->id2);
}

static const struct pj_grant grants[] = {
	{ "inventories", PJ_PRIV_DELETE },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_orphaned_inventories = {
	.name = "orphaned_inventories",
	.description = "inventories whose resource provider is gone",
	.destructive = true,
	/* No scope: a provider that exists has no orphaned inventories, and
	 * a gone one's uuid is nowhere in the database any more. */
	.scopes = 0,
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
