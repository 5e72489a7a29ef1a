/* restore's statements per table and action, and the order of the steps. */
#include "worker/restore_steps.h"

#include <string.h>

#define ARCHIVE PJ_RS_ARCHIVE
#define JV PJ_RS_JV
#define JI PJ_RS_JI
#define JS PJ_RS_JS
#define BATCH PJ_RS_BATCH
#define MARKED PJ_RS_MARKED
#define PENDING " AND z.restored_at IS NULL"

/*
 * Every step has a condition OK (the archived row can go back: its keys
 * are free, or its row is there with the archived generation) and five
 * statements. LOCK takes the archive rows and probes every key of the
 * target FOR UPDATE, which also locks the gaps where missing keys would go
 * (COUNT of a target column keeps the optimizer from dropping the join).
 * CHECK counts without locks (dry run); LIST names the rows that cannot go
 * back (-v); MARK sets restored_at to this batch's marker time on the rows
 * that can; APPLY writes exactly the marked rows back.
 */
#define CHECK_SQL(t, a, ok) \
	"SELECT COUNT(*), COUNT(IF(" ok ", 1, NULL)) FROM " ARCHIVE \
	" WHERE" BATCH(t, a) PENDING
#define LIST_SQL(t, a, ok) \
	"SELECT z.id, z.pass, z.row_key FROM " ARCHIVE " WHERE" BATCH(t, a) \
	    PENDING " AND NOT (" ok ") ORDER BY z.id"
#define MARK_SQL(t, a, ok) \
	"UPDATE " ARCHIVE " SET z.restored_at = ? WHERE" BATCH(t, a) PENDING \
	    " AND " ok

/* resource_providers, update: back only if the generation is unchanged
 * (a pass's update never moves it; anything else that changed the row
 * did). */
#define RP_OK \
	"EXISTS (SELECT 1 FROM resource_providers t WHERE t.id = " JI( \
	    "id") " AND t.generation <=> " JI("generation") ")"
static const char SQL_RP_LOCK[] =
    "SELECT COUNT(*), COUNT(t.id) FROM " ARCHIVE
    " LEFT JOIN resource_providers t ON t.id = " JI("id") " WHERE" BATCH(
        "resource_providers", "update") PENDING " FOR UPDATE";
static const char SQL_RP_CHECK[] =
    CHECK_SQL("resource_providers", "update", RP_OK);
static const char SQL_RP_LIST[] =
    LIST_SQL("resource_providers", "update", RP_OK);
static const char SQL_RP_MARK[] =
    MARK_SQL("resource_providers", "update", RP_OK);
static const char SQL_RP_APPLY[] =
    "UPDATE resource_providers t JOIN " ARCHIVE
    " ON t.id = " JI("id") " SET t.uuid = " JV("uuid") ", t.name = " JV("name") ", t.generation = " JV("generation") ", t.root_provider_id = " JV("root_provider_id") ", t.parent_provider_id = " JV(
        "parent_provider_id") ", t.created_at = " JV("created_at") ", t.updated_at = " JV("updated_at") " WHERE" BATCH("resource_providers",
        "update") MARKED;

/* consumers, delete: back if neither its id nor its uuid is in use. */
#define CD_OK \
	"NOT EXISTS (SELECT 1 FROM consumers t WHERE t.id = " JI("id") ")" \
	" AND NOT EXISTS (SELECT 1 FROM consumers t WHERE t.uuid = " JS( \
	    "uuid") ")"
static const char SQL_CD_LOCK[] =
    "SELECT COUNT(*), COUNT(t.id), COUNT(u.id) FROM " ARCHIVE
    " LEFT JOIN consumers t ON t.id = " JI(
        "id") " LEFT JOIN consumers u ON u.uuid = " JS("uuid") " WHERE" BATCH("consumers",
        "delete") PENDING " FOR UPDATE";
static const char SQL_CD_CHECK[] = CHECK_SQL("consumers", "delete", CD_OK);
static const char SQL_CD_LIST[] = LIST_SQL("consumers", "delete", CD_OK);
static const char SQL_CD_MARK[] = MARK_SQL("consumers", "delete", CD_OK);
static const char SQL_CD_APPLY[] =
    "INSERT INTO consumers (id, uuid, project_id, user_id, generation,"
    " consumer_type_id, created_at, updated_at)"
    " SELECT " JV("id") ", " JV("uuid") ", " JV("project_id") ", " JV("user_id") ", " JV("generation") ", " JV(
        "consumer_type_id") ", " JV("created_at") ", " JV("updated_at") " FROM " ARCHIVE
                                                                        " WHERE" BATCH(
                                                                            "consumers",
                                                                            "delete")
                                                                            MARKED
    " ORDER BY z.id";

/* consumers, update: back if the generation is unchanged. */
#define CU_OK \
	"EXISTS (SELECT 1 FROM consumers t WHERE t.id = " JI( \
	    "id") " AND t.generation = " JI("generation") ")"
