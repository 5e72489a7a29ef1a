/* Integration test helpers: the sandbox MariaDB, its client, our binary. */
#include "tests/integration/harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/attr.h"
#include "common/error.h"
#include "common/strings.h"
#include "config/config.h"
#include "worker/pass.h"

#ifndef PJ_SOURCE_DIR
#error "PJ_SOURCE_DIR must name the source tree"
#endif

#define TEMP_MAX 64

/* Temporary files to remove in h_cleanup (a test helper's own list). */
static char *temp_paths[TEMP_MAX];
static size_t temp_count;

static void hfail(const char *fmt, ...) PJ_PRINTF(1, 2);

/* Fails the running test with a formatted message. */
static void
hfail(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("harness: %s", msg);
}

static void *
xmalloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		hfail("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static const char *
sandbox_socket(void)
{
	const char *sock = getenv("PJ_TEST_SOCKET");

	return sock != NULL && sock[0] != '\0' ? sock : NULL;
}

struct buf {
	char *data;
	size_t len, cap;
};

static int
buf_add(struct buf *b, const char *p, size_t n)
{
	char *d;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

/* In a forked child: adds env ("NAME=value", NULL-ended) or exits 126. */
static void
child_setenv(const char *const *env)
{
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		const char *eq = strchr(env[i], '=');
		char name[256];

		if (eq == NULL || (size_t)(eq - env[i]) >= sizeof(name))
			_exit(126);
		memcpy(name, env[i], (size_t)(eq - env[i]));
		name[eq - env[i]] = '\0';
		if (setenv(name, eq + 1, 1) != 0)
			_exit(126);
	}
}

static void
child_exec(const char *path, const char *const *argv, const char *const *env,
    int in_fd, int out_fd, int err_fd)
{
	if (in_fd < 0)
		in_fd = open("/dev/null", O_RDONLY);
	if (in_fd < 0 || dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 ||
	    dup2(err_fd, 2) < 0)
		_exit(126);
	child_setenv(env);
	execvp(path, (char *const *)argv);
	dprintf(2, "harness: cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

/*
 * Reads both pipes of p to their end (after what h_proc_read already
 * took from stderr), then reaps the child. p's pipes and stderr text pass
 * to r.
 */
static int
collect(struct h_proc *p, struct h_result *r, char *why, size_t why_size)
{
	struct buf out = { 0 }, err = { p->err, p->err_len, p->err_cap };
	struct pollfd fds[2] = { { p->out_fd, POLLIN, 0 },
		{ p->err_fd, POLLIN, 0 } };
	struct buf *dst[2] = { &out, &err };
	char chunk[8192];
	int open_fds = (p->out_fd >= 0) + (p->err_fd >= 0), status = 0, i;
	ssize_t n;

	p->out_fd = p->err_fd = -1;
	p->err = NULL;
	p->err_len = p->err_cap = 0;

	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, why_size, "poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || fds[i].revents == 0)
				continue;
			n = read(fds[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0 && buf_add(dst[i], chunk, (size_t)n) == 0)
				continue;
			close(fds[i].fd);
			fds[i].fd = -1;
			open_fds--;
		}
	}
	while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
		;
	p->pid = -1;
	r->exit_code =
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r->out = out.data != NULL ? out.data : strdup("");
	r->err = err.data != NULL ? err.data : strdup("");
	if (r->out == NULL || r->err == NULL) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return why[0] == '\0' ? 0 : -1;
}

/*
 * Starts path with argv (argv[0] included), env additions, in_fd as
 * standard input (-1: /dev/null) and as_uid ((uid_t)-1: ours), its
 * output on two pipes. Returns -1 with why filled if it could not start;
 * never fails the test itself.
 */
static int
start_process(const char *path, const char *const *argv, const char *const *env,
    int in_fd, uid_t as_uid, struct h_proc *p, char *why, size_t why_size)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };

	memset(p, 0, sizeof(*p));
	p->out_fd = p->err_fd = -1;
	why[0] = '\0';
	if (pipe(out) != 0 || pipe(err) != 0) {
		snprintf(why, why_size, "pipe: %s", strerror(errno));
		goto fail;
	}
	/* Only the child's dup2 copies survive its exec. */
	for (int i = 0; i < 2; i++) {
		fcntl(out[i], F_SETFD, FD_CLOEXEC);
		fcntl(err[i], F_SETFD, FD_CLOEXEC);
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		snprintf(why, why_size, "fork: %s", strerror(errno));
		goto fail;
	}
	if (p->pid == 0) {
		if (as_uid != (uid_t)-1 &&
		    (setgroups(0, NULL) != 0 || setgid((gid_t)as_uid) != 0 ||
		        setuid(as_uid) != 0))
			_exit(126);
		child_exec(path, argv, env, in_fd, out[1], err[1]);
	}
	close(out[1]);
	close(err[1]);
	p->out_fd = out[0];
	p->err_fd = err[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return -1;
}

/* start_process and collect: runs path to its end, capturing output. */
static int
run_process(const char *path, const char *const *argv, const char *const *env,
    int in_fd, struct h_result *r, char *why, size_t why_size)
{
	struct h_proc p;

	memset(r, 0, sizeof(*r));
	if (start_process(
	        path, argv, env, in_fd, (uid_t)-1, &p, why, why_size) != 0)
		return -1;
	return collect(&p, r, why, why_size);
}

/* Runs the mariadb client as the sandbox's root with stdin from in_fd. */
static int
run_client(
    const char *name, int in_fd, struct h_result *r, char *why, size_t why_size)
{
	char sock_arg[1100], db_arg[300];
	const char *argv[12];
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	if (sandbox_socket() == NULL) {
		snprintf(why, why_size,
		    "PJ_TEST_SOCKET is not set (run "
		    "eval \"$(scripts/sandbox-db.sh env)\")");
		return -1;
	}
	snprintf(sock_arg, sizeof(sock_arg), "--socket=%s", sandbox_socket());
	argv[n++] = "mariadb";
	argv[n++] = "--no-defaults"; /* must come first */
	argv[n++] = sock_arg;
	argv[n++] = "--user=root";
	argv[n++] = "--batch";
	argv[n++] = "--raw";
	argv[n++] = "--skip-column-names";
	argv[n++] = "--default-character-set=utf8mb4";
	argv[n++] = "--connect-timeout=5";
	if (name != NULL) {
		snprintf(db_arg, sizeof(db_arg), "--database=%s", name);
		argv[n++] = db_arg;
	}
	argv[n] = NULL;
	return run_process("mariadb", argv, NULL, in_fd, r, why, why_size);
}

/* An unlinked temporary file for a client's standard input. */
static FILE *
sql_temp(void)
{
	FILE *f = tmpfile();

	if (f == NULL)
		hfail("tmpfile: %s", strerror(errno));
	return f;
}

/* What was written to f (closed here) as a descriptor at its start. */
static int
rewound_fd(FILE *f)
{
	int fd;

	if (fflush(f) != 0)
		hfail("writing SQL to a temporary file: %s", strerror(errno));
	fd = dup(fileno(f));
	fclose(f);
	if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0)
		hfail("temporary SQL file: %s", strerror(errno));
	return fd;
}

