/* The run lock: a lock file on this host and GET_LOCK on the server. */
#include "common/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct pj_runlock {
	int fd; /* holds the flock; closing it releases the lock */
};

static const char SQL_GET_LOCK[] = "SELECT GET_LOCK(?, ?)";
static const char SQL_LOCK_HOLDER[] = "SELECT IS_USED_LOCK(?)";
static const char SQL_RELEASE_LOCK[] = "SELECT RELEASE_LOCK(?)";

/* Opens the run directory, refusing one that others could plant or
 * swap a lock file in. */
static int
open_run_dir(const char *dir, int *out, struct pj_error *err)
{
	struct stat st;
	int fd = -1;
	int rc = PJ_OK;

	if (dir == NULL || dir[0] == '\0')
		return pj_error_set(err, PJ_ECONFIG, "run directory: not set");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = pj_error_set(err, PJ_ECONFIG,
			    "run directory %.200s: %s", dir,
			    errno == ENOENT ? "does not exist"
			                    : "not a directory");
		else
			rc = pj_error_set(err, PJ_EIO,
			    "run directory %.200s: %s", dir, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = pj_error_set(err, PJ_EIO, "run directory %.200s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "run directory %.200s: writable by group or others "
		    "(mode %04o); use a private directory (chmod 700)",
		    dir, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Opens (creating) the lock file inside the open run directory. */
static int
open_lock_file(int dirfd, const char *dir, int *out, struct pj_error *err)
{
	struct stat st;
	int fd;
	int rc = PJ_OK;

	/* O_NONBLOCK: a FIFO planted at the path must not hang the open. */
	fd = openat(dirfd, PJ_RUNLOCK_FILE,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			rc = pj_error_set(err, PJ_ECONFIG,
			    "lock file %.200s/%s: is a symbolic link; "
			    "refusing it",
			    dir, PJ_RUNLOCK_FILE);
		else
			rc =
			    pj_error_set(err, PJ_EIO, "lock file %.200s/%s: %s",
			        dir, PJ_RUNLOCK_FILE, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = pj_error_set(err, PJ_EIO, "lock file %.200s/%s: %s", dir,
		    PJ_RUNLOCK_FILE, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "lock file %.200s/%s: not a regular file with one link; "
		    "refusing it",
		    dir, PJ_RUNLOCK_FILE);
		goto out;
	}
	*out = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The pid the holder wrote, or 0 when the file does not tell. */
static long
holder_pid(int fd)
{
	char buf[32];
	long pid = 0;
	ssize_t n;
	ssize_t i;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (pid > 99999999)
			return 0;
		pid = pid * 10 + (buf[i] - '0');
	}
	if (i == 0 || i >= n || buf[i] != '\n')
		return 0;
	return pid;
}

/* Records our pid for the next one who finds the lock held. */
static int
write_pid(int fd, const char *dir, struct pj_error *err)
{
	char buf[32];
	int len;

	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len)
		return pj_error_set(err, PJ_EIO, "lock file %.200s/%s: %s", dir,
		    PJ_RUNLOCK_FILE, strerror(errno));
	return PJ_OK;
}

int
pj_runlock_acquire_file(
    const char *dir, struct pj_runlock **out, struct pj_error *err)
{
	struct pj_runlock *lock = NULL;
	int dirfd = -1;
	int fd = -1;
	long pid;
	int rc;

	rc = open_run_dir(dir, &dirfd, err);
	if (rc)
		goto out;
	rc = open_lock_file(dirfd, dir, &fd, err);
	if (rc)
		goto out;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			rc =
			    pj_error_set(err, PJ_EIO, "lock file %.200s/%s: %s",
			        dir, PJ_RUNLOCK_FILE, strerror(errno));
			goto out;
		}
		pid = holder_pid(fd);
		if (pid > 0)
			rc = pj_error_set(err, PJ_ELOCKED,
			    "another run holds %.200s/%s (pid %ld)", dir,
			    PJ_RUNLOCK_FILE, pid);
		else
			rc = pj_error_set(err, PJ_ELOCKED,
			    "another run holds %.200s/%s", dir,
			    PJ_RUNLOCK_FILE);
		goto out;
	}
	rc = write_pid(fd, dir, err);
	if (rc)
		goto out;
	lock = malloc(sizeof(*lock));
	if (lock == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "run lock: out of memory");
		goto out;
	}
	lock->fd = fd;
	fd = -1;
	*out = lock;
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	return rc;
}