static const char SQL_CU_LOCK[] =
    "SELECT COUNT(*), COUNT(t.id) FROM " ARCHIVE
    " LEFT JOIN consumers t ON t.id = " JI("id") " WHERE" BATCH(
        "consumers", "update") PENDING " FOR UPDATE";
static const char SQL_CU_CHECK[] = CHECK_SQL("consumers", "update", CU_OK);
static const char SQL_CU_LIST[] = LIST_SQL("consumers", "update", CU_OK);
static const char SQL_CU_MARK[] = MARK_SQL("consumers", "update", CU_OK);
static const char SQL_CU_APPLY[] =
    "UPDATE consumers t JOIN " ARCHIVE
    " ON t.id = " JI("id") " SET t.uuid = " JV("uuid") ", t.project_id = " JV("project_id") ", t.user_id = " JV("user_id") ", t.generation = " JV("generation") ", t.consumer_type_id = " JV(
        "consumer_type_id") ", t.created_at = " JV("created_at") ", t.updated_at = " JV("updated_at") " WHERE" BATCH("consumers",
        "update") MARKED;

/* allocations, delete: back if the id is free. */
#define AD_OK \
	"NOT EXISTS (SELECT 1 FROM allocations t WHERE t.id = " JI("id") ")"
static const char SQL_AD_LOCK[] =
    "SELECT COUNT(*), COUNT(t.id) FROM " ARCHIVE
    " LEFT JOIN allocations t ON t.id = " JI("id") " WHERE" BATCH(
        "allocations", "delete") PENDING " FOR UPDATE";
static const char SQL_AD_CHECK[] = CHECK_SQL("allocations", "delete", AD_OK);
static const char SQL_AD_LIST[] = LIST_SQL("allocations", "delete", AD_OK);
static const char SQL_AD_MARK[] = MARK_SQL("allocations", "delete", AD_OK);
static const char SQL_AD_APPLY[] =
    "INSERT INTO allocations (id, resource_provider_id, consumer_id,"
    " resource_class_id, used, created_at, updated_at)"
    " SELECT " JV("id") ", " JV("resource_provider_id") ", " JV("consumer_id") ", " JV("resource_class_id") ", " JV(
        "used") ", " JV("created_at") ", " JV("updated_at") " FROM " ARCHIVE
                                                            " WHERE" BATCH(
                                                                "allocations",
                                                                "delete") MARKED
    " ORDER BY z.id";

/* inventories, delete: back if the id and (provider, class) are free. */
#define ID_OK \
	"NOT EXISTS (SELECT 1 FROM inventories t WHERE t.id = " JI("id") ")" \
	" AND NOT EXISTS (SELECT 1 FROM inventories t" \
	" WHERE t.resource_provider_id = " JI("resource_provider_id") \
	" AND t.resource_class_id = " JI("resource_class_id") ")"
static const char SQL_ID_LOCK[] =
    "SELECT COUNT(*), COUNT(t.id), COUNT(u.id) FROM " ARCHIVE
    " LEFT JOIN inventories t ON t.id = " JI("id") " LEFT JOIN inventories u ON u.resource_provider_id = " JI(
        "resource_provider_id") " AND u.resource_class_id = " JI("resource_class_id") " WHERE" BATCH("inventories",
        "delete") PENDING " FOR UPDATE";
static const char SQL_ID_CHECK[] = CHECK_SQL("inventories", "delete", ID_OK);
static const char SQL_ID_LIST[] = LIST_SQL("inventories", "delete", ID_OK);
static const char SQL_ID_MARK[] = MARK_SQL("inventories", "delete", ID_OK);
static const char SQL_ID_APPLY[] =
    "INSERT INTO inventories (id, resource_provider_id, resource_class_id,"
    " total, reserved, min_unit, max_unit, step_size, allocation_ratio,"
    " created_at, updated_at)"
    " SELECT " JV("id") ", " JV("resource_provider_id") ", " JV("resource_class_id") ", " JV("total") ", " JV("reserved") ", " JV("min_unit") ", " JV(
        "max_unit") ", " JV("step_size") ", " JV("allocation_ratio") ", " JV("created_at") ", " JV("updated_at") " FROM " ARCHIVE " WHERE" BATCH("inventories",
        "delete") MARKED " ORDER BY z.id";

/* resource_provider_aggregates, delete: back if the pair is free. */
#define GD_OK \
	"NOT EXISTS (SELECT 1 FROM resource_provider_aggregates t" \
	" WHERE t.resource_provider_id = " JI( \
	    "resource_provider_id") " AND t.aggregate_id = " JI("aggregate_id") ")"
static const char SQL_GD_LOCK[] =
    "SELECT COUNT(*), COUNT(t.aggregate_id) FROM " ARCHIVE
    " LEFT JOIN resource_provider_aggregates t"
    " ON t.resource_provider_id = " JI("resource_provider_id") " AND t.aggregate_id = " JI(
        "aggregate_id") " WHERE" BATCH("resource_provider_aggregates", "delete")
        PENDING " FOR UPDATE";
