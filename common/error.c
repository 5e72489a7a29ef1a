/* Status names and the first-failure-wins error record. */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
	[PJ_OK] = "ok",
	[PJ_EINVAL] = "invalid",
	[PJ_ENOMEM] = "nomem",
	[PJ_EIO] = "io",
	[PJ_ECONFIG] = "config",
	[PJ_EDB] = "db",
	[PJ_ERETRY] = "retry",
	[PJ_ECONN] = "connection",
	[PJ_ECONFLICT] = "conflict",
	[PJ_ELOCKED] = "locked",
	[PJ_ESCHEMA] = "schema",
	[PJ_EACCESS] = "access",
	[PJ_EINTERNAL] = "internal",
	[PJ_ECERT] = "certification",
};

_Static_assert(
    sizeof(status_names) / sizeof(status_names[0]) == PJ_STATUS_COUNT,
    "every status has a name");

/* Keeps a message on one line whatever the data in it held. */
static void
flatten(char *msg)
{
	for (; *msg != '\0'; msg++) {
		if (*msg == '\n' || *msg == '\r' || *msg == '\t')
			*msg = ' ';
	}
}

static int set_va(struct pj_error *err, enum pj_status code,
    unsigned int db_errno, const char *sqlstate, const char *fmt, va_list ap)
    PJ_PRINTF(5, 0);

static int
set_va(struct pj_error *err, enum pj_status code, unsigned int db_errno,
    const char *sqlstate, const char *fmt, va_list ap)
{
	if (err == NULL)
		return code;
	if (err->code != PJ_OK)
		return err->code;
	err->code = code;
	err->db_errno = db_errno;
	snprintf(err->sqlstate, sizeof(err->sqlstate), "%s",
	    sqlstate != NULL ? sqlstate : "");
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	flatten(err->msg);
	return code;
}

int
pj_error_set(struct pj_error *err, enum pj_status code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = set_va(err, code, 0, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int
pj_error_set_db(struct pj_error *err, enum pj_status code,
    unsigned int db_errno, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = set_va(err, code, db_errno, sqlstate, fmt, ap);
	va_end(ap);
	return rc;
}

void
pj_error_clear(struct pj_error *err)
{
	if (err != NULL)
		memset(err, 0, sizeof(*err));
}

const char *
pj_status_name(int status)
{
	if (status < 0 || status >= PJ_STATUS_COUNT)
		return "unknown";
	return status_names[status];
}

bool
pj_status_retryable(int status)
{
	return status == PJ_ERETRY || status == PJ_ECONN ||
	    status == PJ_ECONFLICT || status == PJ_ECERT;
}
