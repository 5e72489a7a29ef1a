/*
 * Root provider ids: providers whose root_provider_id is not the top of
 * their parent chain. NULL is what Placement's own online migration
 * set_root_provider_ids fixes (pre-Stein data; a committed NULL is always
 * damage); a wrong root comes from surgery or partial restores. The true
 * root is found by walking parent_provider_id up to a provider without a
 * parent, never from the stored roots, so a whole damaged chain is fixed in
 * one run whatever its key order.
 *
 * A chain that ends at a missing provider (only with FOREIGN_KEY_CHECKS=0),
 * loops, or is deeper than MAX_DEPTH has no true root: such a provider is
 * found and reported but never repaired. find_batch puts it in a batch of
 * its own, which repair_batch fails with PJ_EINVAL naming the reason, so
 * the report counts it as failed (and remaining) and keeps the first
 * reason in the pass's error, without holding back the other repairs.
 */
#include "worker/pass.h"

#include <stdio.h>

#include "common/log.h"
#include "common/strings.h"
#include "worker/archive.h"

/* Levels walked above a provider; real trees are a few deep. */
#define MAX_DEPTH 64
#define STR_(x) #x
#define STR(x) STR_(x)

/* What find_batch learnt about a provider (the query's last column). */
enum kind {
	KIND_OK = 0,
	KIND_WRONG = 1,   /* a true root exists; root_provider_id differs */
	KIND_MISSING = 2, /* the chain reaches a provider with no row */
	KIND_LOOP = 3,    /* the chain comes back to itself */
	KIND_DEEP = 4,    /* no top within MAX_DEPTH levels, no loop seen */
};

/*
 * One window of up to ? providers in id order, each walked up its parent
 * chain by primary-key probes (bounded: the walk stops at MAX_DEPTH).
 * Every provider of the window is returned, damaged or not, so the caller
 * knows where the window ended. last_parent is the parent named by the
 * deepest row reached: the missing provider when the chain breaks.
 */
#define WINDOW_HEAD "WITH RECURSIVE w AS (SELECT id FROM resource_providers"
#define WINDOW_TAIL \
	" ORDER BY id LIMIT ?)," \
	" up (start, cur, parent, depth) AS (" \
	"SELECT w.id, rp.id, rp.parent_provider_id, 0" \
	" FROM w JOIN resource_providers rp ON rp.id = w.id" \
	" UNION ALL" \
	" SELECT up.start, p.id, p.parent_provider_id, up.depth + 1" \
	" FROM up JOIN resource_providers p ON p.id = up.parent" \
	" WHERE up.depth < " STR(MAX_DEPTH) ")," \
	" walk AS (SELECT start," \
	" MAX(CASE WHEN parent IS NULL THEN cur END) AS want," \
	" MAX(depth) AS depth, COUNT(DISTINCT cur) < COUNT(*) AS looped," \
	" CAST(SUBSTRING_INDEX(GROUP_CONCAT(parent ORDER BY depth DESC)," \
	" ',', 1) AS SIGNED) AS last_parent FROM up GROUP BY start)" \
	" SELECT rp.id, rp.uuid, rp.root_provider_id, walk.want," \
	" walk.last_parent, CASE" \
	" WHEN walk.want IS NOT NULL" \
	" THEN NOT (rp.root_provider_id <=> walk.want)" \
	" WHEN walk.looped THEN 3" \
	" WHEN walk.depth >= " STR(MAX_DEPTH) " THEN 4 ELSE 2 END" \
	" FROM walk JOIN resource_providers rp ON rp.id = walk.start" \
	" ORDER BY rp.id"
static const char SQL_WINDOW_FIRST[] = WINDOW_HEAD WINDOW_TAIL;
static const char SQL_WINDOW_NEXT[] = WINDOW_HEAD " WHERE id > ?" WINDOW_TAIL;
/*
 * --provider: the windows are taken from the provider and the providers
 * below it (parent_provider_id walked down through its index, MAX_DEPTH
 * levels at most, so a loop ends), a compute node's nested tree.
 */
#define TREE_HEAD \
	"WITH RECURSIVE tree (id, depth) AS (" \
	"SELECT id, 0 FROM resource_providers WHERE id = ?" \
	" UNION ALL SELECT c.id, tree.depth + 1 FROM tree" \
	" JOIN resource_providers c ON c.parent_provider_id = tree.id" \
	" WHERE tree.depth < " STR(MAX_DEPTH) ")," \
	" w AS (SELECT DISTINCT id FROM tree"
static const char SQL_TREE_FIRST[] = TREE_HEAD WINDOW_TAIL;
static const char SQL_TREE_NEXT[] = TREE_HEAD " WHERE id > ?" WINDOW_TAIL;

/* One level of the walk under lock: nobody can re-parent (or delete) a
 * provider we read until COMMIT, so the root computed stays true. */
static const char SQL_LOCK[] =
    "SELECT parent_provider_id, root_provider_id, generation"
    " FROM resource_providers WHERE id = ? FOR UPDATE";