/* SQL text as a client's standard input. */
static int
sql_fd(const char *sql)
{
	FILE *f = sql_temp();

	if (fputs(sql, f) < 0)
		hfail("writing SQL to a temporary file: %s", strerror(errno));
	return rewound_fd(f);
}

/* Runs SQL from in_fd (closed here); fails the test unless it succeeds.
 * Returns the client's standard output (caller frees). */
static char *
client_ok(const char *name, int in_fd, const char *what)
{
	struct h_result r;
	char why[512];
	char *out;
	int rc;

	rc = run_client(name, in_fd, &r, why, sizeof(why));
	close(in_fd);
	if (rc != 0) {
		h_result_free(&r);
		hfail("%s: %s", what, why);
	}
	if (r.exit_code != 0) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s: mariadb exited %d: %s", what,
		    r.exit_code, r.err);
		h_result_free(&r);
		hfail("%s", msg);
	}
	out = r.out;
	r.out = NULL;
	h_result_free(&r);
	return out;
}

int
h_cannot_run(const char *why, const char *hint)
{
	const char *allow = getenv("PJ_TEST_ALLOW_SKIP");
	const char *ci = getenv("CI");
	bool may_skip = allow != NULL && strcmp(allow, "1") == 0 &&
	    !(ci != NULL && strcmp(ci, "true") == 0);

	fprintf(stderr, "%s: %s\n", may_skip ? "SKIP" : "FAIL", why);
	if (!may_skip && hint != NULL)
		fprintf(stderr, "%s\n", hint);
	return may_skip ? 77 : 1;
}

void
h_require_sandbox(void)
{
	struct h_result r;
	char why[512];
	int fd, rc;

	fd = open("/dev/null", O_RDONLY);
	rc = run_client(NULL, fd, &r, why, sizeof(why));
	if (fd >= 0)
		close(fd);
	if (rc == 0 && r.exit_code != 0)
		snprintf(why, sizeof(why),
		    "the sandbox at %s does not answer: "
		    "%s",
		    sandbox_socket(), r.err);
	h_result_free(&r);
	if (rc == 0 && why[0] == '\0')
		return;
	why[strcspn(why, "\n")] = '\0';
	exit(h_cannot_run(why,
	    "start it with scripts/sandbox-db.sh start, or "
	    "set PJ_TEST_ALLOW_SKIP=1 to skip"));
}

