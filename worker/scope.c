/* --provider and --consumer: looking up the entries, naming the scope. */
#include "worker/scope.h"

#include <string.h>

#include "common/log.h"
#include "common/strings.h"

static const char SQL_PROVIDER[] =
    "SELECT id FROM resource_providers WHERE uuid = ?";
/* One spelling of the consumer as stored, compared by the collation: its
 * row's, else the least of its allocations' (an incomplete consumer). */
static const char SQL_CONSUMER[] =
    "SELECT COALESCE((SELECT uuid FROM consumers WHERE uuid = ?),"
    " (SELECT MIN(consumer_id) FROM allocations WHERE consumer_id = ?))";

static int
resolve_one(struct pj_stmt *provider, struct pj_stmt *consumer,
    struct pj_scope_entry *e, struct pj_error *err)
{
	struct pj_param p[2] = { PJ_TEXT(e->uuid), PJ_TEXT(e->uuid) };
	struct pj_stmt *st = e->consumer ? consumer : provider;
	bool row = false;
	int rc;

	rc = pj_stmt_exec(st, p, e->consumer ? 2 : 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	if (rc || !row || pj_stmt_is_null(st, 0))
		return rc;
	e->found = true;
	if (e->consumer)
		pj_strlcpy(e->consumer_uuid, pj_stmt_text(st, 0, NULL),
		    sizeof(e->consumer_uuid));
	else
		e->provider_id = pj_stmt_int(st, 0);
	return PJ_OK;
}

/*
 * Whether entry i names the row of an earlier found entry. Spellings are
 * compared as the database returned them: two ids the collation equates
 * resolve to the same stored spelling, so equal bytes here mean the
 * database found them equal.
 */
static bool
duplicate(const struct pj_run_report *r, size_t i)
{
	const struct pj_scope_entry *e = &r->scope[i];
	size_t k;

	for (k = 0; k < i; k++) {
		const struct pj_scope_entry *o = &r->scope[k];

		if (!o->found || o->consumer != e->consumer)
			continue;
		if (e->consumer
		        ? strcmp(o->consumer_uuid, e->consumer_uuid) == 0
		        : o->provider_id == e->provider_id)
			return true;
	}
	return false;
}

int
pj_scope_resolve(
    struct pj_db *db, struct pj_run_report *r, struct pj_error *err)
{
	struct pj_stmt *provider = NULL, *consumer = NULL;
	char id[PJ_KEY_TEXT_MAX];
	size_t i;
	int rc;

	if (r->n_scope == 0)
		return PJ_OK;
	rc = pj_stmt_prepare(db, SQL_PROVIDER, &provider, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(db, SQL_CONSUMER, &consumer, err);
	for (i = 0; rc == PJ_OK && i < r->n_scope && i < PJ_MAX_SCOPE; i++) {
		struct pj_scope_entry *e = &r->scope[i];

		rc = resolve_one(provider, consumer, e, err);
		if (rc)
			break;
		e->duplicate = e->found && duplicate(r, i);
		pj_log_write(e->found ? PJ_LOG_INFO : PJ_LOG_WARN,
		    e->found ? "scope" : "scope_not_found", "%s=\"%s\"%s",
		    e->consumer ? "consumer" : "provider",
		    pj_log_uuid(e->uuid, id, sizeof(id)),
		    e->duplicate ? " duplicate=true" : "");
	}
	pj_stmt_close(consumer);
	pj_stmt_close(provider);
	return rc;
}

struct pj_scope
pj_scope_of(const struct pj_scope_entry *e)
{
	struct pj_scope s;

	memset(&s, 0, sizeof(s));
	s.kind = e->consumer ? PJ_SCOPE_CONSUMER : PJ_SCOPE_PROVIDER;
	s.provider_id = e->provider_id;
	s.consumer_uuid = e->consumer_uuid;
	return s;
}

const char *
pj_scope_pass_name(const struct pj_run_report *r, const struct pj_pass *pass)
{
	bool providers = false, consumers = false;
	size_t i;

	if (r->n_scope == 0)
		return NULL;
	for (i = 0; i < r->n_scope && i < PJ_MAX_SCOPE; i++) {
		if (r->scope[i].consumer)
			consumers = consumers ||
			    (pass->scopes & PJ_SCOPES(PJ_SCOPE_CONSUMER));
		else
			providers = providers ||
			    (pass->scopes & PJ_SCOPES(PJ_SCOPE_PROVIDER));
	}
	if (providers && consumers)
		return "providers_and_consumers";
	if (providers)
		return "providers";
	if (consumers)
		return "consumers";
	return "not_applicable";
}
