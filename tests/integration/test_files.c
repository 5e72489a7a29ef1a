/*
 * Files the worker writes and its process, through the binary: the lock
 * file is 0600 and the metrics file 0644 whatever the umask; a symbolic
 * link planted at the lock file, the metrics file or its temporary file
 * is never followed; the process cannot be read by its own user while it
 * holds the password (PR_SET_DUMPABLE 0).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/integration/harness.h"

#define DB "pj_it_files"
#define TARGET_TEXT "precious: must never change\n"
#define DUMP_USER "pj_it_dump"
#define DUMP_PASSWORD "dump-marker-5b1e"
#define NOBODY 65534

static char dir[] = "/tmp/pj-files-XXXXXX";
/* The worker files_process_not_dumpable started, killed by teardown so a
 * failed test leaves none waiting behind. */
static pid_t waiting_worker = -1;

static const char SQL_GET_LOCK[] = "SELECT GET_LOCK('pj_it_files_lock', 0)";

static void
path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* A file the worker must never touch; returns its path in buf. */
static void
plant_target(char *buf, size_t size)
{
	int fd;

	path_in(buf, size, "target");
	unlink(buf);
	fd = open(buf, O_WRONLY | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, TARGET_TEXT, strlen(TARGET_TEXT)),
	    (ssize_t)strlen(TARGET_TEXT));
	close(fd);
}

