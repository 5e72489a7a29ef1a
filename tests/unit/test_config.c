/* Unit tests for config/: the key table, defaults, strict loading, secrets,
 * printing, and the YAML walk underneath. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/yaml.h"

#define EXAMPLE PJ_SOURCE_DIR "/config/placement-janitor.yaml"
#define FIXTURES PJ_SOURCE_DIR "/tests/unit/configs/"
#define MARKER "pj-secret-marker-Zq7xK2"
#define MAX_FILES 64

static char tmpdir[64];
static char created[MAX_FILES][128];
static size_t n_created;

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pj-test-config-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < n_created; i++)
		unlink(created[i]);
	return rmdir(tmpdir);
}

/* Writes len bytes to tmpdir/name with exactly mode; returns the path. */
static const char *
write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	char *path = NULL;
	size_t i;
	int fd;

	for (i = 0; i < n_created && path == NULL; i++) {
		if (strcmp(strrchr(created[i], '/') + 1, name) == 0)
			path = created[i];
	}
	if (path == NULL) {
		assert_true(n_created < MAX_FILES);
		path = created[n_created++];
		snprintf(path, sizeof(created[0]), "%s/%s", tmpdir, name);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	/* Undo an earlier test's chown to another user. */
	if (geteuid() == 0)
		assert_int_equal(fchown(fd, 0, 0), 0);
	close(fd);
	return path;
}

static const char *
write_text(const char *name, const char *text, mode_t mode)
{
	return write_file(name, text, strlen(text), mode);
}

/* Some message in diag is exactly file followed by tail. */
static bool
has_msg(const struct pj_cfg_diag *d, const char *file, const char *tail)
{
	size_t i, n = strlen(file);

	for (i = 0; i < d->n; i++) {
		if (strncmp(d->msg[i], file, n) == 0 &&
		    strcmp(d->msg[i] + n, tail) == 0)
			return true;
	}
	return false;
}

static void
dump_diag(const struct pj_cfg_diag *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		print_message("    %s\n", d->msg[i]);
}

/* "FILE:LINE:COLUMN: key.path: message", numbers from 1. */
static bool
well_formed(const char *msg, const char *file)
{
	size_t n = strlen(file);
	unsigned long line, column;
	char *end;

	if (strncmp(msg, file, n) != 0 || msg[n] != ':')
		return false;
	line = strtoul(msg + n + 1, &end, 10);
	if (line == 0 || *end != ':')
		return false;
	column = strtoul(end + 1, &end, 10);
	if (column == 0 || strncmp(end, ": ", 2) != 0)
		return false;
	end += 2;
	/* The key path (or "(document)"), then ": " and a message. */
	end = strstr(end, ": ");
	return end != NULL && end[2] != '\0' && strchr(msg, '\n') == NULL;
}

static void
test_defaults(void **state)
{
	struct pj_error err = { 0 };
	struct pj_config cfg;

	(void)state;
	memset(&cfg, 0x5a, sizeof(cfg));
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	assert_string_equal(cfg.path, "");
	assert_string_equal(cfg.db.host, "localhost");
	assert_int_equal(cfg.db.port, 3306);
	assert_string_equal(cfg.db.socket, "");
	assert_string_equal(cfg.db.name, "placement");
	assert_string_equal(cfg.db.user, "placement_janitor");
	assert_string_equal(cfg.db.password, "");
	assert_string_equal(cfg.db.password_file, "");
	assert_string_equal(cfg.db.password_env, "");
	assert_string_equal(cfg.db.option_file, "");
	assert_string_equal(cfg.db.option_group, "client");
	assert_int_equal(cfg.db.tls_mode, PJ_TLS_PREFERRED);
	assert_string_equal(cfg.db.tls_ca, "");
	assert_string_equal(cfg.db.tls_cert, "");
	assert_string_equal(cfg.db.tls_key, "");
	assert_int_equal(cfg.db.connect_timeout_ms, 10000);
	assert_int_equal(cfg.db.read_timeout_ms, 60000);
	assert_int_equal(cfg.db.write_timeout_ms, 60000);
	assert_int_equal(cfg.db.lock_wait_timeout_ms, 2000);
	assert_int_equal(cfg.worker.batch_size, 500);
	assert_int_equal(cfg.worker.max_rows, 0);
	assert_int_equal(cfg.worker.max_runtime_ms, 0);
	assert_int_equal(cfg.worker.sleep_between_batches_ms, 0);
	assert_int_equal(cfg.worker.interval_ms, 3600000);
	assert_int_equal(cfg.worker.retries, 5);
	assert_int_equal(cfg.worker.retry_backoff_ms, 100);
	assert_int_equal(cfg.worker.on_batch_failure, PJ_ON_FAILURE_SKIP);
	assert_int_equal(cfg.worker.batch_target_ms, 100);
	assert_int_equal(cfg.worker.reconnect_deadline_ms, 300000);
	assert_string_equal(cfg.placement.incomplete_project_id,
	    "00000000-0000-0000-0000-000000000000");
	assert_string_equal(cfg.placement.incomplete_user_id,
	    "00000000-0000-0000-0000-000000000000");
	assert_int_equal(cfg.passes.incomplete_consumers.mode, PJ_MODE_REPAIR);
	assert_int_equal(cfg.passes.orphaned_consumers.mode, PJ_MODE_REPAIR);
	assert_int_equal(cfg.passes.orphaned_consumers_min_age_ms, 3600000);
	assert_int_equal(cfg.passes.orphaned_allocations.mode, PJ_MODE_REPORT);
	assert_int_equal(cfg.passes.orphaned_inventories.mode, PJ_MODE_REPORT);
	assert_int_equal(
	    cfg.passes.orphaned_provider_links.mode, PJ_MODE_REPAIR);
	assert_int_equal(
	    cfg.passes.dangling_consumer_refs.mode, PJ_MODE_REPAIR);
	assert_int_equal(cfg.passes.root_provider_ids.mode, PJ_MODE_REPAIR);
	assert_int_equal(cfg.passes.unused_projects_users.mode, PJ_MODE_REPORT);
	assert_int_equal(
	    cfg.passes.dangling_resource_classes.mode, PJ_MODE_REPORT);
	assert_true(cfg.archive.enabled);
	assert_string_equal(cfg.replication.replicas, "");
	assert_int_equal(cfg.replication.n_replicas, 0);
	assert_int_equal(cfg.replication.max_replica_lag_ms, 10000);
	assert_int_equal(cfg.replication.check_interval_ms, 1000);
	assert_int_equal(cfg.replication.max_pause_ms, 600000);
	assert_int_equal(cfg.replication.galera_max_recv_queue, 100);
	assert_int_equal(cfg.replication.galera_max_flow_control_percent, 10);
	assert_int_equal(cfg.logging.level, PJ_LOG_INFO);
	assert_int_equal(cfg.logging.format, PJ_LOG_TEXT);
	assert_false(cfg.logging.redact_uuids);
	assert_int_equal(cfg.report.format, PJ_REPORT_TABLE);
}