void
pj_runlock_release_file(struct pj_runlock *lock)
{
	if (lock == NULL)
		return;
	/* Closing the last descriptor of the open file releases the flock.
	 * The pid stays in the file: the next holder overwrites it. */
	close(lock->fd);
	free(lock);
}

/* The connection id holding lock name, or 0 if unknown or free. */
static int64_t
db_holder(struct pj_db *db, const char *name)
{
	struct pj_param p[] = { PJ_TEXT(name) };
	struct pj_error ignored = { 0 };
	struct pj_stmt *st = NULL;
	int64_t id = 0;
	bool row = false;

	if (pj_stmt_prepare(db, SQL_LOCK_HOLDER, &st, &ignored) == PJ_OK &&
	    pj_stmt_exec(st, p, 1, &ignored) == PJ_OK &&
	    pj_stmt_fetch(st, &row, &ignored) == PJ_OK && row &&
	    !pj_stmt_is_null(st, 0))
		id = pj_stmt_int(st, 0);
	pj_stmt_close(st);
	return id;
}

int
pj_runlock_acquire_db(struct pj_db *db, const char *name, int64_t timeout_ms,
    struct pj_error *err)
{
	struct pj_param p[2];
	struct pj_stmt *st = NULL;
	int64_t holder;
	bool row = false;
	int rc;

	if (name == NULL || name[0] == '\0' ||
	    strlen(name) > PJ_RUNLOCK_NAME_MAX)
		return pj_error_set(err, PJ_EINVAL,
		    "database lock name: expected 1..%d bytes",
		    PJ_RUNLOCK_NAME_MAX);
	if (timeout_ms < 0)
		return pj_error_set(
		    err, PJ_EINVAL, "database lock timeout: negative");
	p[0] = PJ_TEXT(name);
	/* GET_LOCK waits whole seconds here: round up, never down to 0. */
	p[1] = PJ_INT(timeout_ms / 1000 + (timeout_ms % 1000 != 0));
	rc = pj_stmt_prepare(db, SQL_GET_LOCK, &st, err);
	if (rc)
		goto out;
	rc = pj_stmt_exec(st, p, 2, err);
	if (rc)
		goto out;
	rc = pj_stmt_fetch(st, &row, err);
	if (rc)
		goto out;
	if (!row || pj_stmt_is_null(st, 0)) {
		rc = pj_error_set(err, PJ_EDB,
		    "database lock \"%.64s\": GET_LOCK returned NULL", name);
		goto out;
	}
	if (pj_stmt_int(st, 0) != 1) {
		pj_stmt_close(st);
		st = NULL;
		holder = db_holder(db, name);
		if (holder > 0)
			rc = pj_error_set(err, PJ_ELOCKED,
			    "another run holds database lock \"%.64s\" "
			    "(connection %lld)",
			    name, (long long)holder);
		else
			rc = pj_error_set(err, PJ_ELOCKED,
			    "another run holds database lock \"%.64s\"", name);
		goto out;
	}
out:
	pj_stmt_close(st);
	return rc;
}

void
pj_runlock_release_db(struct pj_db *db, const char *name)
{
	struct pj_param p[] = { PJ_TEXT(name) };
	struct pj_error ignored = { 0 };

	if (db == NULL || name == NULL || name[0] == '\0')
		return;
	if (pj_db_exec(db, SQL_RELEASE_LOCK, p, 1, NULL, &ignored) != PJ_OK)
		return; /* a lost connection released it already */
}
