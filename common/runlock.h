/*
 * One run at a time: a lock file on this host and an advisory lock in the
 * database server, so that neither two runs on one machine (timer, cron,
 * an operator by hand) nor runs on two machines repair the same database
 * at once.
 */
#ifndef PJ_COMMON_RUNLOCK_H
#define PJ_COMMON_RUNLOCK_H

#include <stdint.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"

/* The lock file's name inside the run directory. */
#define PJ_RUNLOCK_FILE "placement-janitor.lock"
/* MariaDB and MySQL refuse user lock names longer than this. */
#define PJ_RUNLOCK_NAME_MAX 64

struct pj_runlock; /* a held lock file */

/*
 * Takes an exclusive flock(2) on dir/PJ_RUNLOCK_FILE without waiting,
 * creating the file (mode 0600) if needed, and writes this process's id
 * into it. The file is opened relative to dir with O_NOFOLLOW and must be
 * a regular file with one link; dir must be a directory that neither group
 * nor others can write. The lock goes with the descriptor, which is
 * close-on-exec: it is released by pj_runlock_release_file or when the
 * process ends, however it ends. The file itself is kept (removing it
 * would let two runs lock two different files).
 *
 * On success *out owns the lock. On failure *out is untouched and err
 * says why: PJ_ELOCKED (another process holds it; the message names its
 * pid when the file tells), PJ_ECONFIG (dir missing, not a directory,
 * group or other writable; a symlink or something other than a regular
 * file at the lock path), PJ_EIO (a system call failed), PJ_ENOMEM.
 */
int pj_runlock_acquire_file(const char *dir, struct pj_runlock **out,
    struct pj_error *err) PJ_MUSTCHECK;

/* Releases the lock and frees it; NULL is allowed. */
void pj_runlock_release_file(struct pj_runlock *lock);

/*
 * Takes the server-side lock `name` (1..PJ_RUNLOCK_NAME_MAX bytes) with
 * SELECT GET_LOCK(name, timeout), waiting up to timeout_ms (rounded up to
 * whole seconds; 0: do not wait). PJ_OK: this connection holds it.
 * PJ_ELOCKED: another session holds it (the message names its connection
 * id). PJ_EINVAL for a bad name or a negative timeout; PJ_EDB when the
 * server answers NULL; any error of pj_stmt_* otherwise.
 *
 * The lock belongs to the connection, not to the process: it is released
 * when the connection closes or is lost, and pj_db_reconnect drops it.
 * After a reconnect, take it again before the next batch; until the server
 * notices the old connection is gone that may still hold it (PJ_ELOCKED),
 * so take it with a timeout then, and stop the run if it stays held.
 * Call it once per connection: the server counts nested GET_LOCKs of one
 * session, and one RELEASE_LOCK would then not release it.
 * With Galera the lock exists only on the node the connection reached:
 * point every worker at the same node (as the usual active/backup proxy
 * setup does).
 */
int pj_runlock_acquire_db(struct pj_db *db, const char *name,
    int64_t timeout_ms, struct pj_error *err) PJ_MUSTCHECK;

/* Releases the server-side lock `name` (SELECT RELEASE_LOCK(name)).
 * Errors are ignored: a lost connection has released it already. */
void pj_runlock_release_db(struct pj_db *db, const char *name);

#endif
