/* Checks the Placement schema before any pass reads or writes it. */
#include "common/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strings.h"

/* How many problems the message names before it only counts the rest. */
#define SHOWN_MAX 3

struct schema_column {
	const char *table;
	const char *column;
};

/* Every table and column of Placement at Alembic head 422ece571366, in
 * table order (the check relies on a table's columns being adjacent). */
static const struct schema_column columns[] = {
	{ "alembic_version", "version_num" },
	{ "allocations", "created_at" },
	{ "allocations", "updated_at" },
	{ "allocations", "id" },
	{ "allocations", "resource_provider_id" },
	{ "allocations", "consumer_id" },
	{ "allocations", "resource_class_id" },
	{ "allocations", "used" },
	{ "consumer_types", "created_at" },
	{ "consumer_types", "updated_at" },
	{ "consumer_types", "id" },
	{ "consumer_types", "name" },
	{ "consumers", "created_at" },
	{ "consumers", "updated_at" },
	{ "consumers", "id" },
	{ "consumers", "uuid" },
	{ "consumers", "project_id" },
	{ "consumers", "user_id" },
	{ "consumers", "generation" },
	{ "consumers", "consumer_type_id" },
	{ "inventories", "created_at" },
	{ "inventories", "updated_at" },
	{ "inventories", "id" },
	{ "inventories", "resource_provider_id" },
	{ "inventories", "resource_class_id" },
	{ "inventories", "total" },
	{ "inventories", "reserved" },
	{ "inventories", "min_unit" },
	{ "inventories", "max_unit" },
	{ "inventories", "step_size" },
	{ "inventories", "allocation_ratio" },
	{ "placement_aggregates", "created_at" },
	{ "placement_aggregates", "updated_at" },
	{ "placement_aggregates", "id" },
	{ "placement_aggregates", "uuid" },
	{ "projects", "created_at" },
	{ "projects", "updated_at" },
	{ "projects", "id" },
	{ "projects", "external_id" },
	{ "resource_classes", "created_at" },
	{ "resource_classes", "updated_at" },
	{ "resource_classes", "id" },
	{ "resource_classes", "name" },
	{ "resource_provider_aggregates", "created_at" },
	{ "resource_provider_aggregates", "updated_at" },
	{ "resource_provider_aggregates", "resource_provider_id" },
	{ "resource_provider_aggregates", "aggregate_id" },
	{ "resource_provider_traits", "created_at" },
	{ "resource_provider_traits", "updated_at" },
	{ "resource_provider_traits", "trait_id" },
	{ "resource_provider_traits", "resource_provider_id" },
	{ "resource_providers", "created_at" },
	{ "resource_providers", "updated_at" },
	{ "resource_providers", "id" },
	{ "resource_providers", "uuid" },
	{ "resource_providers", "name" },
	{ "resource_providers", "generation" },
	{ "resource_providers", "root_provider_id" },
	{ "resource_providers", "parent_provider_id" },
	{ "traits", "created_at" },
	{ "traits", "updated_at" },
	{ "traits", "id" },
	{ "traits", "name" },
	{ "users", "created_at" },
	{ "users", "updated_at" },
	{ "users", "id" },
	{ "users", "external_id" },
};

/* Every column of the current database, read once: one query, not one per
 * column (the check runs at every start, also of a run with nothing to do). */
static const char SQL_COLUMNS[] =
    "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ("
    "'alembic_version', 'allocations', 'consumer_types', 'consumers',"
    " 'inventories', 'placement_aggregates', 'projects',"
    " 'resource_classes', 'resource_provider_aggregates',"
    " 'resource_provider_traits', 'resource_providers', 'traits', 'users')";
/* Placement's tables have 60-odd columns; columns an operator added may
 * add more. Other tables in the same database are not read. */
#define COLUMNS_MAX 1024
#define NAME_MAX_LEN 64 /* MariaDB's identifier limit */

struct found_column {
	char table[NAME_MAX_LEN + 1];
	char column[NAME_MAX_LEN + 1];
};

/* The collation of an id column, and the one a key list bound through
 * PJ_SQL_BATCH_KEYS compares in: comparing two different ones is an error
 * (1267), or with another charset a full scan. */
static const char SQL_KEY_COLLATION[] =
    "SELECT c.COLLATION_NAME, (SELECT COLLATION(j.k) FROM"
    " JSON_TABLE('[\"\"]', '$[*]' COLUMNS"
    " (k VARCHAR(255) CHARACTER SET utf8mb3 PATH '$')) j)"
    " FROM information_schema.COLUMNS c"
    " WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ?"
    " AND c.COLUMN_NAME = ?";
static const char SQL_ALEMBIC[] =
    "SELECT version_num FROM alembic_version ORDER BY version_num LIMIT 2";

/* The id columns the passes join to a bound key list. */
static const struct schema_column key_columns[] = {
	{ "allocations", "consumer_id" },
	{ "consumers", "uuid" },
};

struct problems {
	size_t n;
	char shown[200];
};

static void
add_problem(struct problems *pr, const char *what, const char *table,
    const char *column)
{
	size_t used = strlen(pr->shown);

	if (pr->n < SHOWN_MAX)
		snprintf(pr->shown + used, sizeof(pr->shown) - used,
		    "%s%s %s%s%s", pr->n > 0 ? "; " : "", what, table,
		    column ? "." : "", column ? column : "");
	pr->n++;
}