/* The archive and the update select exactly the same row: the provider at
 * the generation read under lock, with a root other than the true one. */
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'root_provider_ids', 'resource_providers',"
    " CAST(rp.id AS CHAR), 'update', " PJ_ARCHIVE_PROVIDER
    ", UTC_TIMESTAMP(6) FROM resource_providers rp"
    " WHERE rp.id = ? AND rp.generation <=> ?"
    " AND NOT (rp.root_provider_id <=> ?)";

/* No generation bump, as Placement's set_root_provider_ids. */
static const char SQL_FIX[] =
    "UPDATE resource_providers rp SET rp.root_provider_id = ?,"
    " rp.updated_at = UTC_TIMESTAMP()"
    " WHERE rp.id = ? AND rp.generation <=> ?"
    " AND NOT (rp.root_provider_id <=> ?)";

/* What -v shows for a candidate; kept in the key's text. */
static void
note(struct pj_key *key, const struct pj_stmt *st, enum kind kind)
{
	char uuid[PJ_KEY_TEXT_MAX], root[24];
	int n;

	pj_log_uuid(pj_stmt_text(st, 1, NULL), uuid, sizeof(uuid));
	n = snprintf(key->text, sizeof(key->text),
	    "provider=\"%.64s\" id=%lld ", uuid, (long long)key->id);
	if (n < 0 || (size_t)n >= sizeof(key->text))
		return;
	if (pj_stmt_is_null(st, 2))
		pj_strlcpy(root, "NULL", sizeof(root));
	else
		snprintf(
		    root, sizeof(root), "%lld", (long long)pj_stmt_int(st, 2));
	if (kind == KIND_WRONG)
		snprintf(key->text + n, sizeof(key->text) - (size_t)n,
		    "root_provider_id=%s want=%lld", root,
		    (long long)pj_stmt_int(st, 3));
	else if (kind == KIND_MISSING)
		snprintf(key->text + n, sizeof(key->text) - (size_t)n,
		    "root_provider_id=%s parent chain reaches missing"
		    " provider %lld: not repairable",
		    root, (long long)pj_stmt_int(st, 4));
	else
		snprintf(key->text + n, sizeof(key->text) - (size_t)n,
		    "root_provider_id=%s parent chain %s: not repairable", root,
		    kind == KIND_LOOP ? "loops"
		                      : "deeper than " STR(MAX_DEPTH));
}

/*
 * Scans windows of b->cap providers after *after until it has b->cap
 * damaged ones or the table ends. A provider that cannot be repaired ends
 * the batch: it is returned alone (or left for the next call), so its
 * failure never rolls back other repairs.
 */
static int
find_batch(struct pj_ctx *ctx, const struct pj_key *after, struct pj_batch *b,
    struct pj_error *err)
{
	struct pj_stmt *first = NULL, *next = NULL;
	struct pj_param p[3];
	int64_t last = after != NULL ? after->id : 0;
	bool started = after != NULL, done = false, row;
	uint64_t rows;
	enum kind kind;
	size_t n = 0, np;
	int rc;

	if (ctx->scope.kind == PJ_SCOPE_PROVIDER) {
		rc = pj_stmt_prepare(ctx->db, SQL_TREE_FIRST, &first, err);
		if (rc == PJ_OK)
			rc =
			    pj_stmt_prepare(ctx->db, SQL_TREE_NEXT, &next, err);
	} else {
		rc = pj_stmt_prepare(ctx->db, SQL_WINDOW_FIRST, &first, err);
		if (rc == PJ_OK)
			rc = pj_stmt_prepare(
			    ctx->db, SQL_WINDOW_NEXT, &next, err);
	}
	while (rc == PJ_OK && !done) {
		struct pj_stmt *st = started ? next : first;

		np = pj_scope_param(&ctx->scope, p);
		if (started)
			p[np++] = PJ_INT(last);
		p[np++] = PJ_INT((int64_t)b->cap);
		rc = pj_stmt_exec(st, p, np, err);
		for (rows = 0; rc == PJ_OK && !done; rows++) {
			rc = pj_stmt_fetch(st, &row, err);
			if (rc || !row)
				break;
			last = pj_stmt_int(st, 0);
			kind = (enum kind)pj_stmt_int(st, 5);
			if (kind == KIND_OK)
				continue;
			if (kind != KIND_WRONG && n > 0) {
				done = true; /* alone, in the next batch */
				break;
			}
			b->keys[n].id = last;
			note(&b->keys[n], st, kind);
			n++;
			done = kind != KIND_WRONG || n == b->cap;
		}
		started = true;
		if (rows < b->cap)
			done = true; /* the table ends in this window */
	}
	if (rc == PJ_OK)
		b->n = n;
	pj_stmt_close(first);
	pj_stmt_close(next);
	return rc;
}

/* A provider as read under lock at the bottom of its walk. */
struct target {
	int64_t id;
	bool root_null, generation_null;
	int64_t root, generation;
	int64_t want; /* the top of the chain */
};