/* Database names go into SQL text here, so only plain ones are taken. */
static void
check_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > 64)
		hfail("bad test database name '%s'", name);
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			hfail("bad test database name '%s'", name);
	}
}

void
h_reset_db(const char *name)
{
	char sql[256];

	check_name(name);
	snprintf(sql, sizeof(sql),
	    "DROP DATABASE IF EXISTS `%s`;\n"
	    "CREATE DATABASE `%s` CHARACTER SET utf8mb3"
	    " COLLATE utf8mb3_general_ci;\n",
	    name, name);
	free(client_ok(NULL, sql_fd(sql), "reset database"));
	h_sql_file(name, "sql/placement-schema.sql");
}

void
h_sql(const char *name, const char *sql)
{
	free(client_ok(name, sql_fd(sql), sql));
}

void
h_sql_file(const char *name, const char *path)
{
	char full[2048];
	int fd;

	snprintf(full, sizeof(full), "%s/%s", PJ_SOURCE_DIR, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		hfail("%s: %s", full, strerror(errno));
	free(client_ok(name, fd, full));
}

char *
h_query(const char *name, const char *sql)
{
	char *out = client_ok(name, sql_fd(sql), sql);

	out[strcspn(out, "\t\n")] = '\0';
	return out;
}

long long
h_query_int(const char *name, const char *sql)
{
	char *text = h_query(name, sql);
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (text[0] == '\0' || *end != '\0' || errno != 0) {
		char copy[128];

		pj_strlcpy(copy, text, sizeof(copy));
		free(text);
		hfail("%s: not a number: '%s'", sql, copy);
	}
	free(text);
	return v;
}

static const char SQL_BASE_TABLES[] =
    "SELECT TABLE_NAME FROM information_schema.TABLES"
    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
    " ORDER BY TABLE_NAME";

char *
h_checksum(const char *name)
{
	struct buf sql = { 0 };
	char *tables, *line, *save = NULL, *out;
	size_t count = 0;

	tables = client_ok(name, sql_fd(SQL_BASE_TABLES), SQL_BASE_TABLES);
	buf_add(&sql, "CHECKSUM TABLE ", 15);
	for (line = strtok_r(tables, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (count++ > 0)
			buf_add(&sql, ", ", 2);
		buf_add(&sql, "`", 1);
		for (const char *p = line; *p != '\0'; p++) {
			if (*p == '`')
				buf_add(&sql, "`", 1);
			buf_add(&sql, p, 1);
		}
		buf_add(&sql, "`", 1);
	}
	free(tables);
	if (count == 0) {
		free(sql.data);
		return xstrdup("");
	}
	if (buf_add(&sql, " EXTENDED;\n", 11) != 0)
		hfail("out of memory");
	out = client_ok(name, sql_fd(sql.data), "CHECKSUM TABLE");
	free(sql.data);
	return out;
}

struct pj_db *
h_connect(const char *name)
{
	return h_connect_waiting(name, 10000);
}

void
h_pass_ctx(
    struct pj_ctx *ctx, struct pj_config *cfg, const char *name, bool archive)
{
	struct pj_error err = { 0 };

	if (pj_cfg_defaults(cfg, &err) != PJ_OK)
		hfail("config defaults: %s", err.msg);
	memset(ctx, 0, sizeof(*ctx));
	ctx->db = h_connect(name);
	ctx->cfg = cfg;
	ctx->run_id = "by-hand";
	ctx->archive = archive;
}

struct pj_db *
h_connect_waiting(const char *name, int64_t lock_wait_ms)
{
	struct pj_db_config cfg;
	struct pj_error err = { 0 };
	struct pj_db *db = NULL;

	if (sandbox_socket() == NULL)
		hfail("PJ_TEST_SOCKET is not set");
	memset(&cfg, 0, sizeof(cfg));
	pj_strlcpy(cfg.socket, sandbox_socket(), sizeof(cfg.socket));
	pj_strlcpy(cfg.name, name, sizeof(cfg.name));
	pj_strlcpy(cfg.user, "root", sizeof(cfg.user));
	cfg.tls_mode = PJ_TLS_DISABLED;
	cfg.connect_timeout_ms = 10000;
	cfg.read_timeout_ms = 60000;
	cfg.write_timeout_ms = 60000;
	cfg.lock_wait_timeout_ms = lock_wait_ms;
	if (pj_db_connect(&cfg, &db, &err) != PJ_OK)
		hfail("connect to %s: %s: %s", name, pj_status_name(err.code),
		    err.msg);
	return db;
}

int
h_try_exec(
    struct pj_db *db, const char *sql, const struct pj_param *p, size_t n)
{
	struct pj_error err = { 0 };
	int rc;

	rc = pj_db_begin(db, &err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, sql, p, n, NULL, &err);
	pj_db_rollback(db);
	return rc;
}

static void
remember_temp(const char *path)
{
	if (temp_count == TEMP_MAX)
		hfail("more than %d temporary files", TEMP_MAX);
	temp_paths[temp_count++] = xstrdup(path);
}

/* A YAML double-quoted scalar of s (paths and names from the tests). */
static void
yaml_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/*
 * Writes extra_yaml with worker.lock.run_dir set to a directory of this
 * test process, inside extra's own worker section when it has one, so
 * tests never share the host's lock file with each other or a real run.
 * (A worker.lock section of extra's own keeps the default.)
 */
static char run_dir[64];

static void
put_extra_with_run_dir(FILE *f, const char *extra)
{
	const char *dir = run_dir;
	const char *worker = NULL;

	if (run_dir[0] == '\0')
		snprintf(run_dir, sizeof(run_dir), "/tmp/pj-test-run-%ld",
		    (long)getpid());
	if (extra != NULL && strncmp(extra, "worker:\n", 8) == 0)
		worker = extra;
	else if (extra != NULL && strstr(extra, "\nworker:\n") != NULL)
		worker = strstr(extra, "\nworker:\n") + 1;
	if (extra != NULL && strstr(extra, "  lock:\n") != NULL) {
		fputs(extra, f);
		return;
	}
	if (worker == NULL) {
		fprintf(f, "worker:\n  lock:\n    run_dir: %s\n", dir);
		if (extra != NULL)
			fputs(extra, f);
		return;
	}
	fwrite(extra, 1, (size_t)(worker - extra) + 8, f);
	fprintf(f, "  lock:\n    run_dir: %s\n", dir);
	fputs(worker + 8, f);
}

/* A fresh 0600 config file: the database section's connection lines
 * (where, already YAML), then db_yaml and extra_yaml. */
static char *
write_config(const char *where, const char *db_yaml, const char *extra_yaml)
{
	const char *tmp = getenv("TMPDIR");
	char path[1024];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/pj-test-XXXXXX.yaml",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	fd = mkstemps(path, 5); /* mode 0600 */
	if (fd < 0)
		hfail("mkstemps %s: %s", path, strerror(errno));
	remember_temp(path);
	f = fdopen(fd, "w");
	if (f == NULL)
		hfail("fdopen %s: %s", path, strerror(errno));
	fputs("# written by tests/integration/harness.c\ndatabase:\n", f);
	fputs(where, f);
	if (db_yaml != NULL)
		fputs(db_yaml, f);
	put_extra_with_run_dir(f, extra_yaml);
	if (fclose(f) != 0)
		hfail("writing %s: %s", path, strerror(errno));
	return xstrdup(path);
}

/* The YAML lines "  key: "value"" for a database setting. */
static void
put_setting(struct buf *b, const char *key, const char *value)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		hfail("out of memory");
	fprintf(f, "  %s: ", key);
	yaml_quoted(f, value);
	fputc('\n', f);
	if (fclose(f) != 0 || buf_add(b, text, len) != 0)
		hfail("out of memory");
	free(text);
}

/* write_config with where (freed here) and then database name and user. */
static char *
config_as(struct buf *where, const char *name, const char *user,
    const char *db_yaml, const char *extra_yaml)
{
	char *path;

	put_setting(where, "name", name);
	put_setting(where, "user", user);
	path = write_config(where->data, db_yaml, extra_yaml);
	free(where->data);
	return path;
}

char *
h_config_user(const char *name, const char *user, const char *db_yaml,
    const char *extra_yaml)
{
	struct buf where = { 0 };

	if (sandbox_socket() == NULL)
		hfail("PJ_TEST_SOCKET is not set");
	put_setting(&where, "socket", sandbox_socket());
	return config_as(&where, name, user, db_yaml, extra_yaml);
}

char *
h_config_db(const char *name, const char *db_yaml, const char *extra_yaml)
{
	return h_config_user(name, "root", db_yaml, extra_yaml);
}

char *
h_config_tcp(const char *name, const char *host, int port, const char *user,
    const char *db_yaml, const char *extra_yaml)
{
	struct buf where = { 0 };
	char num[32];

	snprintf(num, sizeof(num), "  port: %d\n", port);
	put_setting(&where, "host", host);
	if (buf_add(&where, num, strlen(num)) != 0)
		hfail("out of memory");
	return config_as(&where, name, user, db_yaml, extra_yaml);
}

char *
h_config_hosts(const char *name, const char *hosts, const char *extra_yaml)
{
	struct buf where = { 0 };

	put_setting(&where, "hosts", hosts);
	return config_as(&where, name, "root", NULL, extra_yaml);
}

char *
h_config(const char *name, const char *extra_yaml)
{
	return h_config_db(name, NULL, extra_yaml);
}

struct h_result
h_run(const char *const *argv, const char *const *env)
{
	struct h_proc p = h_start(argv, env, (uid_t)-1);

	return h_finish(&p);
}

void
h_result_free(struct h_result *r)
{
	if (r == NULL)
		return;
	free(r->out);
	free(r->err);
	r->out = NULL;
	r->err = NULL;
}

void
h_cleanup(void)
{
	size_t i;

	for (i = 0; i < temp_count; i++) {
		unlink(temp_paths[i]);
		free(temp_paths[i]);
		temp_paths[i] = NULL;
	}
	temp_count = 0;
	if (run_dir[0] != '\0') {
		char lock[128];

		snprintf(
		    lock, sizeof(lock), "%s/placement-janitor.lock", run_dir);
		unlink(lock);
		rmdir(run_dir);
	}
}

long long
h_json_field(const char *json, const char *field)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", field);
	p = strstr(json, "\"passes\"");
	p = p != NULL ? strstr(p, key) : NULL;
	return p != NULL ? atoll(p + strlen(key)) : -1;
}