/* Every key of the brief and its default as pj_cfg_print writes it. */
static const struct {
	const char *path;
	const char *value;
} expected_keys[] = {
	{ "database.host", "\"localhost\"" },
	{ "database.port", "3306" },
	{ "database.hosts", "\"\"" },
	{ "database.socket", "\"\"" },
	{ "database.name", "\"placement\"" },
	{ "database.user", "\"placement_janitor\"" },
	{ "database.password", "\"\"" },
	{ "database.password_file", "\"\"" },
	{ "database.password_env", "\"\"" },
	{ "database.option_file", "\"\"" },
	{ "database.option_group", "\"client\"" },
	{ "database.tls.mode", "preferred" },
	{ "database.tls.ca", "\"\"" },
	{ "database.tls.cert", "\"\"" },
	{ "database.tls.key", "\"\"" },
	{ "database.connect_timeout", "10s" },
	{ "database.read_timeout", "1m" },
	{ "database.write_timeout", "1m" },
	{ "database.lock_wait_timeout", "2s" },
	{ "worker.batch_size", "500" },
	{ "worker.max_rows", "0" },
	{ "worker.max_runtime", "0" },
	{ "worker.sleep_between_batches", "0" },
	{ "worker.interval", "1h" },
	{ "worker.retries", "5" },
	{ "worker.retry_backoff", "100ms" },
	{ "worker.on_batch_failure", "skip" },
	{ "worker.batch_target", "100ms" },
	{ "worker.reconnect_deadline", "5m" },
	{ "worker.lock.enabled", "true" },
	{ "worker.lock.run_dir", "\"/run/placement-janitor\"" },
	{ "worker.lock.name", "\"placement_janitor\"" },
	{ "worker.lock.timeout", "0" },
	{ "placement.incomplete_project_id",
	    "\"00000000-0000-0000-0000-000000000000\"" },
	{ "placement.incomplete_user_id",
	    "\"00000000-0000-0000-0000-000000000000\"" },
	{ "passes.incomplete_consumers.mode", "repair" },
	{ "passes.orphaned_consumers.mode", "repair" },
	{ "passes.orphaned_consumers.min_age", "1h" },
	{ "passes.orphaned_allocations.mode", "report" },
	{ "passes.orphaned_inventories.mode", "report" },
	{ "passes.orphaned_provider_links.mode", "repair" },
	{ "passes.dangling_consumer_refs.mode", "repair" },
	{ "passes.root_provider_ids.mode", "repair" },
	{ "passes.unused_projects_users.mode", "report" },
	{ "passes.dangling_resource_classes.mode", "report" },
	{ "archive.enabled", "true" },
	{ "replication.replicas", "\"\"" },
	{ "replication.max_replica_lag", "10s" },
	{ "replication.check_interval", "1s" },
	{ "replication.max_pause", "10m" },
	{ "replication.galera_max_recv_queue", "100" },
	{ "replication.galera_max_flow_control_percent", "10" },
	{ "logging.level", "info" },
	{ "logging.format", "text" },
	{ "logging.redact_uuids", "false" },
	{ "report.format", "table" },
	{ "report.metrics_file", "\"\"" },
};

#define N_EXPECTED (sizeof(expected_keys) / sizeof(expected_keys[0]))

#define WALK_MAX 256 /* events a walk keeps */

/* What a walk saw: scalar paths, values as written, key lines. */
struct walk {
	size_t n, errors;
	struct {
		enum pj_yaml_kind kind;
		char path[PJ_YAML_PATH_MAX];
		char value[300];
		size_t len, line, column, key_line, key_column;
		bool plain;
	} ev[WALK_MAX];
	bool skip_mappings;
};

static bool
collect(const struct pj_yaml_event *ev, void *arg)
{
	struct walk *w = arg;
	size_t i = w->n;

	if (ev->kind == PJ_YAML_ERROR)
		w->errors++;
	if (i == WALK_MAX)
		return true;
	w->ev[i].kind = ev->kind;
	snprintf(w->ev[i].path, sizeof(w->ev[i].path), "%s", ev->path);
	memcpy(w->ev[i].value, ev->value,
	    ev->len < sizeof(w->ev[i].value) ? ev->len + 1 : 1);
	w->ev[i].len = ev->len;
	w->ev[i].line = ev->line;
	w->ev[i].column = ev->column;
	w->ev[i].key_line = ev->key_line;
	w->ev[i].key_column = ev->key_column;
	w->ev[i].plain = ev->plain;
	w->n++;
	return !w->skip_mappings;
}

/* The printed defaults name every key of the brief, with its default,
 * and no other key; and they load back to the defaults. */
static void
test_print_defaults(void **state)
{
	struct pj_config def, back;
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct walk *w = calloc(1, sizeof(*w));
	char *text = NULL;
	size_t size = 0, i, j;
	const char *path;
	FILE *out;

	(void)state;
	assert_non_null(w);
	assert_int_equal(pj_cfg_defaults(&def, &err), PJ_OK);
	out = open_memstream(&text, &size);
	assert_non_null(out);
	pj_cfg_print(&def, out);
	fclose(out);
	path = write_text("printed.yaml", text, 0600);
	assert_int_equal(pj_yaml_walk(path, collect, w, &err), PJ_OK);
	for (i = 0, j = 0; i < w->n; i++) {
		if (w->ev[i].kind != PJ_YAML_SCALAR)
			continue;
		if (j >= N_EXPECTED)
			fail_msg("%s: printed but not expected", w->ev[i].path);
		if (strcmp(w->ev[i].path, expected_keys[j].path) != 0)
			fail_msg("key %zu: %s, want %s", j, w->ev[i].path,
			    expected_keys[j].path);
		j++;
	}
	assert_int_equal(j, N_EXPECTED);
	for (i = 0; i < N_EXPECTED; i++) {
		char line[200];
		const char *leaf = strrchr(expected_keys[i].path, '.') + 1;

		snprintf(line, sizeof(line), " %s: %s\n", leaf,
		    expected_keys[i].value);
		if (strstr(text, line) == NULL)
			fail_msg("%s: printed default is not %s",
			    expected_keys[i].path, expected_keys[i].value);
	}
	memset(&back, 0, sizeof(back));
	if (pj_cfg_load(path, &back, &diag, &err) != PJ_OK) {
		dump_diag(&diag);
		fail_msg("printed defaults do not load: %s", err.msg);
	}
	memset(back.path, 0, sizeof(back.path));
	assert_memory_equal(&back, &def, sizeof(def));
	free(text);
	free(w);
}

/* Loading the example yields exactly the defaults; every key is in it,
 * each under a one-line comment. */
static void
test_example_file(void **state)
{
	struct pj_config def, ex;
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct walk *w = calloc(1, sizeof(*w));
	char lines[200][200];
	size_t n_lines = 0, i, j;
	FILE *f;

	(void)state;
	assert_non_null(w);
	memset(&def, 0, sizeof(def));
	memset(&ex, 0, sizeof(ex));
	assert_int_equal(pj_cfg_defaults(&def, &err), PJ_OK);
	if (pj_cfg_load(EXAMPLE, &ex, &diag, &err) != PJ_OK) {
		dump_diag(&diag);
		fail_msg("%s: %s", EXAMPLE, err.msg);
	}
	assert_string_equal(ex.path, EXAMPLE);
	memset(ex.path, 0, sizeof(ex.path));
	assert_memory_equal(&ex, &def, sizeof(def));

	assert_int_equal(pj_yaml_walk(EXAMPLE, collect, w, &err), PJ_OK);
	for (i = 0; i < N_EXPECTED; i++) {
		for (j = 0; j < w->n; j++) {
			if (w->ev[j].kind == PJ_YAML_SCALAR &&
			    strcmp(w->ev[j].path, expected_keys[i].path) == 0)
				break;
		}
		if (j == w->n)
			fail_msg(
			    "%s: not in the example", expected_keys[i].path);
	}
	f = fopen(EXAMPLE, "r");
	assert_non_null(f);
	while (n_lines < 200 && fgets(lines[n_lines], sizeof(lines[0]), f))
		n_lines++;
	fclose(f);
	for (j = 0; j < w->n; j++) {
		const char *above;

		if (w->ev[j].kind != PJ_YAML_SCALAR)
			continue;
		assert_true(w->ev[j].key_line >= 2);
		above = lines[w->ev[j].key_line - 2];
		above += strspn(above, " ");
		if (above[0] != '#')
			fail_msg("%s: no comment above it", w->ev[j].path);
	}
	free(w);
}

