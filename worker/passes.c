/* The registry of passes, in the order a run takes them. */
#include "worker/pass.h"

#include <string.h>

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
