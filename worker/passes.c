/* The registry of passes, in the order a run takes them. */
#include "worker/pass.h"

#include <string.h>

const struct pj_pass *const pj_passes[] = {
	&pj_pass_incomplete_consumers,
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
