/*
 * Unit tests for common/runlock.c, the lock file: one holder at a time
 * (in one process, across a fork, after the holder is killed), unsafe run
 * directories and things planted at the lock path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/runlock.h"

/* A fresh private directory for one test; the caller removes it. */
static char *
make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = malloc(4096);

	assert_non_null(dir);
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(dir, 4096, "%s/pj-runlock-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	return dir;
}

/* Removes dir and what the tests put in it (no subdirectories but one). */
static void
remove_dir(char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		assert_true(snprintf(path, sizeof(path), "%s/%s", dir,
		                e->d_name) < (int)sizeof(path));
		if (unlink(path) != 0)
			assert_int_equal(rmdir(path), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void
lock_path(const char *dir, char *buf, size_t size)
{
	assert_true(
	    snprintf(buf, size, "%s/%s", dir, PJ_RUNLOCK_FILE) < (int)size);
}

static void
read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void
test_acquire_creates_private_file_with_pid(void **state)
{
	struct pj_error err = { 0 };
	struct pj_runlock *lock = NULL;
	char path[4096], text[64], want[64];
	char *dir = make_dir();
	struct stat st;

	(void)state;
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_OK);
	assert_non_null(lock);
	lock_path(dir, path, sizeof(path));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	read_text(path, text, sizeof(text));
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	pj_runlock_release_file(lock);
	/* Released: it can be taken again, and the file is kept. */
	lock = NULL;
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_OK);
	pj_runlock_release_file(lock);
	assert_int_equal(lstat(path, &st), 0);
	pj_runlock_release_file(NULL);
	remove_dir(dir);
}

static void
test_stale_content_is_replaced(void **state)
{
	struct pj_error err = { 0 };
	struct pj_runlock *lock = NULL;
	char path[4096], text[64], want[64];
	char *dir = make_dir();
	FILE *f;

	(void)state;
	lock_path(dir, path, sizeof(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("99999999999 and some more text than a pid\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_OK);
	read_text(path, text, sizeof(text));
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	assert_string_equal(text, want);
	pj_runlock_release_file(lock);
	remove_dir(dir);
}

/* Two lockers in one process: flock locks open files, not processes. */
static void
test_second_locker_in_process_is_locked_out(void **state)
{
	struct pj_error err = { 0 };
	struct pj_runlock *first = NULL, *second = NULL;
	char *dir = make_dir();
	char want[64];

	(void)state;
	assert_int_equal(pj_runlock_acquire_file(dir, &first, &err), PJ_OK);
	assert_int_equal(
	    pj_runlock_acquire_file(dir, &second, &err), PJ_ELOCKED);
	assert_null(second);
	assert_int_equal(err.code, PJ_ELOCKED);
	snprintf(want, sizeof(want), "(pid %ld)", (long)getpid());
	if (strstr(err.msg, want) == NULL || strstr(err.msg, dir) == NULL)
		fail_msg(
		    "message does not name %s and %s: %s", dir, want, err.msg);
	pj_runlock_release_file(first);
	pj_error_clear(&err);
	assert_int_equal(pj_runlock_acquire_file(dir, &second, &err), PJ_OK);
	pj_runlock_release_file(second);
	remove_dir(dir);
}

/*
 * A forked child takes the lock and waits; the parent is locked out (the
 * message names the child); once the child is killed, without releasing
 * anything, the parent gets the lock.
 */
static void
test_forked_holder_then_killed(void **state)
{
	struct pj_error err = { 0 };
	struct pj_runlock *lock = NULL;
	int ready[2], hold[2];
	char *dir = make_dir();
	char want[64], c = 0;
	pid_t child;
	int status;

	(void)state;
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(hold), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct pj_error cerr = { 0 };
		struct pj_runlock *held = NULL;

		close(ready[0]);
		close(hold[1]);
		c = pj_runlock_acquire_file(dir, &held, &cerr) == PJ_OK ? 'y'
		                                                        : 'n';
		if (write(ready[1], &c, 1) != 1)
			_exit(2);
		/* Holds until killed, or until the parent is gone. */
		while (read(hold[0], &c, 1) != 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(c, 'y');
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_ELOCKED);
	snprintf(want, sizeof(want), "(pid %ld)", (long)child);
	if (strstr(err.msg, want) == NULL)
		fail_msg(
		    "message does not name the child %s: %s", want, err.msg);
	assert_int_equal(kill(child, SIGKILL), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	close(hold[1]);
	pj_error_clear(&err);
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_OK);
	pj_runlock_release_file(lock);
	remove_dir(dir);
}

/* The descriptor holding the lock must not leak into programs we run. */
static void
test_lock_descriptor_is_close_on_exec(void **state)
{
	struct pj_error err = { 0 };
	struct pj_runlock *lock = NULL;
	char path[4096], link[4096], target[4096];
	char *dir = make_dir();
	struct dirent *e;
	bool found = false;
	DIR *fds;
	ssize_t n;

	(void)state;
	assert_int_equal(pj_runlock_acquire_file(dir, &lock, &err), PJ_OK);
	lock_path(dir, path, sizeof(path));
	fds = opendir("/proc/self/fd");
	assert_non_null(fds);
	while ((e = readdir(fds)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		assert_true(snprintf(link, sizeof(link), "/proc/self/fd/%s",
		                e->d_name) < (int)sizeof(link));
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) != 0)
			continue;
		found = true;
		if ((fcntl(atoi(e->d_name), F_GETFD) & FD_CLOEXEC) == 0)
			fail_msg("descriptor %s on %s is not close-on-exec",
			    e->d_name, path);
	}
	closedir(fds);
	assert_true(found);
	pj_runlock_release_file(lock);
	remove_dir(dir);
}

enum dir_kind { DIR_MODE, DIR_MISSING, DIR_FILE, DIR_EMPTY_NAME };

struct dir_case {
	const char *what;
	enum dir_kind kind;
	mode_t mode;
	int rc;
	const char *msg; /* part of the message */
};

static const struct dir_case dir_cases[] = {
	{ "mode 0700", DIR_MODE, 0700, PJ_OK, NULL },
	{ "mode 0755", DIR_MODE, 0755, PJ_OK, NULL },
	{ "mode 0770", DIR_MODE, 0770, PJ_ECONFIG, "writable by group" },
	{ "mode 0702", DIR_MODE, 0702, PJ_ECONFIG, "writable by group" },
	{ "mode 1777", DIR_MODE, 01777, PJ_ECONFIG, "(mode 1777)" },
	{ "missing", DIR_MISSING, 0, PJ_ECONFIG, "does not exist" },
	{ "a regular file", DIR_FILE, 0, PJ_ECONFIG, "not a directory" },
	{ "empty name", DIR_EMPTY_NAME, 0, PJ_ECONFIG, "not set" },
};

static void
test_run_directory_checks(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
		const struct dir_case *c = &dir_cases[i];
		struct pj_error err = { 0 };
		struct pj_runlock *lock = NULL;
		char *base = make_dir();
		char run[4096];
		const char *arg = run;
		int rc;
		int fd;

		assert_true(snprintf(run, sizeof(run), "%s/run", base) <
		    (int)sizeof(run));
		if (c->kind == DIR_MODE) {
			assert_int_equal(mkdir(run, 0700), 0);
			assert_int_equal(chmod(run, c->mode), 0);
		} else if (c->kind == DIR_FILE) {
			fd = open(run, O_CREAT | O_WRONLY, 0600);
			assert_true(fd >= 0);
			close(fd);
		} else if (c->kind == DIR_EMPTY_NAME) {
			arg = "";
		}
		rc = pj_runlock_acquire_file(arg, &lock, &err);
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->what, rc, c->rc,
			    err.msg);
		if (c->msg != NULL && strstr(err.msg, c->msg) == NULL)
			fail_msg("%s: message lacks \"%s\": %s", c->what,
			    c->msg, err.msg);
		if (rc != PJ_OK && lock != NULL)
			fail_msg("%s: *out set on failure", c->what);
		pj_runlock_release_file(lock);
		if (c->kind == DIR_MODE) {
			char path[4096];

			lock_path(run, path, sizeof(path));
			unlink(path);
			assert_int_equal(rmdir(run), 0);
		}
		remove_dir(base);
	}
}