static int
report(const struct problems *pr, struct pj_error *err)
{
	if (pr->n == 0)
		return PJ_OK;
	if (pr->n == 1)
		return pj_error_set(
		    err, PJ_ESCHEMA, "%s is missing", pr->shown);
	if (pr->n <= SHOWN_MAX)
		return pj_error_set(
		    err, PJ_ESCHEMA, "%zu missing: %s", pr->n, pr->shown);
	return pj_error_set(err, PJ_ESCHEMA, "%zu missing: %s; and %zu more",
	    pr->n, pr->shown, pr->n - SHOWN_MAX);
}

/* Table names compare exactly (they are file names on Linux), column
 * names without case, as the server resolves them in queries. */
static bool
has_table(const struct found_column *f, size_t n, const char *table)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(f[i].table, table) == 0)
			return true;
	}
	return false;
}

static bool
has_column(
    const struct found_column *f, size_t n, const struct schema_column *c)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(f[i].table, c->table) == 0 &&
		    strcasecmp(f[i].column, c->column) == 0)
			return true;
	}
	return false;
}

static int
check_columns(struct pj_db *db, struct problems *pr, struct pj_error *err)
{
	const char *skip_table = NULL; /* a table already found missing */
	struct found_column *found = NULL;
	struct pj_stmt *st = NULL;
	size_t n = 0, i;
	bool row = true;
	int rc;

	found = calloc(COLUMNS_MAX, sizeof(*found));
	if (found == NULL)
		return pj_error_set(err, PJ_ENOMEM, "schema check");
	rc = pj_stmt_prepare(db, SQL_COLUMNS, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, NULL, 0, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		if (n == COLUMNS_MAX) {
			rc = pj_error_set(err, PJ_ESCHEMA,
			    "more than %d columns in the database",
			    COLUMNS_MAX);
			break;
		}
		pj_strlcpy(found[n].table, pj_stmt_text(st, 0, NULL),
		    sizeof(found[n].table));
		pj_strlcpy(found[n].column, pj_stmt_text(st, 1, NULL),
		    sizeof(found[n].column));
		n++;
	}
	for (i = 0; rc == PJ_OK && i < sizeof(columns) / sizeof(columns[0]);
	     i++) {
		const struct schema_column *c = &columns[i];

		if (c->table == skip_table)
			continue;
		if (!has_table(found, n, c->table)) {
			add_problem(pr, "table", c->table, NULL);
			skip_table = c->table;
		} else if (!has_column(found, n, c)) {
			add_problem(pr, "column", c->table, c->column);
		}
	}
	pj_stmt_close(st);
	free(found);
	return rc;
}

static int
check_key_collations(struct pj_db *db, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	bool row = false;
	size_t i;
	int rc;

	rc = pj_stmt_prepare(db, SQL_KEY_COLLATION, &st, err);
	for (i = 0;
	     rc == PJ_OK && i < sizeof(key_columns) / sizeof(key_columns[0]);
	     i++) {
		const struct schema_column *c = &key_columns[i];
		struct pj_param p[] = { PJ_TEXT(c->table), PJ_TEXT(c->column) };
		char have[64];

		rc = pj_stmt_exec(st, p, 2, err);
		if (rc == PJ_OK)
			rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			continue;
		if (pj_stmt_is_null(st, 0)) {
			rc = pj_error_set(err, PJ_ESCHEMA,
			    "column %s.%s is not a text column", c->table,
			    c->column);
			break;
		}
		pj_strlcpy(have, pj_stmt_text(st, 0, NULL), sizeof(have));
		if (strcmp(have, pj_stmt_text(st, 1, NULL)) != 0)
			rc = pj_error_set(err, PJ_ESCHEMA,
			    "column %s.%s has collation %s; the worker "
			    "compares ids in %s, the collation Placement "
			    "creates it with",
			    c->table, c->column, have,
			    pj_stmt_text(st, 1, NULL));
	}
	pj_stmt_close(st);
	return rc;
}

static int
read_alembic(struct pj_db *db, char *alembic, size_t size, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	const char *version;
	bool row = false;
	int rc;

	rc = pj_stmt_prepare(db, SQL_ALEMBIC, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, NULL, 0, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc)
		goto out;
	if (!row) {
		rc = pj_error_set(err, PJ_ESCHEMA,
		    "alembic_version has no row: not a migrated Placement "
		    "database");
		goto out;
	}
	if (pj_stmt_rows(st) > 1) {
		rc = pj_error_set(err, PJ_ESCHEMA,
		    "alembic_version has several rows; Placement keeps one");
		goto out;
	}
	version = pj_stmt_text(st, 0, NULL);
	if (strlen(version) >= size) {
		rc = pj_error_set(err, PJ_EINVAL,
		    "alembic version longer than %zu bytes",
		    size > 0 ? size - 1 : 0);
		goto out;
	}
	pj_strlcpy(alembic, version, size);
out:
	pj_stmt_close(st);
	return rc;
}

int
pj_schema_verify(
    struct pj_db *db, char *alembic, size_t size, struct pj_error *err)
{
	struct problems pr = { 0 };
	int rc;

	rc = check_columns(db, &pr, err);
	if (rc == PJ_OK)
		rc = report(&pr, err);
	if (rc == PJ_OK)
		rc = check_key_collations(db, err);
	if (rc == PJ_OK)
		rc = read_alembic(db, alembic, size, err);
	return rc;
}