pid_t
h_hold(const char *name, const char *const *sql, const struct pj_param *p,
    size_t n, int hold_ms, bool commit)
{
	int ready[2];
	pid_t pid;
	char byte = 0;

	if (pipe(ready) != 0)
		hfail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		hfail("fork: %s", strerror(errno));
	if (pid == 0) {
		struct pj_error err = { 0 };
		struct pj_db *db = h_connect(name);

		close(ready[0]);
		if (pj_db_begin(db, &err) != PJ_OK)
			_exit(1);
		for (; *sql != NULL; sql++) {
			if (pj_db_exec(db, *sql, p, n, NULL, &err) != PJ_OK)
				_exit(1);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep((useconds_t)hold_ms * 1000);
		if (!commit)
			pj_db_rollback(db);
		else if (pj_db_commit(db, &err) != PJ_OK)
			_exit(1);
		pj_db_close(db);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &byte, 1) != 1)
		hfail(
		    "the lock holder (pid %d) failed before holding", (int)pid);
	close(ready[0]);
	return pid;
}

void
h_reap(pid_t pid)
{
	int status = 0;

	if (waitpid(pid, &status, 0) != pid)
		hfail("waitpid %ld: %s", (long)pid, strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		hfail(
		    "helper process %ld failed (status %d)", (long)pid, status);
}

long long
h_pass_field(const char *pass, const char *json, const char *field)
{
	char name[96], key[64];
	const char *p;

	snprintf(name, sizeof(name), "\"name\":\"%s\"", pass);
	snprintf(key, sizeof(key), "\"%s\":", field);
	p = strstr(json, name);
	p = p != NULL ? strstr(p, key) : NULL;
	return p != NULL ? atoll(p + strlen(key)) : -1;
}

void
h_expect_query(
    const char *name, const char *sql, const char *want, const char *what)
{
	char *got = h_query(name, sql);

	if (strcmp(got, want) != 0)
		fail_msg("%s: got '%s', expected '%s'", what, got, want);
	free(got);
}

bool
h_pass_has(const char *pass, const char *json, const char *member)
{
	char name[96];
	const char *p, *end;

	snprintf(name, sizeof(name), "\"name\":\"%s\"", pass);
	p = strstr(json, name);
	if (p == NULL)
		return false;
	end = strchr(p, '}');
	p = strstr(p, member);
	return p != NULL && (end == NULL || p < end);
}

void
h_json_argv(const char **argv, const char *config, const char *const *args)
{
	size_t n = 0;

	argv[n++] = "--config";
	argv[n++] = config;
	argv[n++] = "--format";
	argv[n++] = "json";
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
}

struct h_result
h_run_json(const char *config, const char *const *args)
{
	const char *argv[16];

	h_json_argv(argv, config, args);
	return h_run(argv, NULL);
}

void
h_expect_exit(const struct h_result *r, int code, const char *what)
{
	if (r->exit_code != code)
		fail_msg("%s: exit %d, expected %d\nstdout: %s\nstderr: %s",
		    what, r->exit_code, code, r->out, r->err);
}

char *
h_sql_files(const char *name, const char *prefix, const char *const *paths)
{
	char full[2048], chunk[8192];
	FILE *f = sql_temp(), *in;
	size_t n;

	if (fputs(prefix, f) < 0 || fputc('\n', f) < 0)
		hfail("writing SQL to a temporary file: %s", strerror(errno));
	for (; *paths != NULL; paths++) {
		snprintf(full, sizeof(full), "%s/%s", PJ_SOURCE_DIR, *paths);
		in = fopen(full, "r");
		if (in == NULL)
			hfail("%s: %s", full, strerror(errno));
		while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
			if (fwrite(chunk, 1, n, f) != n)
				hfail("writing SQL to a temporary file: %s",
				    strerror(errno));
		}
		fclose(in);
		fputc('\n', f);
	}
	return client_ok(name, rewound_fd(f), prefix);
}