struct good_case {
	const char *text;
	const char *want; /* a line pj_cfg_print writes after loading */
};

static const struct good_case good_cases[] = {
	{ "", "  port: 3306\n" },
	{ "# comments only\n\n   # more\n", "  port: 3306\n" },
	{ "---\n", "  port: 3306\n" },
	{ "---\ndatabase:\n  port: 3307\n...\n", "  port: 3307\n" },
	{ "database:\n  port: 1\n", "  port: 1\n" },
	{ "database:\n  port: 65535\n", "  port: 65535\n" },
	{ "database: {port: 3307, tls: {mode: disabled}}\n",
	    "    mode: disabled\n" },
	{ "\"database\":\n  'port': 3308\n", "  port: 3308\n" },
	{ "\xef\xbb\xbf"
	  "database:\r\n  port: 3309\r\n",
	    "  port: 3309\n" },
	{ "database:\n  host: db1\n  socket: /run/mysqld/mysqld.sock\n",
	    "  socket: \"/run/mysqld/mysqld.sock\"\n" },
	{ "database:\n  host: \"\"\n  socket: /s\n", "  host: \"\"\n" },
	{ "database:\n  name: 123\n", "  name: \"123\"\n" },
	{ "database:\n  name: true\n", "  name: \"true\"\n" },
	{ "database:\n  user: 'o''brien \"x\" \\\\'\n",
	    "  user: \"o'brien \\\"x\\\" \\\\\\\\\"\n" },
	{ "database:\n  name: \"plac\xc3\xa9ment\"\n",
	    "  name: \"plac\xc3\xa9ment\"\n" },
	{ "database:\n  password_env: PJ_DB_PASSWORD\n",
	    "  password_env: \"PJ_DB_PASSWORD\"\n" },
	{ "database:\n  option_file: /etc/mysql/debian.cnf\n  option_group: "
	  "janitor\n",
	    "  option_group: \"janitor\"\n" },
	{ "database:\n  tls:\n    mode: verify_ca\n    ca: /ca.pem\n",
	    "    mode: verify_ca\n" },
	{ "database:\n  tls:\n    cert: /c.pem\n    key: /k.pem\n",
	    "    key: \"/k.pem\"\n" },
	{ "database:\n  connect_timeout: \"30s\"\n",
	    "  connect_timeout: 30s\n" },
	{ "database:\n  connect_timeout: 10m\n", "  connect_timeout: 10m\n" },
	{ "database:\n  lock_wait_timeout: 1000ms\n",
	    "  lock_wait_timeout: 1s\n" },
	{ "database:\n  lock_wait_timeout: 1h\n", "  lock_wait_timeout: 1h\n" },
	{ "worker:\n  max_rows: 1000000000000\n",
	    "  max_rows: 1000000000000\n" },
	{ "worker:\n  max_runtime: 90d\n", "  max_runtime: 90d\n" },
	{ "worker:\n  sleep_between_batches: 0ms\n",
	    "  sleep_between_batches: 0\n" },
	{ "worker:\n  interval: 7d\n", "  interval: 7d\n" },
	{ "worker:\n  retries: 0\n", "  retries: 0\n" },
	{ "worker:\n  retry_backoff: 1m\n", "  retry_backoff: 1m\n" },
	{ "worker:\n  on_batch_failure: stop\n", "  on_batch_failure: stop\n" },
	{ "placement:\n  incomplete_project_id: p\n",
	    "  incomplete_project_id: \"p\"\n" },
	{ "passes:\n  incomplete_consumers:\n    mode: off\n",
	    "    mode: off\n" },
	{ "passes:\n  incomplete_consumers:\n    mode: report\n",
	    "    mode: report\n" },
	{ "logging:\n  level: debug\n  format: json\n  redact_uuids: true\n",
	    "  redact_uuids: true\n" },
	{ "logging:\n  level: error\n", "  level: error\n" },
	{ "report:\n", "  format: table\n" },
	{ "report:\n  format: json\n", "  format: json\n" },
	{ "report: {}\nworker: {}\n", "  format: table\n" },
	{ "replication:\n  max_replica_lag: 0\n", "  max_replica_lag: 0\n" },
	{ "replication:\n  check_interval: 100ms\n",
	    "  check_interval: 100ms\n" },
	{ "replication:\n  max_pause: 0\n", "  max_pause: 0\n" },
	{ "replication:\n  galera_max_flow_control_percent: 100\n",
	    "  galera_max_flow_control_percent: 100\n" },
};

static void
test_good_files(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct pj_cfg_diag diag;
		struct pj_error err = { 0 };
		struct pj_config cfg;
		char *text = NULL;
		size_t size = 0;
		const char *path;
		FILE *out;

		path = write_text("good.yaml", c->text, 0600);
		if (pj_cfg_load(path, &cfg, &diag, &err) != PJ_OK) {
			dump_diag(&diag);
			fail_msg(
			    "good case %zu \"%s\": %s", i, c->text, err.msg);
		}
		assert_int_equal(diag.n, 0);
		out = open_memstream(&text, &size);
		assert_non_null(out);
		pj_cfg_print(&cfg, out);
		fclose(out);
		if (strstr(text, c->want) == NULL)
			fail_msg("good case %zu \"%s\": no \"%s\" in\n%s", i,
			    c->text, c->want, text);
		free(text);
	}
}