static const char SQL_GD_CHECK[] =
    CHECK_SQL("resource_provider_aggregates", "delete", GD_OK);
static const char SQL_GD_LIST[] =
    LIST_SQL("resource_provider_aggregates", "delete", GD_OK);
static const char SQL_GD_MARK[] =
    MARK_SQL("resource_provider_aggregates", "delete", GD_OK);
static const char SQL_GD_APPLY[] =
    "INSERT INTO resource_provider_aggregates (resource_provider_id,"
    " aggregate_id, created_at, updated_at)"
    " SELECT " JV("resource_provider_id") ", " JV("aggregate_id") ", " JV(
        "created_at") ", " JV("updated_at") " FROM " ARCHIVE
                                            " WHERE" BATCH(
                                                "resource_provider_aggregates",
                                                "delete") MARKED
    " ORDER BY z.id";

/* resource_provider_traits, delete: back if the pair is free. */
#define TD_OK \
	"NOT EXISTS (SELECT 1 FROM resource_provider_traits t" \
	" WHERE t.trait_id = " JI("trait_id") " AND t.resource_provider_id = " JI( \
	    "resource_provider_id") ")"
static const char SQL_TD_LOCK[] =
    "SELECT COUNT(*), COUNT(t.trait_id) FROM " ARCHIVE
    " LEFT JOIN resource_provider_traits t ON t.trait_id = " JI("trait_id") " AND t.resource_provider_id = " JI(
        "resource_provider_id") " WHERE" BATCH("resource_provider_traits",
        "delete") PENDING " FOR UPDATE";
static const char SQL_TD_CHECK[] =
    CHECK_SQL("resource_provider_traits", "delete", TD_OK);
static const char SQL_TD_LIST[] =
    LIST_SQL("resource_provider_traits", "delete", TD_OK);
static const char SQL_TD_MARK[] =
    MARK_SQL("resource_provider_traits", "delete", TD_OK);
static const char SQL_TD_APPLY[] =
    "INSERT INTO resource_provider_traits (trait_id, resource_provider_id,"
    " created_at, updated_at)"
    " SELECT " JV("trait_id") ", " JV("resource_provider_id") ", " JV(
        "created_at") ", " JV("updated_at") " FROM " ARCHIVE
                                            " WHERE" BATCH(
                                                "resource_provider_traits",
                                                "delete") MARKED
    " ORDER BY z.id";

/*
 * prepare_<step>: what a batch needs, LOCK, MARK and APPLY, or CHECK when
 * dry; LIST when list. Each call names its constant (tests/lint).
 */
static int
prepare_rp(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_RP_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_RP_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_RP_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_RP_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_RP_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_cd(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_CD_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_CD_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_CD_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_CD_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_CD_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_cu(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_CU_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_CU_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_CU_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_CU_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_CU_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_ad(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_AD_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_AD_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_AD_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_AD_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_AD_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_id(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_ID_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_ID_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_ID_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_ID_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_ID_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_gd(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_GD_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_GD_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_GD_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_GD_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_GD_APPLY, &s->apply, err);
	return rc;
}

static int
prepare_td(struct pj_db *db, bool dry_run, bool list, struct pj_restore_sql *s,
    struct pj_error *err)
{
	int rc = dry_run ? pj_stmt_prepare(db, SQL_TD_CHECK, &s->check, err)
	                 : pj_stmt_prepare(db, SQL_TD_LOCK, &s->lock, err);

	if (rc == PJ_OK && list)
		rc = pj_stmt_prepare(db, SQL_TD_LIST, &s->list, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_TD_MARK, &s->mark, err);
	if (rc == PJ_OK && !dry_run)
		rc = pj_stmt_prepare(db, SQL_TD_APPLY, &s->apply, err);
	return rc;
}

/*
 * The order matters: a provider's old values go back while its generation
 * is still the archived one (before any bump below); a consumer is back
 * (and updates after deletes, for a row a run changed, then deleted)
 * before its allocations, so those find it.
 */
const struct pj_restore_stepdef pj_restore_steps[PJ_RESTORE_STEPS] = {
	{ "resource_providers", "update", prepare_rp, false, false },
	{ "consumers", "delete", prepare_cd, false, false },
	{ "consumers", "update", prepare_cu, false, false },
	{ "allocations", "delete", prepare_ad, true, true },
	{ "inventories", "delete", prepare_id, true, false },
	{ "resource_provider_aggregates", "delete", prepare_gd, true, false },
	{ "resource_provider_traits", "delete", prepare_td, true, false },
};

void
pj_restore_sql_close(struct pj_restore_sql *s)
{
	pj_stmt_close(s->lock);
	pj_stmt_close(s->check);
	pj_stmt_close(s->list);
	pj_stmt_close(s->mark);
	pj_stmt_close(s->apply);
	memset(s, 0, sizeof(*s));
}
