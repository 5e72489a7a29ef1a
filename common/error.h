/* Status codes and the error record every fallible function fills. */
#ifndef PJ_COMMON_ERROR_H
#define PJ_COMMON_ERROR_H

#include <stdbool.h>

#include "common/attr.h"

/*
 * Numbers never change: they appear in logs, JSON and tests. A retired
 * status keeps its number; new ones go last.
 */
enum pj_status {
	PJ_OK = 0,
	PJ_EINVAL = 1,     /* bad argument or input data */
	PJ_ENOMEM = 2,     /* out of memory */
	PJ_EIO = 3,        /* file or system call failed */
	PJ_ECONFIG = 4,    /* configuration rejected */
	PJ_EDB = 5,        /* database error a retry will not fix */
	PJ_ERETRY = 6,     /* deadlock, lock wait timeout: redo the batch */
	PJ_ECONN = 7,      /* connection lost or refused: reconnect, redo */
	PJ_ECONFLICT = 8,  /* generation compare-and-swap matched no row */
	PJ_ELOCKED = 9,    /* another run holds the run lock */
	PJ_ESCHEMA = 10,   /* not a Placement schema this worker knows */
	PJ_EACCESS = 11,   /* access denied or a privilege missing */
	PJ_EINTERNAL = 12, /* a bug: an invariant of this program broke */
	PJ_ECERT = 13,     /* Galera certification failed at COMMIT: redo */
	PJ_STATUS_COUNT    /* not a status; keep last */
};

struct pj_error {
	enum pj_status code;   /* PJ_OK until the first failure */
	unsigned int db_errno; /* server or client error number, or 0 */
	char sqlstate[6];      /* five characters, or "" */
	char msg[256];         /* one line, no newline, never a secret */
};

/*
 * Records a failure unless one is already held: the first failure names
 * the root cause. Returns the code now held in err. A NULL err is allowed.
 */
int pj_error_set(struct pj_error *err, enum pj_status code, const char *fmt,
    ...) PJ_PRINTF(3, 4);

/* As pj_error_set, adding a database error number and SQLSTATE. */
int pj_error_set_db(struct pj_error *err, enum pj_status code,
    unsigned int db_errno, const char *sqlstate, const char *fmt, ...)
    PJ_PRINTF(5, 6);

/* Forgets the held failure, before a retry. */
void pj_error_clear(struct pj_error *err);

/* "ok", "db", "retry", ...: stable names for logs and JSON. */
const char *pj_status_name(int status);

/* True for statuses a redo of the whole transaction may cure. */
bool pj_status_retryable(int status);

#endif