/*
 * Walks up from t->id locking each level. *found is false if the provider
 * itself is gone. A chain that breaks, loops or is too deep is PJ_EINVAL.
 */
static int
walk_up(
    struct pj_stmt *lock, struct target *t, bool *found, struct pj_error *err)
{
	int64_t seen[MAX_DEPTH + 1];
	int64_t cur = t->id;
	struct pj_param p;
	size_t depth, i;
	bool row = false;
	int rc;

	*found = false;
	for (depth = 0; depth <= MAX_DEPTH; depth++) {
		p = PJ_INT(cur);
		rc = pj_stmt_exec(lock, &p, 1, err);
		if (rc == PJ_OK)
			rc = pj_stmt_fetch(lock, &row, err);
		if (rc || (!row && depth == 0))
			return rc;
		if (!row)
			return pj_error_set(err, PJ_EINVAL,
			    "provider %lld: parent chain reaches missing"
			    " provider %lld: not repaired",
			    (long long)t->id, (long long)cur);
		if (depth == 0) {
			*found = true;
			t->root_null = pj_stmt_is_null(lock, 1);
			t->root = pj_stmt_int(lock, 1);
			t->generation_null = pj_stmt_is_null(lock, 2);
			t->generation = pj_stmt_int(lock, 2);
		}
		if (pj_stmt_is_null(lock, 0)) {
			t->want = cur;
			return PJ_OK;
		}
		seen[depth] = cur;
		cur = pj_stmt_int(lock, 0);
		for (i = 0; i <= depth; i++) {
			if (seen[i] == cur)
				return pj_error_set(err, PJ_EINVAL,
				    "provider %lld: parent chain loops at"
				    " provider %lld: not repaired",
				    (long long)t->id, (long long)cur);
		}
	}
	return pj_error_set(err, PJ_EINVAL,
	    "provider %lld: parent chain deeper than %d: not repaired",
	    (long long)t->id, MAX_DEPTH);
}

/* One provider: lock its chain, re-check, archive, fix. Adds 1 or 0. */
static int
repair_one(struct pj_ctx *ctx, struct pj_stmt *lock, struct pj_stmt *archive,
    struct pj_stmt *fix, int64_t id, size_t *repaired, struct pj_error *err)
{
	struct target t = { .id = id };
	struct pj_param p[4];
	bool found = false;
	int rc;

	rc = walk_up(lock, &t, &found, err);
	if (rc || !found)
		return rc; /* an error, or deleted since find_batch */
	if (!t.root_null && t.root == t.want)
		return PJ_OK; /* repaired since find_batch */
	p[1] = PJ_INT(id);
	p[2] = t.generation_null ? PJ_NULL : PJ_INT(t.generation);
	p[3] = PJ_INT(t.want);
	if (archive != NULL) {
		p[0] = PJ_TEXT(ctx->run_id);
		rc = pj_stmt_exec(archive, p, 4, err);
		if (rc)
			return rc;
		if (pj_stmt_affected(archive) != 1)
			return pj_error_set(err, PJ_ECONFLICT,
			    "provider %lld: changed while archiving",
			    (long long)id);
	}
	p[0] = PJ_INT(t.want);
	rc = pj_stmt_exec(fix, p, 4, err);
	if (rc)
		return rc;
	if (pj_stmt_affected(fix) != 1)
		return pj_error_set(err, PJ_ECONFLICT,
		    "provider %lld: generation %lld changed", (long long)id,
		    (long long)t.generation);
	(*repaired)++;
	return PJ_OK;
}

/*
 * Each provider is locked with its ancestors, one at a time (a range lock
 * would stall allocation writes to every healthy provider in between), and
 * only the providers find_batch returned change: a scoped run stays in
 * its tree.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct pj_stmt *lock = NULL, *archive = NULL, *fix = NULL;
	size_t i;
	int rc;

	rc = pj_stmt_prepare(ctx->db, SQL_LOCK, &lock, err);
	if (rc == PJ_OK && ctx->archive)
		rc = pj_stmt_prepare(ctx->db, SQL_ARCHIVE, &archive, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_FIX, &fix, err);
	for (i = 0; rc == PJ_OK && i < b->n; i++)
		rc = repair_one(
		    ctx, lock, archive, fix, b->keys[i].id, repaired, err);
	pj_stmt_close(lock);
	pj_stmt_close(archive);
	pj_stmt_close(fix);
	return rc;
}

static void
describe(const struct pj_key *key, char *buf, size_t size)
{
	pj_strlcpy(buf, key->text, size);
}

static const struct pj_grant grants[] = {
	{ "resource_providers", PJ_PRIV_UPDATE },
	{ NULL, 0 },
};

const struct pj_pass pj_pass_root_provider_ids = {
	.name = "root_provider_ids",
	.description = "providers whose root_provider_id is not their root",
	.destructive = true,
	.scopes = PJ_SCOPES(PJ_SCOPE_PROVIDER),
	.find_batch = find_batch,
	.repair_batch = repair_batch,
	.grants = grants,
	.describe = describe,
};