long long
h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
h_count(const char *text, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	while (len > 0 && (text = strstr(text, needle)) != NULL) {
		n++;
		text += len;
	}
	return n;
}

void
h_expect_log(const struct h_result *r, const char *text, bool present)
{
	if ((strstr(r->err, text) != NULL) != present)
		fail_msg("\"%s\" %s the log:\n%s", text,
		    present ? "missing from" : "found in", r->err);
}

/* h_start and h_start_program: path with argv (without argv[0]). */
static struct h_proc
start_path(const char *path, const char *const *argv, const char *const *env,
    uid_t as_uid)
{
	const char *full[64];
	struct h_proc p;
	char why[512];
	size_t n = 0;

	full[n++] = path;
	while (argv != NULL && argv[n - 1] != NULL) {
		if (n == sizeof(full) / sizeof(full[0]) - 1)
			hfail("starting %s: too many arguments", path);
		full[n] = argv[n - 1];
		n++;
	}
	full[n] = NULL;
	if (start_process(path, full, env, -1, as_uid, &p, why, sizeof(why)) !=
	    0)
		hfail("starting %s: %s", path, why);
	return p;
}

struct h_proc
h_start(const char *const *argv, const char *const *env, uid_t as_uid)
{
	return start_path(PJ_BINARY, argv, env, as_uid);
}