static void
test_good_fixture(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;

	(void)state;
	if (pj_cfg_load(FIXTURES "good-production.yaml", &cfg, &diag, &err)) {
		dump_diag(&diag);
		fail_msg("good-production.yaml: %s", err.msg);
	}
	assert_string_equal(cfg.db.host, "db.example.org");
	assert_string_equal(cfg.db.socket, "/run/mysqld/mysqld.sock");
	assert_string_equal(cfg.db.user, "janitor");
	assert_string_equal(cfg.db.password_env, "PJ_DB_PASSWORD");
	assert_int_equal(cfg.db.tls_mode, PJ_TLS_VERIFY_IDENTITY);
	assert_string_equal(cfg.db.tls_ca, "/etc/ssl/certs/db-ca.pem");
	assert_int_equal(cfg.db.connect_timeout_ms, 5000);
	assert_int_equal(cfg.db.read_timeout_ms, 120000);
	assert_int_equal(cfg.db.write_timeout_ms, 30000);
	assert_int_equal(cfg.db.lock_wait_timeout_ms, 1000);
	assert_int_equal(cfg.worker.batch_size, 100000);
	assert_int_equal(cfg.worker.max_rows, 1000000000000);
	assert_int_equal(cfg.worker.max_runtime_ms, 365LL * 86400000);
	assert_int_equal(cfg.worker.sleep_between_batches_ms, 250);
	assert_int_equal(cfg.worker.interval_ms, 7LL * 86400000);
	assert_int_equal(cfg.worker.retries, 0);
	assert_int_equal(cfg.worker.retry_backoff_ms, 1);
	assert_int_equal(cfg.worker.on_batch_failure, PJ_ON_FAILURE_STOP);
	assert_string_equal(cfg.placement.incomplete_project_id, "a-project");
	assert_string_equal(cfg.placement.incomplete_user_id, "a-user");
	assert_int_equal(cfg.passes.incomplete_consumers.mode, PJ_MODE_REPORT);
	assert_int_equal(cfg.logging.level, PJ_LOG_DEBUG);
	assert_int_equal(cfg.logging.format, PJ_LOG_JSON);
	assert_true(cfg.logging.redact_uuids);
	assert_int_equal(cfg.report.format, PJ_REPORT_JSON);
	assert_string_equal(cfg.path, FIXTURES "good-production.yaml");
}

struct bad_case {
	const char *text;
	const char *want; /* one whole message, after "FILE" */
	size_t problems;  /* messages expected */
};

#define INT_PORT "database.port: expected an integer 1..65535"
#define DB_SYNTAX "YAML syntax: while scanning for the next token found "
#define REPLICA \
	"expected host or host:port (port 1..65535; IPv6 as [address]:port)"
#define HOSTS_ONLY "database.hosts is set: give the servers there only"
#define SECRETS \
	"only one of database.password, database.password_file, " \
	"database.password_env and database.option_file may be set"

static const struct bad_case bad_cases[] = {
	{ "database:\n  port: 99999999\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 0\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 65536\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: -1\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: +3306\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 03306\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 0x10\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 3306.0\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: \"3306\"\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port: 99999999999999999999999\n", ":2:9: " INT_PORT,
	    1 },
	{ "database:\n  port: 3306 # ok\n  port: 3307\n",
	    ":3:3: database.port: duplicate key (first at line 2)", 1 },
	{ "database:\n  port:\n", ":2:8: " INT_PORT, 1 },
	{ "database:\n  port: [1, 2]\n", ":2:9: " INT_PORT, 1 },
	{ "database:\n  port:\n    a: 1\n", ":3:5: " INT_PORT, 1 },
	{ "database:\n  prot: 3306\n", ":2:3: database.prot: unknown key", 1 },
	{ "Database:\n  port: 3306\n", ":1:1: Database: unknown key", 1 },
	{ "database:\n  tls:\n    mode: disabled\n    crt: x\n",
	    ":4:5: database.tls.crt: unknown key", 1 },
	{ "databse:\n  port: 1\n  x: 2\n", ":1:1: databse: unknown key", 1 },
	{ "worker:\n  retries: 1\nworker:\n  retries: 2\n",
	    ":3:1: worker: duplicate key (first at line 1)", 1 },
	{ "database: &db\n  port: 1\n",
	    ":1:11: database: anchors (&name) are not allowed", 1 },
	{ "&a database:\n  port: 1\n",
	    ":1:1: (document): anchors (&name) are not allowed", 1 },
	{ "report:\n  format: &f json\nlogging:\n  format: *f\n",
	    ":4:11: logging.format: aliases (*name) are not allowed", 2 },
	{ "database:\n  port: !!int 3306\n",
	    ":2:9: database.port: tags (!name) are not allowed", 1 },
	{ "database: !!map\n  port: 1\n",
	    ":1:11: database: tags (!name) are not allowed", 1 },
	{ "database:\n\tport: 1\n",
	    ":2:1: database: " DB_SYNTAX "character that cannot start any "
	    "token",
	    1 },
	{ "database:\n  port: 1\n\t\n",
	    ":3:1: database.port: YAML syntax: while scanning a plain scalar "
	    "found a tab character that violates indentation",
	    1 },
	{ "report:\n  format: json\n---\nreport:\n  format: table\n",
	    ":3:1: (document): more than one YAML document", 1 },
	{ "database: 5\n", ":1:11: database: expected a mapping of keys", 1 },
	{ "database:\n  - port\n",
	    ":2:3: database: expected a mapping of keys, not a list", 1 },
	{ "database:\n  tls: disabled\n",
	    ":2:8: database.tls: expected a mapping of keys", 1 },
	{ "hello\n",
	    ":1:1: (document): the document must be a mapping of sections", 1 },
	{ "- database\n",
	    ":1:1: (document): the document must be a mapping of sections", 1 },
	{ "? [a]\n: 1\n", ":1:3: (document): a key must be a plain word", 1 },
	{ "database.port: 1\n",
	    ":1:1: (document): a key must be 1..64 letters, digits, '_' or "
	    "'-'",
	    1 },
	{ "database:\n  \"po rt\": 1\n",
	    ":2:3: database: a key must be 1..64 letters, digits, '_' or '-'",
	    1 },
	{ "database:\n  port: [1\n",
	    ":3:1: database.port: YAML syntax: while parsing a flow sequence "
	    "did not find expected ',' or ']'",
	    2 },
	{ "database:\n  name: \"abc\n",
	    ":3:1: database.name: YAML syntax: while scanning a quoted "
	    "scalar found unexpected end of stream",
	    1 },
	{ "database:\n  name: ab\xff\xfe\n",
	    ":2:11: (document): YAML syntax: invalid leading UTF-8 octet", 1 },
	{ "logging:\n  redact_uuids: yes\n",
	    ":2:17: logging.redact_uuids: expected true or false", 1 },
	{ "logging:\n  redact_uuids: \"true\"\n",
	    ":2:17: logging.redact_uuids: expected true or false", 1 },
	{ "logging:\n  redact_uuids: True\n",
	    ":2:17: logging.redact_uuids: expected true or false", 1 },
	{ "logging:\n  level: verbose\n",
	    ":2:10: logging.level: expected one of error, warn, info, debug",
	    1 },
	{ "logging:\n  level: INFO\n",
	    ":2:10: logging.level: expected one of error, warn, info, debug",
	    1 },
	{ "passes:\n  incomplete_consumers:\n    mode: fix\n",
	    ":3:11: passes.incomplete_consumers.mode: expected one of off, "
	    "report, repair",
	    1 },
	{ "passes:\n  incomplete_consumer:\n    mode: off\n",
	    ":2:3: passes.incomplete_consumer: unknown key", 1 },
	{ "report:\n  format: yaml\n",
	    ":2:11: report.format: expected one of table, json", 1 },
	{ "worker:\n  interval: 10\n",
	    ":2:13: worker.interval: expected a duration 1s..7d (a whole "
	    "number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  interval: 1.5h\n",
	    ":2:13: worker.interval: expected a duration 1s..7d (a whole "
	    "number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  interval: 8d\n",
	    ":2:13: worker.interval: expected a duration 1s..7d (a whole "
	    "number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  interval: 1h1m\n",
	    ":2:13: worker.interval: expected a duration 1s..7d (a whole "
	    "number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  retry_backoff: -1s\n",
	    ":2:18: worker.retry_backoff: expected a duration 1ms..1m (a "
	    "whole number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  sleep_between_batches: 61m\n",
	    ":2:26: worker.sleep_between_batches: expected a duration 0..1h "
	    "(a whole number and ms, s, m, h or d)",
	    1 },
	{ "database:\n  connect_timeout: 0s\n",
	    ":2:20: database.connect_timeout: expected a duration 1s..10m (a "
	    "whole number and ms, s, m, h or d)",
	    1 },
	{ "database:\n  lock_wait_timeout: 1500ms\n",
	    ":2:22: database.lock_wait_timeout: MariaDB takes whole seconds "
	    "here: use s, m or h, not a fraction of a second",
	    1 },
	{ "database:\n  lock_wait_timeout: 500ms\n",
	    ":2:22: database.lock_wait_timeout: expected a duration 1s..1h (a "
	    "whole number and ms, s, m, h or d)",
	    1 },
	{ "worker:\n  batch_size: 0\n",
	    ":2:15: worker.batch_size: expected an integer 1..100000", 1 },
	{ "worker:\n  batch_size: 1e3\n",
	    ":2:15: worker.batch_size: expected an integer 1..100000", 1 },
	{ "worker:\n  max_rows: 1000000000001\n",
	    ":2:13: worker.max_rows: expected an integer 0..1000000000000", 1 },
	{ "worker:\n  retries: 101\n",
	    ":2:12: worker.retries: expected an integer 0..100", 1 },
	{ "database:\n  name:\n",
	    ":2:8: database.name: no value: write \"\" for an empty string",
	    1 },
	{ "database:\n  socket: ~\n",
	    ":2:11: database.socket: no value: write \"\" for an empty string",
	    1 },
	{ "database:\n  name: \"\"\n",
	    ":2:9: database.name: expected a string of 1..255 bytes", 1 },
	{ "placement:\n  incomplete_user_id: ''\n",
	    ":2:23: placement.incomplete_user_id: expected a string of 1..255 "
	    "bytes",
	    1 },
	{ "database:\n  name: \"a\\tb\"\n",
	    ":2:9: database.name: contains a control character", 1 },
	{ "database:\n  name: |\n    two\n    lines\n",
	    ":2:9: database.name: contains a control character", 1 },
	{ "database:\n  name: \"a\\0b\"\n",
	    ":2:9: database.name: contains a NUL byte", 1 },
	{ "database:\n  password_env: PJ_X\n  option_file: /etc/my.cnf\n",
	    ":3:16: database.option_file: " SECRETS, 1 },
	{ "database:\n  password_env: \"1X\"\n",
	    ":2:17: database.password_env: expected the name of an "
	    "environment variable (letters, digits and '_')",
	    1 },
	{ "database:\n  tls:\n    mode: verify_ca\n",
	    ":3:11: database.tls.mode: verify_ca needs database.tls.ca", 1 },
	{ "database:\n  tls:\n    mode: verify_identity\n",
	    ":3:11: database.tls.mode: verify_identity needs "
	    "database.tls.ca",
	    1 },
	{ "database:\n  tls:\n    cert: /c.pem\n",
	    ":3:11: database.tls.cert: database.tls.cert and database.tls.key "
	    "go together",
	    1 },
	{ "database:\n  host: \"\"\n",
	    ":2:9: database.host: empty, and no database.socket either", 1 },
	{ "replication:\n  max_replica_lag: 1500ms\n",
	    ":2:20: replication.max_replica_lag: MariaDB takes whole seconds "
	    "here: use s, m or h, not a fraction of a second",
	    1 },
	{ "replication:\n  check_interval: 50ms\n",
	    ":2:19: replication.check_interval: expected a duration 100ms..10m "
	    "(a whole number and ms, s, m, h or d)",
	    1 },
	{ "replication:\n  galera_max_flow_control_percent: 101\n",
	    ":2:36: replication.galera_max_flow_control_percent: expected an "
	    "integer 0..100",
	    1 },
	{ "replication:\n  replicas: \"db2:3306,db3:x\"\n",
	    ":2:13: replication.replicas: entry 2 \"db3:x\": " REPLICA, 1 },
	{ "replication:\n  replicas: \"a,,b:0, ::1\"\n", NULL, 3 },
	{ "database:\n  hosts: \"db1,db2:x\"\n",
	    ":2:10: database.hosts: entry 2 \"db2:x\": " REPLICA, 1 },
	{ "database:\n  host: db1\n  hosts: db2\n",
	    ":2:9: database.host: " HOSTS_ONLY, 1 },
	{ "database:\n  hosts: db2\n  socket: /s\n",
	    ":3:11: database.socket: " HOSTS_ONLY, 1 },
	{ "database:\n  port: 3307\n  hosts: \"a, b\"\n",
	    ":2:9: database.port: " HOSTS_ONLY, 1 },
	{ "database:\n  hosts: \"a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\"\n",
	    ":2:10: database.hosts: more than 16 hosts", 1 },
};

