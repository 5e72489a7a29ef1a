/* Run ids: random UUIDs from libuuid. */
#ifndef PJ_COMMON_UUID_H
#define PJ_COMMON_UUID_H

#define PJ_UUID_LEN 37 /* 36 characters and a NUL */

/* Writes a new random UUID in lower-case text form into out. */
void pj_uuid_generate(char out[PJ_UUID_LEN]);

#endif