struct h_proc
h_start_program(
    const char *path, const char *const *argv, const char *const *env)
{
	return start_path(path, argv, env, (uid_t)-1);
}

bool
h_proc_running(const struct h_proc *p)
{
	siginfo_t info;

	/* WNOWAIT: leaves an exited child for h_finish to reap. */
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT) !=
	    0)
		hfail("waitid %ld: %s", (long)p->pid, strerror(errno));
	return info.si_pid == 0;
}

bool
h_proc_wait_exit(struct h_proc *p, long timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;

	while (h_proc_running(p)) {
		if (h_now_ms() >= deadline)
			return false;
		if (p->err_fd >= 0)
			h_proc_read(p, 20);
		else
			usleep(20 * 1000);
	}
	return true;
}

/* Reads what stderr has within wait_ms into p->err; false at its end. */
static bool
proc_read_err(struct h_proc *p, long wait_ms)
{
	struct pollfd pfd = { p->err_fd, POLLIN, 0 };
	struct buf b = { p->err, p->err_len, p->err_cap };
	char chunk[8192];
	ssize_t n;
	int rc;

	if (p->err_fd < 0)
		return false;
	rc = poll(&pfd, 1, wait_ms > 0 ? (int)wait_ms : 0); /* never -1 */
	if (rc < 0 && errno != EINTR)
		hfail("poll: %s", strerror(errno));
	if (rc <= 0)
		return true;
	n = read(p->err_fd, chunk, sizeof(chunk));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		close(p->err_fd);
		p->err_fd = -1;
		return false;
	}
	if (buf_add(&b, chunk, (size_t)n) != 0)
		hfail("out of memory");
	p->err = b.data;
	p->err_len = b.len;
	p->err_cap = b.cap;
	return true;
}

/* Occurrences of text in what stderr held so far. */
static size_t
count_in(const struct h_proc *p, const char *text)
{
	return p->err != NULL ? h_count(p->err, text) : 0;
}

size_t
h_proc_wait_log(
    struct h_proc *p, const char *text, size_t count, long timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	size_t seen = count_in(p, text);

	while (seen < count && h_now_ms() < deadline && p->err_fd >= 0) {
		size_t before = p->err_len;

		proc_read_err(p, (long)(deadline - h_now_ms()));
		if (p->err_len != before)
			seen = count_in(p, text);
	}
	return seen;
}

