/* The registry of passes, and the batch reader their find_batch share. */
#include "worker/pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/strings.h"

const struct pj_pass *const pj_passes[] = {
	&pj_pass_incomplete_consumers,
	&pj_pass_orphaned_allocations,
	&pj_pass_orphaned_inventories,
	&pj_pass_orphaned_provider_links,
	&pj_pass_dangling_consumer_refs,
	&pj_pass_root_provider_ids,
	&pj_pass_orphaned_consumers,
	&pj_pass_unused_projects_users,
	&pj_pass_dangling_resource_classes,
	NULL,
};

const struct pj_pass *
pj_pass_find(const char *name)
{
	const struct pj_pass *const *pp;

	for (pp = pj_passes; *pp != NULL; pp++) {
		if (strcmp((*pp)->name, name) == 0)
			return *pp;
	}
	return NULL;
}

int
pj_batch_read(struct pj_stmt *st, const struct pj_param *p, size_t n,
    const struct pj_key_columns *cols, struct pj_batch *b, struct pj_error *err)
{
	size_t got = 0;
	bool row;
	int rc;

	rc = pj_stmt_exec(st, p, n, err);
	while (rc == PJ_OK && got < b->cap) {
		struct pj_key *k = &b->keys[got];

		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		memset(k, 0, sizeof(*k));
		if (cols->id >= 0)
			k->id = pj_stmt_int(st, (unsigned int)cols->id);
		if (cols->id2 >= 0)
			k->id2 = pj_stmt_int(st, (unsigned int)cols->id2);
		if (cols->text >= 0)
			pj_strlcpy(k->text,
			    pj_stmt_text(st, (unsigned int)cols->text, NULL),
			    sizeof(k->text));
		if (cols->generation >= 0)
			k->generation =
			    pj_stmt_int(st, (unsigned int)cols->generation);
		got++;
	}
	if (rc == PJ_OK)
		b->n = got;
	return rc;
}

int
pj_batch_json(const struct pj_batch *b, char **json, struct pj_error *err)
{
	struct pj_json j;
	size_t len = 0, i;
	bool bad;
	FILE *out;

	*json = NULL;
	out = open_memstream(json, &len);
	if (out == NULL)
		return pj_error_set(err, PJ_ENOMEM, "key list of %zu", b->n);
	pj_json_init(&j, out);
	pj_json_array_begin(&j);
	for (i = 0; i < b->n; i++) {
		const struct pj_key *k = &b->keys[i];

		pj_json_object_begin(&j);
		pj_json_key(&j, "id");
		pj_json_int(&j, k->id);
		pj_json_key(&j, "id2");
		pj_json_int(&j, k->id2);
		pj_json_key(&j, "text");
		pj_json_string(&j, k->text);
		pj_json_key(&j, "generation");
		pj_json_int(&j, k->generation);
		pj_json_object_end(&j);
	}
	pj_json_array_end(&j);
	bad = ferror(out) != 0;
	if (fclose(out) != 0)
		bad = true;
	if (bad) {
		free(*json);
		*json = NULL;
		return pj_error_set(err, PJ_ENOMEM, "key list of %zu", b->n);
	}
	return PJ_OK;
}

size_t
pj_scope_param(const struct pj_scope *scope, struct pj_param *p)
{
	if (scope->kind == PJ_SCOPE_PROVIDER) {
		*p = PJ_INT(scope->provider_id);
		return 1;
	}
	if (scope->kind == PJ_SCOPE_CONSUMER) {
		*p = PJ_TEXT(scope->consumer_uuid);
		return 1;
	}
	return 0;
}