enum plant_kind { PLANT_SYMLINK, PLANT_DANGLING, PLANT_FIFO, PLANT_HARDLINK };

struct plant_case {
	const char *what;
	enum plant_kind kind;
	const char *msg;
};

static const struct plant_case plant_cases[] = {
	{ "symlink to a file", PLANT_SYMLINK, "symbolic link" },
	{ "dangling symlink", PLANT_DANGLING, "symbolic link" },
	{ "fifo", PLANT_FIFO, "not a regular file" },
	{ "hard link", PLANT_HARDLINK, "one link" },
};

/* Whatever is planted at the lock path is refused and left as it was. */
static void
test_planted_lock_path_is_refused(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(plant_cases) / sizeof(plant_cases[0]); i++) {
		const struct plant_case *c = &plant_cases[i];
		struct pj_error err = { 0 };
		struct pj_runlock *lock = NULL;
		char *dir = make_dir();
		char path[4096], victim[4096], text[64];
		struct stat st;
		FILE *f;
		int rc;

		lock_path(dir, path, sizeof(path));
		assert_true(snprintf(victim, sizeof(victim), "%s/victim", dir) <
		    (int)sizeof(victim));
		if (c->kind != PLANT_DANGLING && c->kind != PLANT_FIFO) {
			f = fopen(victim, "w");
			assert_non_null(f);
			fputs("precious\n", f);
			fclose(f);
		}
		if (c->kind == PLANT_SYMLINK || c->kind == PLANT_DANGLING)
			assert_int_equal(symlink(victim, path), 0);
		else if (c->kind == PLANT_FIFO)
			assert_int_equal(mkfifo(path, 0600), 0);
		else
			assert_int_equal(link(victim, path), 0);
		rc = pj_runlock_acquire_file(dir, &lock, &err);
		if (rc != PJ_ECONFIG || strstr(err.msg, c->msg) == NULL)
			fail_msg("%s: rc %d, want %d with \"%s\": %s", c->what,
			    rc, PJ_ECONFIG, c->msg, err.msg);
		assert_null(lock);
		if (c->kind == PLANT_DANGLING) {
			if (lstat(victim, &st) == 0)
				fail_msg("%s: the link's target was created",
				    c->what);
		} else if (c->kind != PLANT_FIFO) {
			read_text(victim, text, sizeof(text));
			if (strcmp(text, "precious\n") != 0)
				fail_msg("%s: the target was changed to \"%s\"",
				    c->what, text);
		}
		remove_dir(dir);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acquire_creates_private_file_with_pid),
		cmocka_unit_test(test_stale_content_is_replaced),
		cmocka_unit_test(test_second_locker_in_process_is_locked_out),
		cmocka_unit_test(test_forked_holder_then_killed),
		cmocka_unit_test(test_lock_descriptor_is_close_on_exec),
		cmocka_unit_test(test_run_directory_checks),
		cmocka_unit_test(test_planted_lock_path_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
