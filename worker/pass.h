/*
 * The pass interface. A pass is one kind of damage: it finds candidates in
 * key order and repairs one batch of them under lock. The engine owns the
 * rest (loop, transactions, retries, limits, counts, report): a pass never
 * begins or commits, sleeps, retries or checks dry run.
 */
#ifndef PJ_WORKER_PASS_H
#define PJ_WORKER_PASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/db.h"
#include "common/error.h"
#include "config/config.h"

#define PJ_KEY_TEXT_MAX 256

struct pj_key { /* a position in a pass's key order */
	int64_t id;
	char text[PJ_KEY_TEXT_MAX]; /* compared by the database, never in C */
	int64_t id2; /* a second key column (composite keys), or 0 */
	/* A pass over several tables pages them one after another: the
	 * index of the table this key belongs to, 0 first. */
	unsigned int part;
	/* The row's generation when find_batch read it: repair_batch acts
	 * only if it is unchanged under lock. 0 if the pass has none. */
	int64_t generation;
};

struct pj_batch {
	struct pj_key *keys;
	size_t n, cap; /* keys found; at most worker.batch_size */
};

/* What --provider and --consumer limit a run to (README: Scope). */
enum pj_scope_kind {
	PJ_SCOPE_NONE,     /* the whole database */
	PJ_SCOPE_PROVIDER, /* rows of one resource provider */
	PJ_SCOPE_CONSUMER, /* rows of one consumer */
};

/* The kinds a pass can be limited to (pj_pass.scopes): bit 1 << kind. */
#define PJ_SCOPES(kind) (1u << (kind))

struct pj_scope {
	enum pj_scope_kind kind;
	int64_t provider_id; /* PJ_SCOPE_PROVIDER: resource_providers.id */
	/* PJ_SCOPE_CONSUMER: the consumer's id, one spelling of it as the
	 * database holds it; compared by the database, never in C. */
	const char *consumer_uuid;
};

struct pj_ctx { /* what a pass may use; owned by the engine */
	struct pj_db *db;
	const struct pj_config *cfg;
	const char *run_id;
	/* Archive what repair_batch deletes or changes (worker/archive.h).
	 * false only when the operator set archive.enabled: false. */
	bool archive;
	/* The scope entry the pass runs for now: find_batch finds, and
	 * repair_batch locks, re-checks and repairs, only rows inside it.
	 * The engine sets only kinds the pass lists in its scopes. */
	struct pj_scope scope;
};

/* Write privileges a pass needs in repair mode, beyond SELECT on the
 * schema that every run needs (worker/grants.c prints them). */
enum pj_priv { PJ_PRIV_INSERT = 1, PJ_PRIV_UPDATE = 2, PJ_PRIV_DELETE = 4 };

struct pj_grant {
	const char *table;
	unsigned int privs; /* enum pj_priv bits */
};

struct pj_pass {
	const char *name;        /* passes.<name> in the config; --pass NAME */
	const char *description; /* one line for --help and the report */
	/* Deletes or changes existing rows: needs the archive in repair. */
	bool destructive;
	/* PJ_SCOPES() bits of the scope kinds it can be limited to; under a
	 * scope of any other kind it does not run (not_applicable). */
	unsigned int scopes;
	/*
	 * Up to b->cap candidates after *after (after is NULL for the first
	 * batch), in key order, without locks. Sets b->n.
	 */
	int (*find_batch)(struct pj_ctx *ctx, const struct pj_key *after,
	    struct pj_batch *b, struct pj_error *err);
	/*
	 * Inside the engine's transaction: lock the candidates (the key range
	 * b->keys[0] .. b->keys[b->n - 1]), re-check the damage, repair what
	 * is still damaged, and add the rows repaired to *repaired.
	 */
	int (*repair_batch)(struct pj_ctx *ctx, const struct pj_batch *b,
	    size_t *repaired, struct pj_error *err);
	const struct pj_grant *grants; /* repair mode; ends with table NULL */
	/* A candidate for a log line at -v. */
	void (*describe)(const struct pj_key *key, char *buf, size_t size);
};

/* Where a find statement puts each key field (0-based), or -1: absent. */
struct pj_key_columns {
	int id, id2, text, generation;
};

/*
 * For find_batch: executes st (prepared by the pass from its constants)
 * with n parameters and reads up to b->cap rows into b->keys as cols
 * says, every other field zeroed; sets b->n. b is untouched on failure.
 */
int pj_batch_read(struct pj_stmt *st, const struct pj_param *p, size_t n,
    const struct pj_key_columns *cols, struct pj_batch *b,
    struct pj_error *err) PJ_MUSTCHECK;

/*
 * The keys of b as one JSON array of objects {id, id2, text, generation}
 * (caller frees *json), to bind as the parameter of PJ_SQL_BATCH_KEYS
 * (common/schema.h), which turns it back into rows.
 */
int pj_batch_json(
    const struct pj_batch *b, char **json, struct pj_error *err) PJ_MUSTCHECK;

/*
 * For find_batch and repair_batch: stores the scope entry's value as the
 * first parameter of a scoped statement (the provider's id, or the
 * consumer's id as text) and returns 1; 0 for PJ_SCOPE_NONE.
 */
size_t pj_scope_param(const struct pj_scope *scope, struct pj_param *p);

extern const struct pj_pass pj_pass_incomplete_consumers;
extern const struct pj_pass pj_pass_orphaned_allocations;
extern const struct pj_pass pj_pass_orphaned_inventories;
extern const struct pj_pass pj_pass_orphaned_provider_links;
extern const struct pj_pass pj_pass_dangling_consumer_refs;
extern const struct pj_pass pj_pass_root_provider_ids;
extern const struct pj_pass pj_pass_orphaned_consumers;
extern const struct pj_pass pj_pass_unused_projects_users;
extern const struct pj_pass pj_pass_dangling_resource_classes;

/* Every pass in run order, NULL-terminated (worker/passes.c). */
extern const struct pj_pass *const pj_passes[];

/* The pass called name (compared exactly: names come from code), or NULL. */
const struct pj_pass *pj_pass_find(const char *name);

#endif