void
h_proc_read(struct h_proc *p, long wait_ms)
{
	long long deadline = h_now_ms() + wait_ms;

	while (proc_read_err(p, (long)(deadline - h_now_ms())) &&
	    h_now_ms() < deadline)
		;
}

struct h_result
h_finish(struct h_proc *p)
{
	struct h_result r;
	char why[512] = "";
	long pid = (long)p->pid;

	memset(&r, 0, sizeof(r));
	if (collect(p, &r, why, sizeof(why)) != 0) {
		h_result_free(&r);
		hfail("waiting for %ld: %s", pid, why);
	}
	return r;
}

/* Binds a TCP socket to port on 127.0.0.1 (0: one the kernel picks) and
 * closes it again; the port it had, or -1 if it could not bind. */
static int
try_port(int port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int
h_free_port(void)
{
	static int next; /* never hand out one port of the range twice */
	const char *range = getenv("PJ_TEST_PORTS");
	int first, last, port;

	if (range == NULL || sscanf(range, "%d-%d", &first, &last) != 2)
		return try_port(0);
	for (port = next > first ? next : first; port <= last; port++) {
		if (port > 0 && try_port(port) == port) {
			next = port + 1;
			return port;
		}
	}
	return -1;
}

/* Forks argv (argv[0] found on PATH) with env additions (NULL-ended)
 * and waits for it; its exit status, 128 after a signal, -1 if no fork. */
static int
run_waiting(const char *const *argv, const char *const *env)
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_setenv(env);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* scripts/sandbox-db.sh cmd for s; its exit status. */
static int
sandbox_cmd(const char *cmd, const struct h_server *s)
{
	char dir[300], port[64], extra[1100];
	const char *env[] = { dir, port, extra, "PJ_SANDBOX_TZ=", NULL };
	const char *argv[] = { "bash", PJ_SOURCE_DIR "/scripts/sandbox-db.sh",
		cmd, NULL };

	snprintf(dir, sizeof(dir), "PJ_SANDBOX_DIR=%s", s->dir);
	snprintf(port, sizeof(port), "PJ_SANDBOX_PORT=%d", s->port);
	snprintf(extra, sizeof(extra), "PJ_SANDBOX_EXTRA_ARGS=%s", s->extra);
	return run_waiting(argv, env);
}

/* h_server_start and h_server_start_local: port -1 for none. */
static bool
server_start(struct h_server *s, const char *dir, int port, const char *extra)
{
	memset(s, 0, sizeof(*s));
	pj_strlcpy(s->dir, dir, sizeof(s->dir));
	snprintf(s->sock, sizeof(s->sock), "%s/mysqld.sock", s->dir);
	s->port = port < 0 ? 0 : port;
	snprintf(s->extra, sizeof(s->extra), "%s%s", extra,
	    port < 0 ? " --skip-networking" : "");
	if (!h_server_start_again(s)) {
		fprintf(stderr, "harness: the server in %s did not start\n",
		    s->dir);
		return false;
	}
	return true;
}

bool
h_server_start(struct h_server *s, const char *dir, const char *extra)
{
	int port = h_free_port();

	if (port < 0) {
		memset(s, 0, sizeof(*s));
		fprintf(stderr,
		    "harness: no free TCP port for the server in %s\n", dir);
		return false;
	}
	return server_start(s, dir, port, extra);
}

bool
h_server_start_local(struct h_server *s, const char *dir, const char *extra)
{
	return server_start(s, dir, -1, extra);
}

bool
h_server_start_again(struct h_server *s)
{
	if (sandbox_cmd("start", s) != 0)
		return false;
	s->started = true;
	return true;
}

void
h_server_stop(struct h_server *s)
{
	if (s->started && sandbox_cmd("stop", s) == 0)
		s->started = false;
}

void
h_server_kill(struct h_server *s)
{
	char path[400], text[32] = "";
	long long deadline;
	pid_t pid;
	FILE *f;

	snprintf(path, sizeof(path), "%s/mysqld.pid", s->dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(text, sizeof(text), f) == NULL)
		hfail("%s: no pid file: %s", s->dir, strerror(errno));
	fclose(f);
	pid = (pid_t)atol(text);
	if (pid <= 1 || kill(pid, SIGKILL) != 0)
		hfail("%s: cannot kill pid %ld: %s", s->dir, (long)pid,
		    strerror(errno));
	/* Not our child (the script started it): wait for /proc to say. */
	deadline = h_now_ms() + 10000;
	for (;;) {
		char stat[64], state = 'R';

		snprintf(stat, sizeof(stat), "/proc/%ld/stat", (long)pid);
		f = fopen(stat, "r");
		if (f == NULL)
			break;
		if (fscanf(f, "%*d %*s %c", &state) != 1)
			state = 'R';
		fclose(f);
		if (state == 'Z' || state == 'X')
			break;
		if (h_now_ms() > deadline)
			hfail("%s: pid %ld still alive", s->dir, (long)pid);
		usleep(10 * 1000);
	}
}

void
h_server_use(const struct h_server *s)
{
	setenv("PJ_TEST_SOCKET", s->sock, 1);
}

/* Whether top is still a mkdtemp template ("...XXXXXX"). */
static bool
is_template(const char *top)
{
	size_t len = strlen(top);

	return len >= 6 && strcmp(top + len - 6, "XXXXXX") == 0;
}

void
h_servers_stop(struct h_server *const *all, size_t n, char *top)
{
	bool running = false;
	size_t i;

	for (i = 0; i < n; i++) {
		h_server_stop(all[i]);
		running = running || all[i]->started;
	}
	if (strlen(top) < 6 || is_template(top) || running)
		return; /* never made, or a server may still use it */
	h_remove_tree(top);
	memset(top + strlen(top) - 6, 'X', 6);
}

int
h_command(const char *const *argv)
{
	return run_waiting(argv, NULL);
}

void
h_remove_tree(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--", path, NULL };

	(void)h_command(argv);
}

long long
h_writer_field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	if (p == NULL)
		hfail("writer summary has no %s: %s", key, line);
	return atoll(p + strlen(pat));
}