static void
test_bad_files(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct pj_config cfg, before;
		struct pj_cfg_diag diag;
		struct pj_error err = { 0 };
		const char *path;
		int rc;

		path = write_text("bad.yaml", c->text, 0600);
		memset(&cfg, 0x5a, sizeof(cfg));
		before = cfg;
		rc = pj_cfg_load(path, &cfg, &diag, &err);
		if (rc != PJ_ECONFIG || err.code != PJ_ECONFIG)
			fail_msg("bad case %zu \"%s\": rc %d", i, c->text, rc);
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0)
			fail_msg(
			    "bad case %zu \"%s\": cfg changed", i, c->text);
		if (diag.n != c->problems) {
			dump_diag(&diag);
			fail_msg("bad case %zu \"%s\": %zu problems, want %zu",
			    i, c->text, diag.n, c->problems);
		}
		for (j = 0; j < diag.n; j++) {
			if (!well_formed(diag.msg[j], path))
				fail_msg("bad case %zu: malformed \"%s\"", i,
				    diag.msg[j]);
		}
		if (c->want != NULL && !has_msg(&diag, path, c->want)) {
			dump_diag(&diag);
			fail_msg("bad case %zu \"%s\": no \"%s\"", i, c->text,
			    c->want);
		}
	}
}

struct replicas_case {
	const char *list; /* replication.replicas */
	size_t n;         /* replicas parsed; 0 with bad: refused */
	bool bad;
	const char *hosts[3];
	int64_t ports[3];
};

static const struct replicas_case replicas_cases[] = {
	{ "", 0, false, { NULL }, { 0 } },
	{ "  ", 0, false, { NULL }, { 0 } },
	{ "db2", 1, false, { "db2" }, { 3306 } },
	{ "db2:3307", 1, false, { "db2" }, { 3307 } },
	{ " db2:1 , 10.0.0.3:65535,db4 ", 3, false,
	    { "db2", "10.0.0.3", "db4" }, { 1, 65535, 3306 } },
	{ "[::1]:3308,[fe80::1]", 2, false, { "::1", "fe80::1" },
	    { 3308, 3306 } },
	{ "db2:", 0, true, { NULL }, { 0 } },
	{ ":3306", 0, true, { NULL }, { 0 } },
	{ "db2:0", 0, true, { NULL }, { 0 } },
	{ "db2:65536", 0, true, { NULL }, { 0 } },
	{ "db2:+33", 0, true, { NULL }, { 0 } },
	{ "db2:3306:1", 0, true, { NULL }, { 0 } },
	{ "::1", 0, true, { NULL }, { 0 } },
	{ "[::1", 0, true, { NULL }, { 0 } },
	{ "[::1]x", 0, true, { NULL }, { 0 } },
	{ "[]:3306", 0, true, { NULL }, { 0 } },
	{ "db 2:3306", 0, true, { NULL }, { 0 } },
	{ "db2,", 0, true, { NULL }, { 0 } },
	{ ",db2", 0, true, { NULL }, { 0 } },
	{ "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", 0, true, { NULL }, { 0 } },
};

