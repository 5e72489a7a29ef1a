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
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/schema.h"
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

/*
 * One level of the batch's walks under lock: the providers of a key list
 * (pj_batch_json: id), or the gaps where missing ones would go. Nobody can
 * re-parent (or delete) a provider we read until COMMIT, so the roots
 * computed stay true. The join starts from the list (STRAIGHT_JOIN: never
 * a scan, which would lock every provider).
 */
static const char SQL_LOCK[] =
    "SELECT rp.id, rp.parent_provider_id, rp.root_provider_id,"
    " rp.generation FROM" PJ_SQL_BATCH_KEYS
    " STRAIGHT_JOIN resource_providers rp ON rp.id = j.id FOR UPDATE";

/*
 * The archive and the update select exactly the same rows: the key list of
 * the providers to fix (id, id2 = the true root, generation as read under
 * lock; text 'null' when that generation was NULL), each at that
 * generation and with a root other than the true one.
 */
#define LISTED \
	PJ_SQL_BATCH_KEYS " STRAIGHT_JOIN resource_providers rp ON rp.id = j.id"
#define STILL_WRONG \
	" WHERE rp.generation <=> IF(j.k = 'null', NULL, j.generation)" \
	" AND NOT (rp.root_provider_id <=> j.id2)"
static const char SQL_ARCHIVE[] =
    "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
    " SELECT ?, 'root_provider_ids', 'resource_providers',"
    " CAST(rp.id AS CHAR), 'update', " PJ_ARCHIVE_PROVIDER
    ", UTC_TIMESTAMP(6) FROM" LISTED STILL_WRONG;

/* No generation bump, as Placement's set_root_provider_ids. */
static const char SQL_FIX[] = "UPDATE" LISTED
                              " SET rp.root_provider_id = j.id2,"
                              " rp.updated_at = UTC_TIMESTAMP()" STILL_WRONG;

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

/* A provider as read under lock, or the id of one found missing. */
struct node {
	int64_t id;
	bool missing; /* no row */
	bool parent_null, root_null, generation_null;
	int64_t parent, root, generation;
};

/* The providers the batch locked so far, sorted by id after each level. */
struct nodes {
	struct node *v;
	size_t n, cap;
};

