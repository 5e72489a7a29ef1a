/*
 * The key table, defaults, and the strict all-or-nothing loader.
 *
 * Decisions a user sees (the example file documents them too):
 * - Integers are plain decimal ("0755" and "+5" are refused; no leading
 *   zero, so no octal surprise); booleans are plain true or false only
 *   (yes/no/on/off are refused: YAML 1.1 and 1.2 disagree on them).
 * - Strings are taken as written; a plain null (nothing, ~, null) is
 *   refused: write "" for an empty string.
 * - Durations may be quoted or not; the four database timeouts must be
 *   whole seconds, because the MariaDB client and server take seconds.
 * - An empty file (or comments only) is valid: every key keeps its default.
 * - Problems about the file itself (missing, a directory, too large) are
 *   "FILE: message": there is no line to point at.
 */
#include "config/config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "common/strings.h"
#include "common/time.h"
#include "config/yaml.h"

enum pj_cfg_type {
	PJ_CFG_INT,
	PJ_CFG_DURATION, /* int64_t milliseconds */
	PJ_CFG_STRING,   /* char[size]; min, max: length in bytes */
	PJ_CFG_BOOL,
	PJ_CFG_ENUM, /* stored as the enum; choices in enum order */
};

struct pj_cfg_key {
	const char *path;      /* dotted YAML path */
	enum pj_cfg_type type; /* how def and the file's text are read */
	size_t offset;         /* of the value in struct pj_config */
	const char *def;       /* default, as written in the YAML file */
	int64_t min, max;      /* range; durations in ms; string lengths */
	bool secret;           /* value never printed, not even in errors */
	size_t size;           /* of a string field, with its NUL */
	const char *const *choices; /* enum names, NULL-terminated */
	bool whole_seconds;         /* a duration MariaDB takes in seconds */
};

static const char *const tls_modes[] = { "disabled", "preferred", "required",
	"verify_ca", "verify_identity", NULL };