/* replication.replicas: each entry's host and port, or a refusal. */
static void
test_replicas(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(replicas_cases) / sizeof(replicas_cases[0]);
	     i++) {
		const struct replicas_case *c = &replicas_cases[i];
		struct pj_config cfg;
		struct pj_cfg_diag diag;
		struct pj_error err = { 0 };
		char text[256];
		const char *path;
		int rc;

		snprintf(text, sizeof(text),
		    "replication:\n  replicas: \"%s\"\n", c->list);
		path = write_text("replicas.yaml", text, 0600);
		rc = pj_cfg_load(path, &cfg, &diag, &err);
		if (c->bad) {
			if (rc != PJ_ECONFIG || diag.n != 1)
				fail_msg(
				    "\"%s\": rc %d, %zu problems, want "
				    "one",
				    c->list, rc, diag.n);
			continue;
		}
		if (rc != PJ_OK) {
			dump_diag(&diag);
			fail_msg("\"%s\": %s", c->list, err.msg);
		}
		if (cfg.replication.n_replicas != c->n)
			fail_msg("\"%s\": %zu replicas, want %zu", c->list,
			    cfg.replication.n_replicas, c->n);
		for (j = 0; j < c->n; j++) {
			const struct pj_db_addr *r =
			    &cfg.replication.replica[j];

			if (strcmp(r->host, c->hosts[j]) != 0 ||
			    r->port != c->ports[j])
				fail_msg(
				    "\"%s\": replica %zu is %s port %lld, "
				    "want %s port %lld",
				    c->list, j, r->host, (long long)r->port,
				    c->hosts[j], (long long)c->ports[j]);
		}
	}
}

/* database.hosts: the list in order, default ports, replacing host. */
static void
test_hosts(void **state)
{
	static const char text[] =
	    "database:\n  hosts: \" db1:3307, [::1],db3 \"\n";
	static const char *const hosts[] = { "db1", "::1", "db3" };
	static const int64_t ports[] = { 3307, 3306, 3306 };
	struct pj_config cfg;
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	size_t i;

	(void)state;
	if (pj_cfg_load(write_text("hosts.yaml", text, 0600), &cfg, &diag,
	        &err) != PJ_OK) {
		dump_diag(&diag);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(cfg.db.n_hosts, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(cfg.db.hosts[i].host, hosts[i]);
		assert_int_equal(cfg.db.hosts[i].port, ports[i]);
	}
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	assert_int_equal(cfg.db.n_hosts, 0);
}

/* A long string: 255 bytes fit the field, 256 do not. */
static void
test_string_length(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;
	char text[400], name[300];
	const char *path;

	(void)state;
	memset(name, 'n', 255);
	name[255] = '\0';
	snprintf(text, sizeof(text), "database:\n  name: %s\n", name);
	path = write_text("long.yaml", text, 0600);
	assert_int_equal(pj_cfg_load(path, &cfg, &diag, &err), PJ_OK);
	assert_string_equal(cfg.db.name, name);
	snprintf(text, sizeof(text), "database:\n  name: %sn\n", name);
	path = write_text("long.yaml", text, 0600);
	assert_int_equal(pj_cfg_load(path, &cfg, &diag, &err), PJ_ECONFIG);
	assert_true(has_msg(&diag, path,
	    ":2:9: database.name: expected a string of 1..255 bytes"));
}

/* Every problem is reported, in file order, before the file is refused. */
static void
test_many_problems(void **state)
{
	static const char *const want[] = {
		":3:9: database.port: expected an integer 1..65535",
		":4:3: database.prot: unknown key",
		":6:11: database.tls.mode: expected one of disabled, preferred, "
		"required, verify_ca, verify_identity",
		":7:22: database.lock_wait_timeout: MariaDB takes whole seconds "
		"here: use s, m or h, not a fraction of a second",
		":9:15: worker.batch_size: expected an integer 1..100000",
		":10:13: worker.interval: expected a duration 1s..7d (a whole "
		"number and ms, s, m, h or d)",
		":11:12: worker.retries: expected an integer 0..100",
		":13:3: worker.on_batch_failure: duplicate key (first at line 12)",
		":15:17: logging.redact_uuids: expected true or false",
		":16:1: reports: unknown key",
	};
	const char *path = FIXTURES "bad-many.yaml";
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;
	size_t i, n = strlen(path);

	(void)state;
	assert_int_equal(pj_cfg_load(path, &cfg, &diag, &err), PJ_ECONFIG);
	assert_int_equal(diag.n, sizeof(want) / sizeof(want[0]));
	assert_int_equal(diag.dropped, 0);
	for (i = 0; i < diag.n; i++) {
		if (strncmp(diag.msg[i], path, n) != 0 ||
		    strcmp(diag.msg[i] + n, want[i]) != 0)
			fail_msg("message %zu: \"%s\", want \"%s\"", i,
			    diag.msg[i], want[i]);
	}
	assert_non_null(strstr(err.msg, "10 problems"));

	path = FIXTURES "bad-binary.yaml";
	assert_int_equal(pj_cfg_load(path, &cfg, &diag, &err), PJ_ECONFIG);
	assert_int_equal(diag.n, 1);
	assert_true(well_formed(diag.msg[0], path));
	assert_non_null(strstr(diag.msg[0],
	    ":3:1: (document): YAML syntax: control characters are not "
	    "allowed"));
}

/* More problems than PJ_CFG_MAX_ERRORS: the rest are counted. */
static void
test_error_cap(void **state)
{
	char text[4096];
	size_t used = 0, i;
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;
	const char *path;

	(void)state;
	used += (size_t)snprintf(text, sizeof(text), "database:\n");
	for (i = 0; i < PJ_CFG_MAX_ERRORS + 8; i++)
		used += (size_t)snprintf(
		    text + used, sizeof(text) - used, "  unknown%zu: 1\n", i);
	path = write_text("cap.yaml", text, 0600);
	assert_int_equal(pj_cfg_load(path, &cfg, &diag, &err), PJ_ECONFIG);
	assert_int_equal(diag.n, PJ_CFG_MAX_ERRORS);
	assert_int_equal(diag.dropped, 8);
	assert_true(
	    has_msg(&diag, path, ":2:3: database.unknown0: unknown key"));
	assert_non_null(strstr(err.msg, "40 problems"));
	/* A NULL diag only counts. */
	assert_int_equal(pj_cfg_load(path, &cfg, NULL, &err), PJ_ECONFIG);
}

/* Problems of the file itself: no line to point at. */
static void
test_unusable_files(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_config cfg;
	char path[256], want[300];
	char *big;
	const char *p;
	int rc;

	(void)state;
	/* A directory. */
	{
		struct pj_error err = { 0 };

		rc = pj_cfg_load(tmpdir, &cfg, &diag, &err);
		assert_int_equal(rc, PJ_ECONFIG);
		assert_int_equal(diag.n, 1);
		snprintf(want, sizeof(want), "%s: is a directory, not a file",
		    tmpdir);
		assert_string_equal(diag.msg[0], want);
		assert_string_equal(err.msg, want);
	}
	/* A FIFO: refused without blocking on the open. */
	{
		struct pj_error err = { 0 };

		snprintf(path, sizeof(path), "%s/fifo", tmpdir);
		assert_int_equal(mkfifo(path, 0600), 0);
		rc = pj_cfg_load(path, &cfg, &diag, &err);
		unlink(path);
		assert_int_equal(rc, PJ_ECONFIG);
		snprintf(want, sizeof(want), "%s: not a regular file", path);
		assert_string_equal(diag.msg[0], want);
	}
	{
		struct pj_error err = { 0 };

		assert_int_equal(
		    pj_cfg_load("/dev/null", &cfg, &diag, &err), PJ_ECONFIG);
		assert_string_equal(
		    diag.msg[0], "/dev/null: not a regular file");
	}
	/* Missing, and a dangling symlink. */
	{
		struct pj_error err = { 0 };

		snprintf(path, sizeof(path), "%s/dangling", tmpdir);
		assert_int_equal(
		    symlink("/nonexistent/pj-config.yaml", path), 0);
		rc = pj_cfg_load(path, &cfg, &diag, &err);
		unlink(path);
		assert_int_equal(rc, PJ_EIO);
		assert_int_equal(err.code, PJ_EIO);
		snprintf(want, sizeof(want),
		    "%s: cannot open: No such file or directory", path);
		assert_string_equal(diag.msg[0], want);
	}
	/* Unreadable: root reads any file, so only another user can test
	 * it; as root the dangling path above stands in for it. */
	if (geteuid() != 0) {
		struct pj_error err = { 0 };

		p = write_text("noread.yaml", "", 0000);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_EIO);
		assert_non_null(strstr(diag.msg[0], "cannot open: Permission"));
	}
	/* Exactly 1 MiB of comment is fine; one byte more is refused. */
	big = malloc(PJ_YAML_MAX_BYTES + 1);
	assert_non_null(big);
	memset(big, 'x', PJ_YAML_MAX_BYTES + 1);
	big[0] = '#';
	big[PJ_YAML_MAX_BYTES - 1] = '\n';
	{
		struct pj_error err = { 0 };

		p = write_file("big.yaml", big, PJ_YAML_MAX_BYTES, 0600);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
	}
	{
		struct pj_error err = { 0 };

		big[PJ_YAML_MAX_BYTES] = '\n';
		p = write_file("big.yaml", big, PJ_YAML_MAX_BYTES + 1, 0600);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		snprintf(want, sizeof(want),
		    "%s: larger than 1048576 bytes (1 MiB)", p);
		assert_string_equal(diag.msg[0], want);
	}
	free(big);
}