static void
assert_target_untouched(const char *target)
{
	char buf[128] = "";
	struct stat st;
	ssize_t n;
	int fd;

	assert_int_equal(lstat(target, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	fd = open(target, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, TARGET_TEXT);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		fail_msg("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		fail_msg("%s: not a regular file (mode %o)", path,
		    (unsigned int)st.st_mode);
	return st.st_mode & 07777;
}

/* A config with the lock directory and metrics file in dir. */
static char *
config(void)
{
	char yaml[1024];

	snprintf(yaml, sizeof(yaml),
	    "worker:\n  lock:\n    run_dir: \"%s/run\"\n"
	    "report:\n  metrics_file: \"%s/janitor.prom\"\n",
	    dir, dir);
	return h_config(DB, yaml);
}

static struct h_result
repair(const char *cfg)
{
	const char *argv[] = { "--config", cfg, "--pass",
		"incomplete_consumers", "repair", NULL };

	return h_run(argv, NULL);
}

static int
setup(void **state)
{
	(void)state;
	h_reset_db(DB);
	return 0;
}

/* Under umask 000 and 077 alike: lock file 0600, metrics file 0644. */
static void
files_created_with_documented_modes(void **state)
{
	const mode_t masks[] = { 0, 077 };
	char *cfg = config();
	char lock[512], prom[512], run[512];
	struct h_result r;
	mode_t old;
	size_t i;

	(void)state;
	path_in(lock, sizeof(lock), "run/placement-janitor.lock");
	path_in(prom, sizeof(prom), "janitor.prom");
	path_in(run, sizeof(run), "run");
	for (i = 0; i < 2; i++) {
		unlink(lock);
		unlink(prom);
		rmdir(run);
		old = umask(masks[i]);
		r = repair(cfg);
		umask(old);
		h_expect_exit(&r, 0, "repair");
		h_result_free(&r);
		assert_int_equal(mode_of(lock), 0600);
		assert_int_equal(mode_of(prom), 0644);
	}
	free(cfg);
}

/* A symbolic link or a second hard link at the lock file's path: the run
 * refuses it (exit 78, saying why) and the file behind stays as it was. */
static void
files_lock_link_is_refused(void **state)
{
	char *cfg = config();
	char lock[512], target[512], run[512];
	struct h_result r;

	(void)state;
	plant_target(target, sizeof(target));
	path_in(run, sizeof(run), "run");
	path_in(lock, sizeof(lock), "run/placement-janitor.lock");
	mkdir(run, 0700);
	unlink(lock);
	assert_int_equal(symlink(target, lock), 0);
	r = repair(cfg);
	h_expect_exit(&r, 78, "lock file symlink");
	assert_non_null(strstr(r.err, "is a symbolic link; refusing it"));
	h_result_free(&r);
	assert_target_untouched(target);

	unlink(lock);
	assert_int_equal(link(target, lock), 0);
	r = repair(cfg);
	h_expect_exit(&r, 78, "lock file hard link");
	assert_non_null(strstr(r.err, "not a regular file with one link"));
	h_result_free(&r);
	assert_target_untouched(target);
	unlink(lock);
	free(cfg);
}

/* A symbolic link at the metrics file is replaced by the new file (rename
 * replaces the link, never what it points to). */
static void
files_metrics_link_is_replaced(void **state)
{
	char *cfg = config();
	char prom[512], target[512];
	struct h_result r;

	(void)state;
	plant_target(target, sizeof(target));
	path_in(prom, sizeof(prom), "janitor.prom");
	unlink(prom);
	assert_int_equal(symlink(target, prom), 0);
	r = repair(cfg);
	h_expect_exit(&r, 0, "repair");
	h_result_free(&r);
	assert_int_equal(mode_of(prom), 0644);
	assert_target_untouched(target);
	free(cfg);
}

/* A symbolic link planted at the temporary file's name (the metrics path,
 * the worker's pid, ".tmp") as soon as the worker starts: it is not
 * followed (O_EXCL, O_NOFOLLOW); the worker warns and writes nothing. */
static void
files_metrics_temp_link_is_refused(void **state)
{
	char *cfg = config();
	const char *argv[] = { "--config", cfg, "--pass",
		"incomplete_consumers", "repair", NULL };
	char prom[512], target[512], tmp[600];
	struct h_result r;
	struct h_proc p;

	(void)state;
	plant_target(target, sizeof(target));
	path_in(prom, sizeof(prom), "janitor.prom");
	unlink(prom);
	p = h_start(argv, NULL, (uid_t)-1);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", prom, (long)p.pid);
	assert_int_equal(symlink(target, tmp), 0);
	r = h_finish(&p);
	h_expect_exit(&r, 0, "repair");
	assert_non_null(strstr(r.err, "event=metrics_failed"));
	assert_non_null(strstr(r.err, "File exists"));
	h_result_free(&r);
	assert_target_untouched(target);
	assert_int_equal(access(prom, F_OK), -1);
	unlink(tmp);
	free(cfg);
}

/* Run as uid: tries to read pid's environment (which holds the password),
 * exits 0 only if the kernel refuses. */
static pid_t
probe_environ(pid_t pid, uid_t uid)
{
	char path[64];
	pid_t child;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	fflush(NULL);
	child = fork();
	assert_true(child >= 0);
	if (child > 0)
		return child;
	if (uid != (uid_t)-1 &&
	    (setgroups(0, NULL) != 0 || setgid((gid_t)uid) != 0 ||
	        setuid(uid) != 0))
		_exit(2);
	fd = open(path, O_RDONLY);
	_exit(fd < 0 && errno == EACCES ? 0 : 1);
}

/* Waits until the worker sits in GET_LOCK: connected, password read. */
static void
wait_for_lock_wait(struct h_proc *p)
{
	struct h_result r;
	int i;

	for (i = 0; i < 200; i++) {
		if (h_query_int(NULL,
		        "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
		        " WHERE USER = '" DUMP_USER "'"
		        " AND INFO LIKE 'SELECT GET_LOCK%'") == 1)
			return;
		usleep(50 * 1000);
	}
	kill(p->pid, SIGKILL);
	r = h_finish(p);
	fail_msg("the worker never waited for the database lock: exit %d\n%s",
	    r.exit_code, r.err);
}

/*
 * While it holds the password (connected, waiting for the run lock this
 * test holds), the worker's /proc entries belong to root and another
 * process of its own user cannot read its environment (where the
 * password is). Run as nobody when the test runs as root.
 */
static void
files_process_not_dumpable(void **state)
{
	uid_t uid = geteuid() == 0 ? NOBODY : (uid_t)-1;
	char extra[1024], run[512], status[64];
	const char *env[] = { "PJ_IT_DUMP_PW=" DUMP_PASSWORD, NULL };
	const char *argv[] = { "--config", NULL, "--pass",
		"incomplete_consumers", "repair", NULL };
	struct pj_error err = { 0 };
	struct pj_db *holder;
	struct h_result r;
	struct stat st;
	struct h_proc p;
	char *cfg;

	(void)state;
	h_sql(NULL,
	    "CREATE USER IF NOT EXISTS '" DUMP_USER
	    "'@'localhost'"
	    " IDENTIFIED BY '" DUMP_PASSWORD
	    "';"
	    "GRANT SELECT ON " DB ".* TO '" DUMP_USER "'@'localhost';");
	path_in(run, sizeof(run), "dump-run");
	mkdir(run, 0700);
	snprintf(extra, sizeof(extra),
	    "worker:\n  lock:\n    run_dir: \"%s\"\n"
	    "    name: pj_it_files_lock\n    timeout: 30s\n",
	    run);
	cfg = h_config_user(
	    DB, DUMP_USER, "  password_env: PJ_IT_DUMP_PW\n", extra);
	if (uid != (uid_t)-1) {
		assert_int_equal(chown(cfg, uid, uid), 0);
		assert_int_equal(chown(run, uid, uid), 0);
		assert_int_equal(chmod(dir, 0711), 0);
	}
	holder = h_connect(DB);
	assert_int_equal(
	    pj_db_exec(holder, SQL_GET_LOCK, NULL, 0, NULL, &err), PJ_OK);
	argv[1] = cfg;
	p = h_start(argv, env, uid);
	waiting_worker = p.pid;
	wait_for_lock_wait(&p);

	snprintf(status, sizeof(status), "/proc/%ld/status", (long)p.pid);
	assert_int_equal(stat(status, &st), 0);
	assert_int_not_equal(uid == (uid_t)-1 ? geteuid() : uid, 0);
	if (st.st_uid != 0)
		fail_msg("%s belongs to uid %u: the worker is dumpable", status,
		    (unsigned int)st.st_uid);
	h_reap(probe_environ(p.pid, uid));

	kill(p.pid, SIGKILL);
	r = h_finish(&p);
	waiting_worker = -1;
	assert_int_equal(r.exit_code, 128 + SIGKILL);
	h_result_free(&r);
	pj_db_close(holder);
	chmod(dir, 0700);
	free(cfg);
}

static int
kill_waiting_worker(void **state)
{
	(void)state;
	if (waiting_worker > 0)
		kill(waiting_worker, SIGKILL);
	waiting_worker = -1;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(files_created_with_documented_modes),
		cmocka_unit_test(files_lock_link_is_refused),
		cmocka_unit_test(files_metrics_link_is_replaced),
		cmocka_unit_test(files_metrics_temp_link_is_refused),
		cmocka_unit_test_teardown(
		    files_process_not_dumpable, kill_waiting_worker),
	};
	int failed;

	h_require_sandbox();
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "test_files: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	failed = cmocka_run_group_tests(tests, setup, NULL);
	h_cleanup();
	h_remove_tree(dir);
	return failed;
}
