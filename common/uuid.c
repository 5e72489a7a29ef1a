/* Run ids: random UUIDs from libuuid (the one file that uses it). */
#include "common/uuid.h"

#include <uuid/uuid.h>

void
pj_uuid_generate(char out[PJ_UUID_LEN])
{
	uuid_t id;

	/* Random (version 4): a run id must not reveal the host or time. */
	uuid_generate_random(id);
	uuid_unparse_lower(id, out);
}