static void
test_inline_password(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_config cfg;
	const char *text = "database:\n  password: \"" MARKER "\"\n";
	char want[400];
	const char *p;

	(void)state;
	/* 0600 and ours: accepted. */
	{
		struct pj_error err = { 0 };

		p = write_text("inline.yaml", text, 0600);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
		assert_string_equal(cfg.db.password, MARKER);
	}
	/* Readable by others, or by the group: refused. */
	{
		struct pj_error err = { 0 };

		p = write_text("inline.yaml", text, 0644);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		snprintf(want, sizeof(want),
		    "%s:2:13: database.password: config file %s: readable by "
		    "group or others (mode 0644); chmod 600 it",
		    p, p);
		assert_int_equal(diag.n, 1);
		assert_string_equal(diag.msg[0], want);
	}
	{
		struct pj_error err = { 0 };

		p = write_text("inline.yaml", text, 0640);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		snprintf(want, sizeof(want),
		    "%s:2:13: database.password: config file %s: readable by "
		    "group or others (mode 0640); chmod 600 it",
		    p, p);
		assert_string_equal(diag.msg[0], want);
	}
	/* No password: a world-readable file is fine. */
	{
		struct pj_error err = { 0 };

		p = write_text(
		    "inline.yaml", "database:\n  port: 3307\n", 0644);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
	}
	/* Owned by another user (root can chown): refused. */
	if (geteuid() == 0) {
		struct pj_error err = { 0 };

		p = write_text("inline.yaml", text, 0600);
		assert_int_equal(chown(p, 4242, 4242), 0);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		assert_non_null(strstr(diag.msg[0], "owned by uid 4242"));
		assert_int_equal(chown(p, 0, 0), 0);
	}
}

static void
test_password_file(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_config cfg;
	char text[400], want[600];
	const char *pw, *p;

	(void)state;
	pw = write_text("pw", MARKER "\n", 0600);
	snprintf(text, sizeof(text), "database:\n  password_file: %s\n", pw);
	/* The config naming it may be world-readable: it holds no secret. */
	p = write_text("pwfile.yaml", text, 0644);
	{
		struct pj_error err = { 0 };

		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
		assert_string_equal(cfg.db.password_file, pw);
		assert_string_equal(cfg.db.password, "");
	}
	{
		struct pj_error err = { 0 };

		pw = write_text("pw", MARKER "\n", 0644);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		snprintf(want, sizeof(want),
		    "%s:2:18: database.password_file: password file %s: "
		    "readable by group or others (mode 0644); chmod 600 it",
		    p, pw);
		assert_int_equal(diag.n, 1);
		assert_string_equal(diag.msg[0], want);
	}
	{
		struct pj_error err = { 0 };

		p = write_text("pwfile.yaml",
		    "database:\n  password_file: /nonexistent/pw\n", 0600);
		assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_ECONFIG);
		assert_true(has_msg(&diag, p,
		    ":2:18: database.password_file: password file "
		    "/nonexistent/pw: No such file or directory"));
	}
}

/* No message, error or printout ever holds the password. */
static void
test_secret_never_echoed(void **state)
{
	static const struct {
		const char *text;
		mode_t mode;
	} cases[] = {
		{ "database:\n  password: " MARKER "\n", 0644 },
		{ "database:\n  password: [" MARKER "]\n", 0600 },
		{ "database:\n  password: {a: " MARKER "}\n", 0600 },
		{ "database:\n  password: \"" MARKER "\\n\"\n", 0600 },
		{ "database:\n  password: \"" MARKER "\\0\"\n", 0600 },
		{ "database:\n  password: !!str " MARKER "\n", 0600 },
		{ "database:\n  password: &a " MARKER "\n", 0600 },
		{ "database:\n  password: " MARKER "\n  password: " MARKER "\n",
		    0600 },
		{ "database:\n  password: " MARKER "\n  password_env: X\n",
		    0600 },
		{ "database:\n  password: " MARKER "\n\tport: 1\n", 0600 },
		{ "database:\n  password: \"" MARKER "\n", 0600 },
		{ "database:\n  password: " MARKER ": x\n", 0600 },
		{ "database:\n  pasword: " MARKER "\n", 0600 },
		{ "database:\n  port: " MARKER "\n", 0600 },
		{ "database:\n  password: " MARKER MARKER MARKER MARKER MARKER
		        MARKER MARKER MARKER MARKER MARKER MARKER MARKER "\n",
		    0600 },
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pj_cfg_diag diag;
		struct pj_error err = { 0 };
		struct pj_config cfg;
		const char *p;

		p = write_text("secret.yaml", cases[i].text, cases[i].mode);
		if (pj_cfg_load(p, &cfg, &diag, &err) != PJ_ECONFIG)
			fail_msg("secret case %zu: accepted", i);
		if (diag.n == 0)
			fail_msg("secret case %zu: no message", i);
		for (j = 0; j < diag.n; j++) {
			if (strstr(diag.msg[j], MARKER) != NULL)
				fail_msg("secret case %zu: echoed in \"%s\"", i,
				    diag.msg[j]);
		}
		if (strstr(err.msg, MARKER) != NULL)
			fail_msg("secret case %zu: echoed in error", i);
	}
}