static const char *const on_failure[] = { "skip", "stop", NULL };
static const char *const pass_modes[] = { "off", "report", "repair", NULL };
/* For passes that only ever report: their damage has no safe repair. */
static const char *const report_modes[] = { "off", "report", NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug",
	NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const report_formats[] = { "table", "json", NULL };

/* Enums are written through an int: their order and size must match. */
_Static_assert(
    PJ_TLS_VERIFY_IDENTITY == 4 && sizeof(enum pj_tls_mode) == sizeof(int),
    "tls_modes order");
_Static_assert(
    PJ_ON_FAILURE_STOP == 1 && sizeof(enum pj_on_failure) == sizeof(int),
    "on_failure order");
_Static_assert(PJ_MODE_REPAIR == 2 && sizeof(enum pj_mode) == sizeof(int),
    "pass_modes order");
_Static_assert(PJ_LOG_DEBUG == 3 && sizeof(enum pj_log_level) == sizeof(int),
    "log_levels order");
_Static_assert(PJ_LOG_JSON == 1 && sizeof(enum pj_log_format) == sizeof(int),
    "log_formats order");
_Static_assert(
    PJ_REPORT_JSON == 1 && sizeof(enum pj_report_format) == sizeof(int),
    "report_formats order");

#define OFF(field) offsetof(struct pj_config, field)
#define FIELD_SIZE(field) sizeof(((struct pj_config *)NULL)->field)
#define SEC 1000
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

#define INT(p, f, d, lo, hi) \
	{ \
		.path = (p), .type = PJ_CFG_INT, .offset = OFF(f), .def = (d), \
		.min = (lo), .max = (hi) \
	}
#define DUR(p, f, d, lo, hi, secs) \
	{ \
		.path = (p), .type = PJ_CFG_DURATION, .offset = OFF(f), \
		.def = (d), .min = (lo), .max = (hi), .whole_seconds = (secs) \
	}
#define STR(p, f, d, lo, sec) \
	{ \
		.path = (p), .type = PJ_CFG_STRING, .offset = OFF(f), \
		.def = (d), .min = (lo), .max = FIELD_SIZE(f) - 1, \
		.secret = (sec), .size = FIELD_SIZE(f) \
	}
#define BOOL(p, f, d) \
	{ \
		.path = (p), .type = PJ_CFG_BOOL, .offset = OFF(f), .def = (d) \
	}
#define ENUM(p, f, d, names) \
	{ \
		.path = (p), .type = PJ_CFG_ENUM, .offset = OFF(f), \
		.def = (d), .choices = (names) \
	}

/* Every key, in the order pj_cfg_print writes them. A new pass adds its
 * passes.<name>.mode row here and nothing else in this file. */
static const struct pj_cfg_key keys[] = {
	STR("database.host", db.host, "localhost", 0, false),
	INT("database.port", db.port, "3306", 1, 65535),
	STR("database.hosts", db.hosts_list, "", 0, false),
	STR("database.socket", db.socket, "", 0, false),
	STR("database.name", db.name, "placement", 1, false),
	STR("database.user", db.user, "placement_janitor", 1, false),
	STR("database.password", db.password, "", 0, true),
	STR("database.password_file", db.password_file, "", 0, false),
	STR("database.password_env", db.password_env, "", 0, false),
	STR("database.option_file", db.option_file, "", 0, false),
	STR("database.option_group", db.option_group, "client", 1, false),
	ENUM("database.tls.mode", db.tls_mode, "preferred", tls_modes),
	STR("database.tls.ca", db.tls_ca, "", 0, false),
	STR("database.tls.cert", db.tls_cert, "", 0, false),
	STR("database.tls.key", db.tls_key, "", 0, false),
	DUR("database.connect_timeout", db.connect_timeout_ms, "10s", SEC,
	    10 * MIN, true),
	DUR("database.read_timeout", db.read_timeout_ms, "60s", SEC, HOUR,
	    true),
	DUR("database.write_timeout", db.write_timeout_ms, "60s", SEC, HOUR,
	    true),
	DUR("database.lock_wait_timeout", db.lock_wait_timeout_ms, "2s", SEC,
	    HOUR, true),
	INT("worker.batch_size", worker.batch_size, "500", 1, 100000),
	INT("worker.max_rows", worker.max_rows, "0", 0, 1000000000000),
	DUR("worker.max_runtime", worker.max_runtime_ms, "0", 0,
	    (int64_t)365 * DAY, false),
	DUR("worker.sleep_between_batches", worker.sleep_between_batches_ms,
	    "0", 0, HOUR, false),
	DUR("worker.interval", worker.interval_ms, "1h", SEC, 7 * DAY, false),
	INT("worker.retries", worker.retries, "5", 0, 100),
	DUR("worker.retry_backoff", worker.retry_backoff_ms, "100ms", 1, MIN,
	    false),
	ENUM("worker.on_batch_failure", worker.on_batch_failure, "skip",
	    on_failure),
	DUR("worker.batch_target", worker.batch_target_ms, "100ms", 0, MIN,
	    false),
	DUR("worker.reconnect_deadline", worker.reconnect_deadline_ms, "5m",
	    SEC, DAY, false),
	BOOL("worker.lock.enabled", worker.lock_enabled, "true"),
	STR("worker.lock.run_dir", worker.lock_run_dir,
	    "/run/placement-janitor", 1, false),
	STR("worker.lock.name", worker.lock_name, "placement_janitor", 1,
	    false),
	DUR("worker.lock.timeout", worker.lock_timeout_ms, "0", 0, HOUR, true),
	STR("placement.incomplete_project_id", placement.incomplete_project_id,
	    "00000000-0000-0000-0000-000000000000", 1, false),
	STR("placement.incomplete_user_id", placement.incomplete_user_id,
	    "00000000-0000-0000-0000-000000000000", 1, false),
	ENUM("passes.incomplete_consumers.mode",
	    passes.incomplete_consumers.mode, "repair", pass_modes),
	ENUM("passes.orphaned_consumers.mode", passes.orphaned_consumers.mode,
	    "repair", pass_modes),
	/* Placement makes a consumer and writes its allocations in two
	 * transactions: a young empty consumer is normal (internals 3). */
	DUR("passes.orphaned_consumers.min_age",
	    passes.orphaned_consumers_min_age_ms, "1h", 2 * MIN,
	    (int64_t)365 * DAY, false),
	ENUM("passes.orphaned_allocations.mode",
	    passes.orphaned_allocations.mode, "report", pass_modes),
	ENUM("passes.orphaned_inventories.mode",
	    passes.orphaned_inventories.mode, "report", pass_modes),
	ENUM("passes.orphaned_provider_links.mode",
	    passes.orphaned_provider_links.mode, "repair", pass_modes),
	ENUM("passes.dangling_consumer_refs.mode",
	    passes.dangling_consumer_refs.mode, "repair", pass_modes),
	ENUM("passes.root_provider_ids.mode", passes.root_provider_ids.mode,
	    "repair", pass_modes),
	ENUM("passes.unused_projects_users.mode",
	    passes.unused_projects_users.mode, "report", report_modes),
	ENUM("passes.dangling_resource_classes.mode",
	    passes.dangling_resource_classes.mode, "report", report_modes),
	BOOL("archive.enabled", archive.enabled, "true"),
	STR("replication.replicas", replication.replicas, "", 0, false),
	/* Seconds_Behind_Master counts whole seconds. */
	DUR("replication.max_replica_lag", replication.max_replica_lag_ms,
	    "10s", 0, DAY, true),
	DUR("replication.check_interval", replication.check_interval_ms, "1s",
	    100, 10 * MIN, false),
	DUR("replication.max_pause", replication.max_pause_ms, "10m", 0,
	    7 * DAY, false),
	INT("replication.galera_max_recv_queue",
	    replication.galera_max_recv_queue, "100", 0, 1000000000),
	INT("replication.galera_max_flow_control_percent",
	    replication.galera_max_flow_control_percent, "10", 0, 100),
	ENUM("logging.level", logging.level, "info", log_levels),
	ENUM("logging.format", logging.format, "text", log_formats),
	BOOL("logging.redact_uuids", logging.redact_uuids, "false"),
	ENUM("report.format", report.format, "table", report_formats),
	STR("report.metrics_file", report.metrics_file, "", 0, false),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const struct pj_cfg_key *
find_key(const char *path, size_t *index)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if (strcmp(keys[i].path, path) == 0) {
			if (index != NULL)
				*index = i;
			return &keys[i];
		}
	}
	return NULL;
}

