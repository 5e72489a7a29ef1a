/*
 * The archive: every row a pass deletes or changes is first copied into
 * placement_janitor_archive (sql/archive.sql) in the same transaction, so a
 * crash can never lose one, and `restore` can put it back.
 *
 * A pass archives with one INSERT ... SELECT built from the fragments below
 * (compile-time constants), selecting the damaged rows exactly as its
 * DELETE or UPDATE does, under the same locks:
 *
 *   "INSERT INTO placement_janitor_archive" PJ_ARCHIVE_COLUMNS
 *   " SELECT ?, 'orphaned_allocations', 'allocations', a.id, 'delete', "
 *   PJ_ARCHIVE_ALLOCATION ", UTC_TIMESTAMP(6) FROM allocations a ..."
 *
 * with the run id bound first. The fragments name every column of the
 * row, read through the table alias given in each comment; floats are
 * widened to DOUBLE so JSON keeps every bit.
 */
#ifndef PJ_WORKER_ARCHIVE_H
#define PJ_WORKER_ARCHIVE_H

#include <stdio.h>

#include "common/db.h"
#include "common/error.h"
#include "config/config.h"

#define PJ_ARCHIVE_COLUMNS \
	" (run_id, pass, table_name, row_key, action, row_data, archived_at)"

/* allocations a */
#define PJ_ARCHIVE_ALLOCATION \
	"JSON_OBJECT('id', a.id, 'resource_provider_id'," \
	" a.resource_provider_id, 'consumer_id', a.consumer_id," \
	" 'resource_class_id', a.resource_class_id, 'used', a.used," \
	" 'created_at', a.created_at, 'updated_at', a.updated_at)"

/* consumers c */
#define PJ_ARCHIVE_CONSUMER \
	"JSON_OBJECT('id', c.id, 'uuid', c.uuid, 'project_id', c.project_id," \
	" 'user_id', c.user_id, 'generation', c.generation," \
	" 'consumer_type_id', c.consumer_type_id," \
	" 'created_at', c.created_at, 'updated_at', c.updated_at)"

/* inventories i */
#define PJ_ARCHIVE_INVENTORY \
	"JSON_OBJECT('id', i.id, 'resource_provider_id'," \
	" i.resource_provider_id, 'resource_class_id', i.resource_class_id," \
	" 'total', i.total, 'reserved', i.reserved, 'min_unit', i.min_unit," \
	" 'max_unit', i.max_unit, 'step_size', i.step_size," \
	" 'allocation_ratio', CAST(i.allocation_ratio AS DOUBLE)," \
	" 'created_at', i.created_at, 'updated_at', i.updated_at)"

/* resource_provider_aggregates rpa */
#define PJ_ARCHIVE_PROVIDER_AGGREGATE \
	"JSON_OBJECT('resource_provider_id', rpa.resource_provider_id," \
	" 'aggregate_id', rpa.aggregate_id," \
	" 'created_at', rpa.created_at, 'updated_at', rpa.updated_at)"

/* resource_provider_traits rpt */
#define PJ_ARCHIVE_PROVIDER_TRAIT \
	"JSON_OBJECT('trait_id', rpt.trait_id," \
	" 'resource_provider_id', rpt.resource_provider_id," \
	" 'created_at', rpt.created_at, 'updated_at', rpt.updated_at)"

/* resource_providers rp */
#define PJ_ARCHIVE_PROVIDER \
	"JSON_OBJECT('id', rp.id, 'uuid', rp.uuid, 'name', rp.name," \
	" 'generation', rp.generation," \
	" 'root_provider_id', rp.root_provider_id," \
	" 'parent_provider_id', rp.parent_provider_id," \
	" 'created_at', rp.created_at, 'updated_at', rp.updated_at)"

/*
 * Checks that the archive table exists and this account can write it.
 * PJ_ESCHEMA saying exactly what to run when it is missing, PJ_EACCESS
 * when a privilege is missing.
 */
int pj_archive_check(struct pj_db *db, struct pj_error *err) PJ_MUSTCHECK;

#endif
