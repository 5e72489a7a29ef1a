/* Reading the database password from its one configured source. */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/strings.h"

static int
check_stat(const struct stat *st, const char *path, const char *what,
    struct pj_error *err)
{
	if (!S_ISREG(st->st_mode))
		return pj_error_set(
		    err, PJ_ECONFIG, "%s %s: not a regular file", what, path);
	if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return pj_error_set(err, PJ_ECONFIG,
		    "%s %s: readable by group or others (mode %04o); "
		    "chmod 600 it",
		    what, path, (unsigned int)(st->st_mode & 07777));
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return pj_error_set(err, PJ_ECONFIG,
		    "%s %s: owned by uid %u, not by this user (uid %u)", what,
		    path, (unsigned int)st->st_uid, (unsigned int)geteuid());
	return PJ_OK;
}

int
pj_secret_check_file(const char *path, const char *what, struct pj_error *err)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return pj_error_set(
		    err, PJ_EIO, "%s %s: %s", what, path, strerror(errno));
	return check_stat(&st, path, what, err);
}

/* Reads a small file through one descriptor, so the checked file is the
 * one read (no check-then-open race). */
static int
read_file(const char *path, char *buf, size_t size, struct pj_error *err)
{
	struct stat st;
	size_t used = 0;
	ssize_t n;
	int fd = -1;
	int rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		rc = pj_error_set(
		    err, PJ_EIO, "password file %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = pj_error_set(
		    err, PJ_EIO, "password file %s: %s", path, strerror(errno));
		goto out;
	}
	rc = check_stat(&st, path, "password file", err);
	if (rc)
		goto out;
	while (used < size - 1) {
		n = read(fd, buf + used, size - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = pj_error_set(err, PJ_EIO, "password file %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used == size - 1) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "password file %s: longer than %zu bytes", path, size - 2);
		goto out;
	}
	buf[used] = '\0';
	/* One trailing newline (or CRLF) is the file's, not the password's. */
	if (used > 0 && buf[used - 1] == '\n')
		buf[--used] = '\0';
	if (used > 0 && buf[used - 1] == '\r')
		buf[--used] = '\0';
	if (used == 0)
		rc = pj_error_set(
		    err, PJ_ECONFIG, "password file %s: empty", path);
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		pj_wipe(buf, size);
	return rc;
}

int
pj_secret_read(const struct pj_db_config *cfg, char *buf, size_t size,
    bool *have, struct pj_error *err)
{
	const char *value;
	int rc;

	if (size < 2)
		return pj_error_set(
		    err, PJ_EINTERNAL, "secret buffer too small");
	if (cfg->password_file[0] != '\0') {
		rc = read_file(cfg->password_file, buf, size, err);
		if (rc == PJ_OK)
			*have = true;
		return rc;
	}
	if (cfg->password_env[0] != '\0') {
		value = getenv(cfg->password_env);
		if (value == NULL)
			return pj_error_set(err, PJ_ECONFIG,
			    "database.password_env: variable %.64s is not set",
			    cfg->password_env);
		if (pj_strlcpy(buf, value, size) >= size) {
			pj_wipe(buf, size);
			return pj_error_set(err, PJ_ECONFIG,
			    "database.password_env: value of %.64s too long",
			    cfg->password_env);
		}
		*have = true;
		return PJ_OK;
	}
	if (cfg->password[0] != '\0') {
		pj_strlcpy(buf, cfg->password, size);
		*have = true;
		return PJ_OK;
	}
	*have = false;
	return PJ_OK;
}