void
h_seed_consumers(const char *name, size_t healthy, size_t incomplete)
{
	char sql[1024];

	h_reset_db(name);
	snprintf(sql, sizeof(sql),
	    "INSERT INTO projects (id, external_id) VALUES (1, 'proj-a');"
	    "INSERT INTO users (id, external_id) VALUES (1, 'user-a');"
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1);"
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('healthy-', LPAD(seq, 8, '0')), 1, 1, 5"
	    " FROM seq_1_to_%zu;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1, c.uuid, r.seq, 1"
	    " FROM consumers c JOIN seq_0_to_1 r;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used)"
	    " SELECT 1, CONCAT('gone-', LPAD(s.seq, 8, '0')), r.seq, 2"
	    " FROM seq_1_to_%zu s JOIN seq_0_to_2 r;"
	    "UPDATE allocations SET consumer_id = 'GONE-00000007 '"
	    " WHERE consumer_id = 'gone-00000007' AND resource_class_id = 2;",
	    healthy, incomplete);
	h_sql(name, sql);
}

long long
h_incomplete_left(const char *name)
{
	return h_query_int(name,
	    "SELECT COUNT(DISTINCT a.consumer_id) FROM allocations a"
	    " LEFT JOIN consumers c ON c.uuid = a.consumer_id"
	    " WHERE c.id IS NULL");
}

void
h_assert_consistent(const char *name)
{
	h_expect_query(name,
	    "SELECT COUNT(*) FROM allocations a"
	    " LEFT JOIN consumers c ON c.uuid = a.consumer_id"
	    " WHERE c.id IS NULL",
	    "0", "allocations without their consumer");
	h_expect_query(name,
	    "SELECT COUNT(*) - COUNT(DISTINCT uuid) FROM consumers", "0",
	    "consumers twice");
}

void
h_assert_writer_invariants(
    const char *name, long long healthy, long long committed)
{
	char want[32];

	h_assert_consistent(name);
	h_expect_query(name,
	    "SELECT (SELECT COUNT(*) FROM consumers)"
	    " - (SELECT COUNT(DISTINCT consumer_id) FROM allocations)",
	    "0", "consumers without allocations");
	/* Each committed write bumped one generation once: none lost, none
	 * doubled; the worker's rows start at 0. */
	snprintf(want, sizeof(want), "%lld", 5 * healthy + committed);
	h_expect_query(name, "SELECT SUM(generation) FROM consumers", want,
	    "sum of generations");
	/* A write replaces all of a consumer's allocations with 2 rows. */
	h_expect_query(name,
	    "SELECT COUNT(*) FROM (SELECT consumer_id,"
	    " COUNT(*) AS n FROM allocations"
	    " GROUP BY consumer_id HAVING n NOT IN (2, 3)) x",
	    "0", "consumers with other than 2 or 3 allocations");
}

void
h_janitor_argv(const char **argv, const char *cfg, const char *batch)
{
	const char *const args[] = { "--batch-size", batch, "--pass",
		"incomplete_consumers", "repair", NULL };

	h_json_argv(argv, cfg, args);
}
