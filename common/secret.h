/* The one place a database password is read: a file, the environment,
 * or the config itself. */
#ifndef PJ_COMMON_SECRET_H
#define PJ_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"

/*
 * Refuses (PJ_ECONFIG) a file holding a secret that group or others can
 * read, or that neither this user nor root owns; PJ_EIO if it cannot be
 * examined. what names it in the message ("password file").
 */
int pj_secret_check_file(
    const char *path, const char *what, struct pj_error *err) PJ_MUSTCHECK;

/*
 * Copies the password from cfg's one configured source into buf (size
 * bytes), without its trailing newline. *have is false when no source is
 * set (an option file, or an account without password). The caller wipes
 * buf with pj_wipe() once it has connected.
 */
int pj_secret_read(const struct pj_db_config *cfg, char *buf, size_t size,
    bool *have, struct pj_error *err) PJ_MUSTCHECK;

#endif
