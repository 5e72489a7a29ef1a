/*
 * Incomplete consumers: allocations whose consumer_id has no consumers row.
 * Repair creates the row with the configured "incomplete" project and user,
 * as Placement's own online migration create_incomplete_consumers does.
 */
#include "worker/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/schema.h"
#include "common/strings.h"
#include "worker/sentinels.h"

/*
 * Keyset pages over allocations_consumer_id_idx; the join probes
 * uniq_consumers0uuid. GROUP BY lets the collation decide which ids are the
 * same consumer (case and trailing spaces do not count).
 */
#define FIND_HEAD \
	"SELECT a.consumer_id FROM allocations a" \
	" LEFT JOIN consumers c ON c.uuid = a.consumer_id" \
	" WHERE c.id IS NULL"
#define FIND_TAIL " GROUP BY a.consumer_id ORDER BY a.consumer_id LIMIT ?"
static const char SQL_FIND_FIRST[] = FIND_HEAD FIND_TAIL;
static const char SQL_FIND_NEXT[] =
    FIND_HEAD " AND a.consumer_id > ?" FIND_TAIL;
/* --provider: the provider's allocations, read through
 * allocations_resource_provider_class_used_idx (a compute node's few). */
#define ON_PROVIDER " AND a.resource_provider_id = ?"
static const char SQL_PROVIDER_FIRST[] = FIND_HEAD ON_PROVIDER FIND_TAIL;
static const char SQL_PROVIDER_NEXT[] =
    FIND_HEAD ON_PROVIDER " AND a.consumer_id > ?" FIND_TAIL;
/* --consumer: its allocations, at most one key. */
#define OF_CONSUMER " AND a.consumer_id = ?"
static const char SQL_CONSUMER_FIRST[] = FIND_HEAD OF_CONSUMER FIND_TAIL;
static const char SQL_CONSUMER_NEXT[] =
    FIND_HEAD OF_CONSUMER " AND a.consumer_id > ?" FIND_TAIL;

/*
 * Locks the gap where each candidate's consumers row would go (a unique
 * index probe that finds nothing takes a gap lock under REPEATABLE READ,
 * which common/db.c sets), so no one can create it until COMMIT, and
 * counts the candidates that got their row since find_batch. Only gap
 * locks on rows that do not exist: they block nothing but inserts of these
 * very consumers, so they cannot close a lock-order cycle with Placement's
 * writers, and healthy consumers stay free for the API.
 */
static const char SQL_LOCK[] =
    "SELECT COUNT(c.id) FROM" PJ_SQL_BATCH_KEYS
    " LEFT JOIN consumers c ON c.uuid = j.k FOR UPDATE";

/*
 * Re-checks the rest of the damage under the lock and repairs it. An
 * INSERT ... SELECT reads its source rows with shared locks (REPEATABLE
 * READ), so the allocation that makes a consumer incomplete cannot be
 * deleted between this re-check and COMMIT, nor the incomplete project and
 * user rows it joins (found here by external id, so a batch needs no
 * statements of its own to read them; when one is missing nothing is
 * inserted). When the lock found every consumers row still missing, the
 * gap locks keep it so and the insert need not look again; otherwise it
 * skips the ones made meanwhile.
 */
#define REPAIR_HEAD \
	"INSERT INTO consumers" \
	" (uuid, project_id, user_id, generation, consumer_type_id, created_at)" \
	" SELECT j.k, p.id, u.id, 0, NULL, UTC_TIMESTAMP() FROM" PJ_SQL_BATCH_KEYS \
	" JOIN projects p ON p.external_id = ?" \
	" JOIN users u ON u.external_id = ?" \
	" WHERE EXISTS (SELECT 1 FROM allocations a WHERE a.consumer_id = j.k)"
static const char SQL_REPAIR[] = REPAIR_HEAD;
static const char SQL_REPAIR_SKIP_MADE[] = REPAIR_HEAD
    " AND NOT EXISTS (SELECT 1 FROM consumers c WHERE c.uuid = j.k)";

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

static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	static const struct pj_key_columns columns = { -1, -1, 0, -1 };
	struct pj_param p[3];
	struct pj_stmt *st = NULL;
	size_t np = pj_scope_param(&ctx->scope, p);
	int rc;

	if (after != NULL)
		p[np++] = PJ_TEXT(after->text);
	p[np++] = PJ_INT((int64_t)b->cap);
	rc = prepare_find(ctx, after == NULL, &st, err);
	if (rc == PJ_OK)
		rc = pj_batch_read(st, p, np, &columns, b, err);
	return rc;
}

/* Locks b's gaps; *made: how many of its consumers exist by now. */
static int
lock_batch(struct pj_ctx *ctx, const struct pj_param *keys, int64_t *made,
    struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	rc = pj_db_stmt(ctx->db, SQL_LOCK, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, keys, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc == PJ_OK)
		*made = row ? pj_stmt_int(st, 0) : 0;
	return rc;
}

static int
insert_batch(struct pj_ctx *ctx, const struct pj_param *keys, int64_t made,
    uint64_t *inserted, struct pj_error *err)
{
	const struct pj_placement_config *pc = &ctx->cfg->placement;
	struct pj_param p[3] = { *keys, PJ_TEXT(pc->incomplete_project_id),
		PJ_TEXT(pc->incomplete_user_id) };

	if (made > 0)
		return pj_db_exec(
		    ctx->db, SQL_REPAIR_SKIP_MADE, p, 3, inserted, err);
	return pj_db_exec(ctx->db, SQL_REPAIR, p, 3, inserted, err);
}

/*
 * Nothing inserted means the incomplete project or user row is missing
 * (first run on this database) or every candidate lost its allocations:
 * make the rows if missing, after our gap locks as before, and insert
 * again.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	int64_t project_id = 0, user_id = 0, made = 0;
	uint64_t inserted = 0;
	struct pj_param keys;
	char *json = NULL;
	int rc;

	rc = pj_batch_json(b, &json, err);
	if (rc)
		goto out;
	keys = PJ_TEXT(json);
	rc = lock_batch(ctx, &keys, &made, err);
	if (rc == PJ_OK)
		rc = insert_batch(ctx, &keys, made, &inserted, err);
	if (rc == PJ_OK && inserted == 0) {
		rc = pj_sentinels_ensure(ctx, &project_id, &user_id, err);
		if (rc == PJ_OK)
			rc = insert_batch(ctx, &keys, made, &inserted, err);
	}
	if (rc == PJ_OK)
		*repaired += (size_t)inserted;
out:
	free(json);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	char id[PJ_KEY_TEXT_MAX];

	snprintf(buf, size, "consumer=\"%s\" has allocations but no row",
	    pj_log_uuid(key->text, id, sizeof(id)));
}

static const struct pj_grant grants[] = {
	{ "consumers", PJ_PRIV_INSERT },
	{ "projects", PJ_PRIV_INSERT },
	{ "users", PJ_PRIV_INSERT },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_incomplete_consumers = {
	.name = "incomplete_consumers",
	.description = "allocations whose consumer has no consumers row",
	.scopes = PJ_SCOPES(PJ_SCOPE_PROVIDER) | PJ_SCOPES(PJ_SCOPE_CONSUMER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