/* A section is a proper prefix of some key ("database", "database.tls"). */
static bool
is_section(const char *path)
{
	size_t len = strlen(path), i;

	for (i = 0; i < N_KEYS; i++) {
		if (strncmp(keys[i].path, path, len) == 0 &&
		    keys[i].path[len] == '.')
			return true;
	}
	return false;
}

static void *
field(struct pj_config *cfg, const struct pj_cfg_key *k)
{
	return (char *)cfg + k->offset;
}

static const void *
cfield(const struct pj_config *cfg, const struct pj_cfg_key *k)
{
	return (const char *)cfg + k->offset;
}

/* What a key's value must be, as the one message for any bad value. */
static void
expectation(const struct pj_cfg_key *k, char *buf, size_t size)
{
	char lo[32], hi[32];
	size_t used, i;

	switch (k->type) {
	case PJ_CFG_INT:
		snprintf(buf, size, "expected an integer %" PRId64 "..%" PRId64,
		    k->min, k->max);
		break;
	case PJ_CFG_DURATION:
		pj_time_format_duration(k->min, lo, sizeof(lo));
		pj_time_format_duration(k->max, hi, sizeof(hi));
		snprintf(buf, size,
		    "expected a duration %s..%s (a whole number and ms, s, m, "
		    "h or d)",
		    lo, hi);
		break;
	case PJ_CFG_STRING:
		snprintf(buf, size,
		    "expected a string of %" PRId64 "..%" PRId64 " bytes",
		    k->min, k->max);
		break;
	case PJ_CFG_BOOL:
		snprintf(buf, size, "expected true or false");
		break;
	case PJ_CFG_ENUM:
		used = (size_t)snprintf(buf, size, "expected one of");
		for (i = 0; k->choices[i] != NULL && used < size; i++)
			used += (size_t)snprintf(buf + used, size - used,
			    "%s %s", i > 0 ? "," : "", k->choices[i]);
		break;
	}
}