static void
test_print_redacts(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;
	char *text = NULL;
	size_t size = 0;
	const char *p;
	FILE *out;

	(void)state;
	p = write_text("print.yaml",
	    "database:\n  password: \"" MARKER "\"\n  user: \"a\\\"b\"\n",
	    0600);
	assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
	out = open_memstream(&text, &size);
	assert_non_null(out);
	pj_cfg_print(&cfg, out);
	fclose(out);
	assert_null(strstr(text, MARKER));
	assert_non_null(strstr(text, "\n  password: \"<redacted>\"\n"));
	assert_non_null(strstr(text, "\n  user: \"a\\\"b\"\n"));
	/* Empty secrets print as empty, not as redacted. */
	assert_non_null(strstr(text, "\n  password_file: \"\"\n"));
	free(text);
}

static void
test_pass_mode(void **state)
{
	struct pj_cfg_diag diag;
	struct pj_error err = { 0 };
	struct pj_config cfg;
	char longname[400];
	const char *p;

	(void)state;
	assert_int_equal(pj_cfg_defaults(&cfg, &err), PJ_OK);
	assert_int_equal(
	    pj_cfg_pass_mode(&cfg, "incomplete_consumers"), PJ_MODE_REPAIR);
	p = write_text("mode.yaml",
	    "passes:\n  incomplete_consumers:\n    mode: report\n", 0600);
	assert_int_equal(pj_cfg_load(p, &cfg, &diag, &err), PJ_OK);
	assert_int_equal(
	    pj_cfg_pass_mode(&cfg, "incomplete_consumers"), PJ_MODE_REPORT);
	cfg.passes.incomplete_consumers.mode = PJ_MODE_OFF;
	assert_int_equal(
	    pj_cfg_pass_mode(&cfg, "incomplete_consumers"), PJ_MODE_OFF);
	cfg.passes.incomplete_consumers.mode = PJ_MODE_REPAIR;
	/* Unknown passes, and names that are not a pass, are off. */
	assert_int_equal(pj_cfg_pass_mode(&cfg, "no_such_pass"), PJ_MODE_OFF);
	assert_int_equal(pj_cfg_pass_mode(&cfg, ""), PJ_MODE_OFF);
	assert_int_equal(pj_cfg_pass_mode(&cfg, NULL), PJ_MODE_OFF);
	assert_int_equal(
	    pj_cfg_pass_mode(&cfg, "incomplete_consumers.mode"), PJ_MODE_OFF);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(pj_cfg_pass_mode(&cfg, longname), PJ_MODE_OFF);

	assert_string_equal(pj_cfg_mode_name(PJ_MODE_OFF), "off");
	assert_string_equal(pj_cfg_mode_name(PJ_MODE_REPORT), "report");
	assert_string_equal(pj_cfg_mode_name(PJ_MODE_REPAIR), "repair");
	assert_string_equal(pj_cfg_mode_name((enum pj_mode)7), "unknown");
}

/* The walk itself: paths, positions (1-based), kinds, raw bytes. */
static void
test_yaml_walk(void **state)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct pj_error err = { 0 };
	const char *p;

	(void)state;
	assert_non_null(w);
	p = write_text("walk.yaml",
	    "a:\n  b: 1\n  c: 'x y'\n  d: [1, 2]\n  e:\n    f: \"n\\0l\"\n",
	    0600);
	assert_int_equal(pj_yaml_walk(p, collect, w, &err), PJ_OK);
	assert_int_equal(w->n, 6);
	assert_int_equal(w->ev[0].kind, PJ_YAML_MAPPING);
	assert_string_equal(w->ev[0].path, "a");
	assert_int_equal(w->ev[0].key_line, 1);
	assert_int_equal(w->ev[0].key_column, 1);
	assert_int_equal(w->ev[1].kind, PJ_YAML_SCALAR);
	assert_string_equal(w->ev[1].path, "a.b");
	assert_string_equal(w->ev[1].value, "1");
	assert_true(w->ev[1].plain);
	assert_int_equal(w->ev[1].line, 2);
	assert_int_equal(w->ev[1].column, 6);
	assert_int_equal(w->ev[1].key_line, 2);
	assert_int_equal(w->ev[1].key_column, 3);
	assert_string_equal(w->ev[2].value, "x y");
	assert_false(w->ev[2].plain);
	assert_int_equal(w->ev[3].kind, PJ_YAML_SEQUENCE);
	assert_string_equal(w->ev[3].path, "a.d");
	assert_int_equal(w->ev[4].kind, PJ_YAML_MAPPING);
	assert_string_equal(w->ev[5].path, "a.e.f");
	assert_int_equal(w->ev[5].len, 3);
	assert_memory_equal(w->ev[5].value, "n\0l", 3);

	/* Returning false skips a mapping's contents. */
	memset(w, 0, sizeof(*w));
	w->skip_mappings = true;
	assert_int_equal(pj_yaml_walk(p, collect, w, &err), PJ_OK);
	assert_int_equal(w->n, 1);

	/* Problems arrive as events; the walk says PJ_ECONFIG. */
	memset(w, 0, sizeof(*w));
	p = write_text("walk.yaml", "a: 1\na: 2\nb: *x\n", 0600);
	assert_int_equal(pj_yaml_walk(p, collect, w, &err), PJ_ECONFIG);
	assert_int_equal(w->errors, 2);
	assert_int_equal(w->ev[1].kind, PJ_YAML_ERROR);
	assert_int_equal(w->ev[1].line, 2);
	assert_string_equal(w->ev[1].path, "a");
	assert_non_null(strstr(err.msg, "duplicate key"));

	/* A file that cannot be used sends no event. */
	memset(w, 0, sizeof(*w));
	pj_error_clear(&err);
	assert_int_equal(pj_yaml_walk(tmpdir, collect, w, &err), PJ_ECONFIG);
	assert_int_equal(w->n, 0);
	assert_string_equal(err.msg, "is a directory, not a file");
	free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_print_defaults),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_good_files),
		cmocka_unit_test(test_good_fixture),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_string_length),
		cmocka_unit_test(test_replicas),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_many_problems),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_unusable_files),
		cmocka_unit_test(test_inline_password),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_secret_never_echoed),
		cmocka_unit_test(test_print_redacts),
		cmocka_unit_test(test_pass_mode),
		cmocka_unit_test(test_yaml_walk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