static int
node_cmp(const void *a, const void *b)
{
	const struct node *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/* The node of id among n sorted ones, or NULL. */
static const struct node *
node_in(const struct node *v, size_t n, int64_t id)
{
	struct node key = { .id = id };

	if (n == 0)
		return NULL;
	return bsearch(&key, v, n, sizeof(*v), node_cmp);
}

static const struct node *
node_find(const struct nodes *m, int64_t id)
{
	return node_in(m->v, m->n, id);
}

static int
node_add(struct nodes *m, const struct node *node, struct pj_error *err)
{
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct node *v = realloc(m->v, cap * sizeof(*v));

		if (v == NULL)
			return pj_error_set(
			    err, PJ_ENOMEM, "%zu providers locked", cap);
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = *node;
	return PJ_OK;
}

/* How far the walk up from one provider got with the providers locked. */
enum walk {
	WALK_TOP,  /* *at is the top of the chain */
	WALK_GONE, /* the provider itself has no row (deleted since find) */
	WALK_MORE, /* *at is the next provider to lock */
	WALK_BAD,  /* no true root: err says why */
};

/*
 * Walks up from id through the locked providers m, as far as they go.
 * The same bounds as find_batch: a chain that breaks, loops or is deeper
 * than MAX_DEPTH is WALK_BAD with PJ_EINVAL in err.
 */
static enum walk
walk_up(const struct nodes *m, int64_t id, int64_t *at, struct pj_error *err)
{
	int64_t seen[MAX_DEPTH + 1];
	int64_t cur = id;
	size_t depth, i;

	for (depth = 0; depth <= MAX_DEPTH; depth++) {
		const struct node *node = node_find(m, cur);

		*at = cur;
		if (node == NULL)
			return WALK_MORE;
		if (node->missing && depth == 0)
			return WALK_GONE;
		if (node->missing) {
			pj_error_set(err, PJ_EINVAL,
			    "provider %lld: parent chain reaches missing"
			    " provider %lld: not repaired",
			    (long long)id, (long long)cur);
			return WALK_BAD;
		}
		if (node->parent_null)
			return WALK_TOP;
		seen[depth] = cur;
		cur = node->parent;
		for (i = 0; i <= depth; i++) {
			if (seen[i] != cur)
				continue;
			pj_error_set(err, PJ_EINVAL,
			    "provider %lld: parent chain loops at provider"
			    " %lld: not repaired",
			    (long long)id, (long long)cur);
			return WALK_BAD;
		}
	}
	pj_error_set(err, PJ_EINVAL,
	    "provider %lld: parent chain deeper than %d: not repaired",
	    (long long)id, MAX_DEPTH);
	return WALK_BAD;
}

/* Locks the providers of level (keys id) and adds them, or their absence,
 * to m, sorted again. */
static int
lock_level(struct pj_ctx *ctx, const struct pj_batch *level, struct nodes *m,
    struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	struct pj_param p;
	char *keys = NULL;
	size_t before = m->n, i;
	bool row = true;
	int rc;

	rc = pj_batch_json(level, &keys, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(ctx->db, SQL_LOCK, &st, err);
	p = PJ_TEXT(keys);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, &p, 1, err);
	while (rc == PJ_OK) {
		struct node node = { 0 };

		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		node.id = pj_stmt_int(st, 0);
		node.parent_null = pj_stmt_is_null(st, 1);
		node.parent = pj_stmt_int(st, 1);
		node.root_null = pj_stmt_is_null(st, 2);
		node.root = pj_stmt_int(st, 2);
		node.generation_null = pj_stmt_is_null(st, 3);
		node.generation = pj_stmt_int(st, 3);
		rc = node_add(m, &node, err);
	}
	if (rc == PJ_OK && m->n > before)
		qsort(m->v + before, m->n - before, sizeof(*m->v), node_cmp);
	/* The level's ids that came back with no row. */
	for (i = 0; rc == PJ_OK && i < level->n; i++) {
		struct node gone = { .id = level->keys[i].id, .missing = true };

		if (node_in(m->v + before, m->n - before, gone.id) == NULL)
			rc = node_add(m, &gone, err);
	}
	if (rc == PJ_OK && m->n > 0)
		qsort(m->v, m->n, sizeof(*m->v), node_cmp);
	pj_stmt_close(st);
	free(keys);
	return rc;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct pj_key *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

/*
 * Locks each provider of b with all its ancestors, a level at a time: one
 * statement per level of the deepest chain (real trees: two or three),
 * whatever the batch's size. Then fills fix with the providers whose root
 * is not the top of their chain (id2 = the top).
 */
static int
lock_walks(struct pj_ctx *ctx, const struct pj_batch *b, struct nodes *m,
    struct pj_batch *fix, struct pj_error *err)
{
	struct pj_batch level = { fix->keys, 0, fix->cap };
	struct pj_error scratch = {
		0
	}; /* a chain's fault is told once, below */
	size_t depth, i, u;
	int64_t at;
	int rc = PJ_OK;

	for (i = 0; i < b->n; i++)
		level.keys[level.n++].id = b->keys[i].id;
	for (depth = 0; rc == PJ_OK && level.n > 0; depth++) {
		rc = lock_level(ctx, &level, m, err);
		level.n = 0;
		for (i = 0; rc == PJ_OK && i < b->n; i++) {
			if (walk_up(m, b->keys[i].id, &at, &scratch) ==
			    WALK_MORE)
				level.keys[level.n++].id = at;
		}
		/* Chains that meet are locked once. */
		qsort(level.keys, level.n, sizeof(*level.keys), key_cmp);
		for (i = u = 0; i < level.n; i++) {
			if (u == 0 || level.keys[u - 1].id != level.keys[i].id)
				level.keys[u++] = level.keys[i];
		}
		level.n = u;
	}
	fix->n = 0;
	for (i = 0; rc == PJ_OK && i < b->n; i++) {
		struct pj_key *k = &fix->keys[fix->n];
		const struct node *node;

		switch (walk_up(m, b->keys[i].id, &at, err)) {
		case WALK_BAD:
			return err->code;
		case WALK_TOP:
			break;
		default:
			continue; /* deleted since find_batch */
		}
		node = node_find(m, b->keys[i].id);
		if (!node->root_null && node->root == at)
			continue; /* repaired since find_batch */
		memset(k, 0, sizeof(*k));
		k->id = node->id;
		k->id2 = at;
		k->generation = node->generation;
		if (node->generation_null)
			pj_strlcpy(k->text, "null", sizeof(k->text));
		fix->n++;
	}
	return rc;
}

/* Archives (if on) and fixes the providers of fix, each at the generation
 * read under lock: any other count is a conflict. */
static int
fix_roots(struct pj_ctx *ctx, const struct pj_batch *fix, size_t *repaired,
    struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(ctx->run_id), PJ_TEXT(NULL) };
	uint64_t archived = fix->n, fixed = 0;
	char *keys = NULL;
	int rc;

	if (fix->n == 0)
		return PJ_OK;
	rc = pj_batch_json(fix, &keys, err);
	if (rc)
		return rc;
	p[1] = PJ_TEXT(keys);
	if (ctx->archive)
		rc = pj_db_exec(ctx->db, SQL_ARCHIVE, p, 2, &archived, err);
	if (rc == PJ_OK && archived != fix->n)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "providers: %llu of %zu changed while archiving",
		    (unsigned long long)(fix->n - archived), fix->n);
	if (rc == PJ_OK)
		rc = pj_db_exec(ctx->db, SQL_FIX, &p[1], 1, &fixed, err);
	if (rc == PJ_OK && fixed != fix->n)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "providers: fixed %llu of %zu: a generation changed",
		    (unsigned long long)fixed, fix->n);
	if (rc == PJ_OK)
		*repaired += fix->n;
	free(keys);
	return rc;
}

/*
 * Each provider is locked with its ancestors (not a key range: that would
 * stall allocation writes to every healthy provider in between), and only
 * the providers find_batch returned change: a scoped run stays in its
 * tree. A constant number of statements: the levels, archive, update.
 */
static int
repair_batch(struct pj_ctx *ctx, const struct pj_batch *b, size_t *repaired,
    struct pj_error *err)
{
	struct nodes m = { NULL, 0, 0 };
	struct pj_batch fix = { NULL, 0, b->n };
	int rc;

	fix.keys = calloc(b->n + 1, sizeof(*fix.keys));
	if (fix.keys == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "%zu providers", b->n);
		goto out;
	}
	rc = lock_walks(ctx, b, &m, &fix, err);
	if (rc == PJ_OK)
		rc = fix_roots(ctx, &fix, repaired, err);
out:
	free(fix.keys);
	free(m.v);
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