static bool
parse_int(const char *text, int64_t *out)
{
	const char *p = text;
	bool negative = *p == '-';
	int64_t value = 0;

	if (negative)
		p++;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		int digit = *p - '0';

		if (value > (INT64_MAX - digit) / 10)
			return false;
		value = value * 10 + digit;
	}
	if (*p != '\0')
		return false;
	*out = negative ? -value : value;
	return true;
}

/* What YAML reads as null when written plain. */
static bool
is_null(const char *text)
{
	return text[0] == '\0' || strcmp(text, "~") == 0 ||
	    strcmp(text, "null") == 0 || strcmp(text, "Null") == 0 ||
	    strcmp(text, "NULL") == 0;
}

static bool
has_control(const char *text)
{
	for (; *text != '\0'; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}

/*
 * Stores text (len bytes; plain when unquoted) as key k's value in cfg.
 * On failure cfg is unchanged and why says what was expected; why never
 * holds the value, so a secret cannot leak through it.
 */
static bool
set_value(struct pj_config *cfg, const struct pj_cfg_key *k, const char *text,
    size_t len, bool plain, char *why, size_t why_size)
{
	struct pj_error err = { 0 };
	int64_t num;
	size_t i;

	if (strlen(text) != len) {
		snprintf(why, why_size, "contains a NUL byte");
		return false;
	}
	switch (k->type) {
	case PJ_CFG_INT:
		if (!plain || !parse_int(text, &num) || num < k->min ||
		    num > k->max)
			break;
		*(int64_t *)field(cfg, k) = num;
		return true;
	case PJ_CFG_DURATION:
		if (pj_time_parse_duration(text, &num, &err) != PJ_OK ||
		    num < k->min || num > k->max)
			break;
		if (k->whole_seconds && num % SEC != 0) {
			snprintf(why, why_size,
			    "MariaDB takes whole seconds here: use s, m or h, "
			    "not a fraction of a second");
			return false;
		}
		*(int64_t *)field(cfg, k) = num;
		return true;
	case PJ_CFG_STRING:
		if (plain && is_null(text)) {
			snprintf(why, why_size,
			    "no value: write \"\" for an empty string");
			return false;
		}
		if (has_control(text)) {
			snprintf(why, why_size, "contains a control character");
			return false;
		}
		if ((int64_t)len < k->min || (int64_t)len > k->max)
			break;
		/* Clear the whole field: no tail of an older value stays. */
		memset(field(cfg, k), 0, k->size);
		memcpy(field(cfg, k), text, len);
		return true;
	case PJ_CFG_BOOL:
		if (!plain ||
		    (strcmp(text, "true") != 0 && strcmp(text, "false") != 0))
			break;
		*(bool *)field(cfg, k) = text[0] == 't';
		return true;
	case PJ_CFG_ENUM:
		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(text, k->choices[i]) == 0) {
				*(int *)field(cfg, k) = (int)i;
				return true;
			}
		}
		break;
	}
	expectation(k, why, why_size);
	return false;
}

int
pj_cfg_defaults(struct pj_config *cfg, struct pj_error *err)
{
	struct pj_config tmp;
	char why[200];
	size_t i;

	memset(&tmp, 0, sizeof(tmp));
	for (i = 0; i < N_KEYS; i++) {
		const struct pj_cfg_key *k = &keys[i];

		/* A string default is the text inside the user's quotes. */
		if (!set_value(&tmp, k, k->def, strlen(k->def),
		        k->type != PJ_CFG_STRING, why, sizeof(why)))
			return pj_error_set(err, PJ_EINTERNAL,
			    "default of %s: %s", k->path, why);
	}
	*cfg = tmp;
	return PJ_OK;
}

enum pj_mode
pj_cfg_pass_mode(const struct pj_config *cfg, const char *name)
{
	const struct pj_cfg_key *k;
	char path[PJ_YAML_PATH_MAX];
	int n;

	if (name == NULL)
		return PJ_MODE_OFF;
	n = snprintf(path, sizeof(path), "passes.%s.mode", name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return PJ_MODE_OFF;
	k = find_key(path, NULL);
	if (k == NULL ||
	    (k->choices != pass_modes && k->choices != report_modes))
		return PJ_MODE_OFF;
	return *(const enum pj_mode *)cfield(cfg, k);
}

const char *
pj_cfg_mode_name(enum pj_mode mode)
{
	switch (mode) {
	case PJ_MODE_OFF:
		return "off";
	case PJ_MODE_REPORT:
		return "report";
	case PJ_MODE_REPAIR:
		return "repair";
	}
	return "unknown";
}

/* A double-quoted YAML string that reads back as s. */
static void
print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void
print_value(const struct pj_config *cfg, const struct pj_cfg_key *k, FILE *out)
{
	const void *p = cfield(cfg, k);
	char buf[32];
	int v, i;

	switch (k->type) {
	case PJ_CFG_INT:
		fprintf(out, "%" PRId64, *(const int64_t *)p);
		break;
	case PJ_CFG_DURATION:
		pj_time_format_duration(*(const int64_t *)p, buf, sizeof(buf));
		fputs(buf, out);
		break;
	case PJ_CFG_STRING:
		if (k->secret && ((const char *)p)[0] != '\0')
			print_quoted(out, "<redacted>");
		else
			print_quoted(out, p);
		break;
	case PJ_CFG_BOOL:
		fputs(*(const bool *)p ? "true" : "false", out);
		break;
	case PJ_CFG_ENUM:
		v = *(const int *)p;
		for (i = 0; k->choices[i] != NULL; i++) {
			if (i == v) {
				fputs(k->choices[i], out);
				return;
			}
		}
		print_quoted(out, "<invalid>");
		break;
	}
}

/* Length of the section part ("database.tls.") of a key path. */
static size_t
section_len(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot != NULL ? (size_t)(dot - path) + 1 : 0;
}

void
pj_cfg_print(const struct pj_config *cfg, FILE *out)
{
	const char *prev = "";
	size_t i;

	fputs("# placement-janitor: effective configuration\n", out);
	for (i = 0; i < N_KEYS; i++) {
		const char *path = keys[i].path;
		size_t sec = section_len(path), common = 0, depth = 0, j;

		/* Keep the sections shared with the previous key open. */
		for (j = 0; j < sec && prev[j] == path[j]; j++) {
			if (path[j] == '.') {
				common = j + 1;
				depth++;
			}
		}
		for (j = common; j < sec; j++) {
			if (path[j] != '.')
				continue;
			fprintf(out, "%*s%.*s:\n", (int)(2 * depth), "",
			    (int)(j - common), path + common);
			common = j + 1;
			depth++;
		}
		fprintf(out, "%*s%s: ", (int)(2 * depth), "", path + sec);
		print_value(cfg, &keys[i], out);
		fputc('\n', out);
		prev = path;
	}
}

struct pos {
	size_t line, column; /* of the value in the file; 0: not set there */
};

struct load {
	const char *file;
	struct pj_config cfg; /* defaults, then the file's values */
	struct pj_cfg_diag *diag;
	size_t problems;
	struct pos pos[N_KEYS];
};

static void problem(struct load *ld, size_t line, size_t column,
    const char *path, const char *fmt, ...) PJ_PRINTF(5, 6);

/* One "file:line:column: key.path: message" line in the diagnostics. */
static void
problem(struct load *ld, size_t line, size_t column, const char *path,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	ld->problems++;
	if (ld->diag == NULL)
		return;
	if (ld->diag->n == PJ_CFG_MAX_ERRORS) {
		ld->diag->dropped++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line == 0 && path[0] == '\0')
		snprintf(ld->diag->msg[ld->diag->n], sizeof(ld->diag->msg[0]),
		    "%s: %s", ld->file, msg);
	else if (line == 0)
		snprintf(ld->diag->msg[ld->diag->n], sizeof(ld->diag->msg[0]),
		    "%s: %s: %s", ld->file, path, msg);
	else
		snprintf(ld->diag->msg[ld->diag->n], sizeof(ld->diag->msg[0]),
		    "%s:%zu:%zu: %s: %s", ld->file, line, column,
		    path[0] != '\0' ? path : "(document)", msg);
	ld->diag->n++;
}

static bool
on_scalar(struct load *ld, const struct pj_yaml_event *ev)
{
	const struct pj_cfg_key *k;
	char why[200];
	size_t i;

	k = find_key(ev->path, &i);
	if (k == NULL) {
		/* An empty section ("report:" and nothing under it). */
		if (is_section(ev->path) && ev->plain && is_null(ev->value))
			return true;
		if (is_section(ev->path))
			problem(ld, ev->line, ev->column, ev->path,
			    "expected a mapping of keys");
		else
			problem(ld, ev->key_line, ev->key_column, ev->path,
			    "unknown key");
		return true;
	}
	if (!set_value(
	        &ld->cfg, k, ev->value, ev->len, ev->plain, why, sizeof(why))) {
		problem(ld, ev->line, ev->column, ev->path, "%s", why);
		return true;
	}
	ld->pos[i].line = ev->line;
	ld->pos[i].column = ev->column;
	return true;
}

static bool
on_event(const struct pj_yaml_event *ev, void *arg)
{
	struct load *ld = arg;
	const struct pj_cfg_key *k;
	char why[200];

	switch (ev->kind) {
	case PJ_YAML_ERROR:
		problem(ld, ev->line, ev->column, ev->path, "%s", ev->value);
		return false;
	case PJ_YAML_SCALAR:
		return on_scalar(ld, ev);
	case PJ_YAML_MAPPING:
	case PJ_YAML_SEQUENCE:
		break;
	}
	k = find_key(ev->path, NULL);
	if (k != NULL) {
		expectation(k, why, sizeof(why));
		problem(ld, ev->line, ev->column, ev->path, "%s", why);
		return false;
	}
	if (!is_section(ev->path)) {
		problem(
		    ld, ev->key_line, ev->key_column, ev->path, "unknown key");
		return false;
	}
	if (ev->kind == PJ_YAML_SEQUENCE) {
		problem(ld, ev->line, ev->column, ev->path,
		    "expected a mapping of keys, not a list");
		return false;
	}
	return true;
}

static const char *
string_of(const struct load *ld, const char *path, size_t *index)
{
	const struct pj_cfg_key *k = find_key(path, index);

	return cfield(&ld->cfg, k);
}

/* At most one password source: which one wins would be a guess. */
static void
check_secret_sources(struct load *ld)
{
	static const char *const sources[] = { "database.password",
		"database.password_file", "database.password_env",
		"database.option_file" };
	size_t i, index, set = 0;

	for (i = 0; i < sizeof(sources) / sizeof(sources[0]); i++) {
		if (string_of(ld, sources[i], &index)[0] == '\0')
			continue;
		if (set++ > 0)
			problem(ld, ld->pos[index].line, ld->pos[index].column,
			    sources[i],
			    "only one of database.password, "
			    "database.password_file, database.password_env "
			    "and database.option_file may be set");
	}
}

static bool
env_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Files holding a secret must be private (common/secret.c decides). */
static void
check_secret_files(struct load *ld)
{
	struct pj_error err = { 0 };
	size_t i = 0;

	if (string_of(ld, "database.password", &i)[0] != '\0' &&
	    pj_secret_check_file(ld->file, "config file", &err) != PJ_OK)
		problem(ld, ld->pos[i].line, ld->pos[i].column,
		    "database.password", "%s", err.msg);
	pj_error_clear(&err);
	if (string_of(ld, "database.password_file", &i)[0] != '\0' &&
	    pj_secret_check_file(string_of(ld, "database.password_file", NULL),
	        "password file", &err) != PJ_OK)
		problem(ld, ld->pos[i].line, ld->pos[i].column,
		    "database.password_file", "%s", err.msg);
	if (!env_name_ok(string_of(ld, "database.password_env", &i)))
		problem(ld, ld->pos[i].line, ld->pos[i].column,
		    "database.password_env",
		    "expected the name of an environment variable "
		    "(letters, digits and '_')");
}

static void
check_connection(struct load *ld)
{
	const struct pj_db_config *db = &ld->cfg.db;
	size_t i = 0; /* find_key always finds these keys */

	if (db->tls_mode >= PJ_TLS_VERIFY_CA && db->tls_ca[0] == '\0') {
		find_key("database.tls.mode", &i);
		problem(ld, ld->pos[i].line, ld->pos[i].column,
		    "database.tls.mode", "%s needs database.tls.ca",
		    tls_modes[db->tls_mode]);
	}
	if ((db->tls_cert[0] == '\0') != (db->tls_key[0] == '\0')) {
		find_key(db->tls_cert[0] != '\0' ? "database.tls.cert"
		                                 : "database.tls.key",
		    &i);
		problem(ld, ld->pos[i].line, ld->pos[i].column, keys[i].path,
		    "database.tls.cert and database.tls.key go together");
	}
	if (db->host[0] == '\0' && db->socket[0] == '\0') {
		find_key("database.host", &i);
		problem(ld, ld->pos[i].line, ld->pos[i].column, keys[i].path,
		    "empty, and no database.socket either");
	}
}

/* The port after a replica's host: digits, 1..65535. */
static bool
parse_port(const char *p, size_t len, int64_t *port)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return false;
	*port = v;
	return true;
}

/* One entry of replication.replicas or database.hosts: host, host:port,
 * [v6] or [v6]:port (port 3306 when not given). */
static bool
parse_addr(const char *p, size_t len, struct pj_db_addr *r)
{
	const char *host = p, *colon = NULL;
	size_t host_len = len, i;

	if (len > 0 && p[0] == '[') {
		const char *close = memchr(p, ']', len);

		if (close == NULL)
			return false;
		host = p + 1;
		host_len = (size_t)(close - host);
		if (close + 1 < p + len) {
			if (close[1] != ':')
				return false;
			colon = close + 1;
		}
	} else {
		for (i = 0; i < len; i++) {
			if (p[i] != ':')
				continue;
			if (colon != NULL)
				return false; /* IPv6 needs brackets */
			colon = p + i;
		}
		if (colon != NULL)
			host_len = (size_t)(colon - p);
	}
	if (host_len == 0 || host_len >= sizeof(r->host) ||
	    memchr(host, ' ', host_len) != NULL)
		return false;
	r->port = 3306;
	if (colon != NULL &&
	    !parse_port(colon + 1, (size_t)(p + len - colon - 1), &r->port))
		return false;
	memcpy(r->host, host, host_len);
	r->host[host_len] = '\0';
	return true;
}

/* The list in key path (comma-separated, spaces around entries ignored)
 * into addr[] (at most max entries, *n of them), each entry that is not
 * an address reported as a problem; what names an entry in messages. */
static void
parse_addr_list(struct load *ld, const char *path, const char *list,
    struct pj_db_addr *addr, size_t max, size_t *n_addr, const char *what)
{
	const char *p = list, *end;
	size_t i = 0, len, n = 0;

	find_key(path, &i);
	memset(addr, 0, max * sizeof(*addr));
	*n_addr = 0;
	if (p[strspn(p, " ")] == '\0')
		return;
	for (;; p = end + 1) {
		p += strspn(p, " ");
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		for (len = (size_t)(end - p); len > 0 && p[len - 1] == ' ';)
			len--;
		n++;
		if (*n_addr == max) {
			problem(ld, ld->pos[i].line, ld->pos[i].column, path,
			    "more than %zu %s", max, what);
			return;
		}
		if (!parse_addr(p, len, &addr[*n_addr]))
			problem(ld, ld->pos[i].line, ld->pos[i].column, path,
			    "entry %zu \"%.*s\": expected host or host:port "
			    "(port 1..65535; IPv6 as [address]:port)",
			    n, (int)(len < 64 ? len : 64), p);
		else
			(*n_addr)++;
		if (*end == '\0')
			break;
	}
}

static void
check_replication(struct load *ld)
{
	struct pj_replication_config *rc = &ld->cfg.replication;

	parse_addr_list(ld, "replication.replicas", rc->replicas, rc->replica,
	    PJ_CFG_MAX_REPLICAS, &rc->n_replicas, "replicas");
}

/* database.hosts replaces host, port and socket: one way to say where. */
static void
check_hosts(struct load *ld)
{
	static const char *const replaced[] = { "database.host",
		"database.port", "database.socket" };
	struct pj_db_config *db = &ld->cfg.db;
	size_t i, k = 0;

	parse_addr_list(ld, "database.hosts", db->hosts_list, db->hosts,
	    PJ_DB_MAX_HOSTS, &db->n_hosts, "hosts");
	if (db->n_hosts == 0)
		return;
	for (i = 0; i < sizeof(replaced) / sizeof(replaced[0]); i++) {
		find_key(replaced[i], &k);
		if (ld->pos[k].line > 0)
			problem(ld, ld->pos[k].line, ld->pos[k].column,
			    replaced[i],
			    "database.hosts is set: give the servers there "
			    "only");
	}
}

int
pj_cfg_load(const char *path, struct pj_config *cfg, struct pj_cfg_diag *diag,
    struct pj_error *err)
{
	struct pj_error walk = { 0 };
	struct load *ld = NULL;
	int rc;

	if (diag != NULL)
		memset(diag, 0, sizeof(*diag));
	ld = calloc(1, sizeof(*ld));
	if (ld == NULL)
		return pj_error_set(err, PJ_ENOMEM, "out of memory");
	ld->file = path;
	ld->diag = diag;
	rc = pj_cfg_defaults(&ld->cfg, err);
	if (rc)
		goto out;
	rc = pj_yaml_walk(path, on_event, ld, &walk);
	if (rc == PJ_ENOMEM) {
		pj_error_set(err, rc, "%s: %s", path, walk.msg);
		goto out;
	}
	if (rc != PJ_OK && ld->problems == 0) {
		/* The file itself: missing, a directory, too large. */
		problem(ld, 0, 0, "", "%s", walk.msg);
		pj_error_set(err, rc, "%s: %s", path, walk.msg);
		goto out;
	}
	check_secret_sources(ld);
	check_secret_files(ld);
	check_connection(ld);
	check_replication(ld);
	check_hosts(ld);
	if (pj_strlcpy(ld->cfg.path, path, sizeof(ld->cfg.path)) >=
	    sizeof(ld->cfg.path))
		problem(ld, 0, 0, "", "path longer than %zu bytes",
		    sizeof(ld->cfg.path) - 1);
	if (ld->problems > 0) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "%s: %zu problem%s in the configuration", path,
		    ld->problems, ld->problems == 1 ? "" : "s");
		goto out;
	}
	*cfg = ld->cfg;
	rc = PJ_OK;
out:
	/* The copy may hold the inline password. */
	pj_wipe(ld, sizeof(*ld));
	free(ld);
	return rc;
}
