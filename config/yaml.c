/* The one file that knows libyaml: a YAML file as path/value/line/column. */
#include "config/yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "common/strings.h"

struct seen_key {
	char name[PJ_YAML_MAX_KEY + 1];
	size_t line;
};

struct walker {
	yaml_parser_t parser;
	const unsigned char *text; /* the file, to place reader errors */
	size_t text_len;
	bool (*fn)(const struct pj_yaml_event *ev, void *arg);
	void *arg;
	struct pj_error *err;
	bool stop; /* a syntax error or no memory: no more events */
	char path[PJ_YAML_PATH_MAX];
};

static void report(struct walker *w, const char *path, size_t line,
    size_t column, const char *fmt, ...) PJ_PRINTF(5, 6);

static void
report(struct walker *w, const char *path, size_t line, size_t column,
    const char *fmt, ...)
{
	struct pj_yaml_event ev = { .kind = PJ_YAML_ERROR };
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ev.path = path;
	ev.value = msg;
	ev.len = strlen(msg);
	ev.line = ev.key_line = line;
	ev.column = ev.key_column = column;
	pj_error_set(w->err, PJ_ECONFIG, "line %zu, column %zu: %s%s%s", line,
	    column, path, path[0] != '\0' ? ": " : "", msg);
	w->fn(&ev, w->arg);
}

/* libyaml marks count from 0; people count from 1. */
static size_t
line_of(const yaml_mark_t *m)
{
	return m->line + 1;
}

static size_t
column_of(const yaml_mark_t *m)
{
	return m->column + 1;
}

/* Reader errors (bad UTF-8, control characters) carry a byte offset, not
 * a mark: find its line and column in the text. */
static void
place_offset(
    const struct walker *w, size_t offset, size_t *line, size_t *column)
{
	size_t i, start = 0;

	*line = 1;
	for (i = 0; i < offset && i < w->text_len; i++) {
		if (w->text[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*column = offset - start + 1;
}

static void
report_syntax(struct walker *w)
{
	const yaml_parser_t *p = &w->parser;
	const char *problem = p->problem != NULL ? p->problem : "syntax error";
	size_t line, column;

	if (p->error == YAML_MEMORY_ERROR) {
		pj_error_set(w->err, PJ_ENOMEM, "out of memory parsing YAML");
		w->stop = true;
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		place_offset(w, p->problem_offset, &line, &column);
	} else {
		line = line_of(&p->problem_mark);
		column = column_of(&p->problem_mark);
	}
	/* libyaml's texts are fixed strings, never a piece of the file. */
	if (p->context != NULL)
		report(w, w->path, line, column, "YAML syntax: %s %s",
		    p->context, problem);
	else
		report(w, w->path, line, column, "YAML syntax: %s", problem);
	w->stop = true;
}

/* The next event, or false after a syntax error (reported). */
static bool
next(struct walker *w, yaml_event_t *ev)
{
	if (w->stop)
		return false;
	if (!yaml_parser_parse(&w->parser, ev)) {
		report_syntax(w);
		return false;
	}
	return true;
}

static bool
is_start(const yaml_event_t *ev)
{
	return ev->type == YAML_MAPPING_START_EVENT ||
	    ev->type == YAML_SEQUENCE_START_EVENT;
}

/* Consumes the rest of a node whose first event was ev. */
static void
skip_node(struct walker *w, const yaml_event_t *first)
{
	yaml_event_t ev;
	size_t level = is_start(first) ? 1 : 0;

	while (level > 0 && next(w, &ev)) {
		if (is_start(&ev))
			level++;
		else if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT)
			level--;
		yaml_event_delete(&ev);
	}
}

/* Refuses anchors and tags on a node; true when it had neither. */
static bool
check_props(struct walker *w, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	if (ev->type == YAML_SCALAR_EVENT) {
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
	} else if (ev->type == YAML_MAPPING_START_EVENT) {
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
	}
	if (anchor != NULL) {
		report(w, w->path, line_of(&ev->start_mark),
		    column_of(&ev->start_mark),
		    "anchors (&name) are not allowed");
		return false;
	}
	if (tag != NULL) {
		report(w, w->path, line_of(&ev->start_mark),
		    column_of(&ev->start_mark), "tags (!name) are not allowed");
		return false;
	}
	return true;
}

static void walk_mapping(struct walker *w, size_t depth);

/* NOLINTBEGIN(misc-no-recursion): walk_node and walk_mapping recurse once
 * per nested mapping, and walk_node stops at PJ_YAML_MAX_DEPTH. */

/* One value node, first event ev, at w->path, named by the key at kmark. */
static void
walk_node(struct walker *w, const yaml_event_t *ev, const yaml_mark_t *kmark,
    size_t depth)
{
	struct pj_yaml_event out = { .path = w->path, .value = "" };

	out.line = line_of(&ev->start_mark);
	out.column = column_of(&ev->start_mark);
	out.key_line = line_of(kmark);
	out.key_column = column_of(kmark);
	if (ev->type == YAML_ALIAS_EVENT) {
		report(w, w->path, out.line, out.column,
		    "aliases (*name) are not allowed");
		return;
	}
	if (!check_props(w, ev)) {
		skip_node(w, ev);
		return;
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		out.kind = PJ_YAML_SCALAR;
		out.value = (const char *)ev->data.scalar.value;
		out.len = ev->data.scalar.length;
		out.plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		w->fn(&out, w->arg);
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		out.kind = PJ_YAML_SEQUENCE;
		w->fn(&out, w->arg);
		skip_node(w, ev);
	} else if (depth >= PJ_YAML_MAX_DEPTH) {
		report(w, w->path, out.line, out.column,
		    "mappings nested deeper than %d levels", PJ_YAML_MAX_DEPTH);
		skip_node(w, ev);
	} else {
		out.kind = PJ_YAML_MAPPING;
		if (w->fn(&out, w->arg))
			walk_mapping(w, depth + 1);
		else
			skip_node(w, ev);
	}
}

static bool
key_ok(const char *key, size_t len)
{
	size_t i;

	if (len == 0 || len > PJ_YAML_MAX_KEY)
		return false;
	for (i = 0; i < len; i++) {
		char c = key[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Checks the key event kev of a mapping holding seen[0..*n): true (and
 * the key recorded, w->path extended) when its value may be walked. */
static bool
take_key(
    struct walker *w, const yaml_event_t *kev, struct seen_key *seen, size_t *n)
{
	size_t line = line_of(&kev->start_mark);
	size_t column = column_of(&kev->start_mark);
	size_t used = strlen(w->path), len, i;
	const char *key;

	if (kev->type != YAML_SCALAR_EVENT) {
		report(w, w->path, line, column, "a key must be a plain word");
		skip_node(w, kev);
		return false;
	}
	if (!check_props(w, kev))
		return false;
	key = (const char *)kev->data.scalar.value;
	len = kev->data.scalar.length;
	if (!key_ok(key, len)) {
		/* The key is not echoed: it may be binary or very long. */
		report(w, w->path, line, column,
		    "a key must be 1..%d letters, digits, '_' or '-'",
		    PJ_YAML_MAX_KEY);
		return false;
	}
	if (used + 1 + len >= sizeof(w->path)) {
		report(w, w->path, line, column, "key path too long");
		return false;
	}
	if (used > 0)
		w->path[used++] = '.';
	memcpy(w->path + used, key, len + 1);
	for (i = 0; i < *n; i++) {
		if (strcmp(seen[i].name, key) == 0) {
			report(w, w->path, line, column,
			    "duplicate key (first at line %zu)", seen[i].line);
			return false;
		}
	}
	if (*n == PJ_YAML_MAX_KEYS) {
		report(w, w->path, line, column,
		    "more than %d keys in one mapping", PJ_YAML_MAX_KEYS);
		return false;
	}
	memcpy(seen[*n].name, key, len + 1);
	seen[*n].line = line;
	(*n)++;
	return true;
}

/* The keys and values of a mapping whose start event was consumed. */
static void
walk_mapping(struct walker *w, size_t depth)
{
	struct seen_key *seen = NULL;
	size_t n = 0, used = strlen(w->path);
	yaml_event_t kev, vev;

	seen = calloc(PJ_YAML_MAX_KEYS, sizeof(*seen));
	if (seen == NULL) {
		pj_error_set(w->err, PJ_ENOMEM, "out of memory reading YAML");
		w->stop = true;
		return;
	}
	while (next(w, &kev)) {
		bool walk;

		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			break;
		}
		walk = take_key(w, &kev, seen, &n);
		if (next(w, &vev)) {
			if (walk)
				walk_node(w, &vev, &kev.start_mark, depth);
			else
				skip_node(w, &vev);
			yaml_event_delete(&vev);
		}
		yaml_event_delete(&kev);
		w->path[used] = '\0';
	}
	free(seen);
}
/* NOLINTEND(misc-no-recursion) */

/* The root node: a mapping, or an empty (null) document. */
static void
walk_root(struct walker *w)
{
	yaml_event_t ev;

	if (!next(w, &ev))
		return;
	if (ev.type == YAML_MAPPING_START_EVENT) {
		if (check_props(w, &ev))
			walk_mapping(w, 0);
		else
			skip_node(w, &ev);
	} else if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
	    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    ev.data.scalar.tag == NULL && ev.data.scalar.anchor == NULL) {
		/* "---" and nothing else: no settings. */
	} else {
		report(w, "", line_of(&ev.start_mark),
		    column_of(&ev.start_mark),
		    "the document must be a mapping of sections");
		skip_node(w, &ev);
	}
	yaml_event_delete(&ev);
}

static void
walk_stream(struct walker *w)
{
	yaml_event_t ev;
	size_t docs = 0;

	while (next(w, &ev)) {
		yaml_event_type_t type = ev.type;

		if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			report(w, "", line_of(&ev.start_mark),
			    column_of(&ev.start_mark),
			    "more than one YAML document");
			w->stop = true;
		} else if (type == YAML_DOCUMENT_START_EVENT) {
			walk_root(w);
		}
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
}

/* The whole file through one descriptor, so the checked file is the one
 * read. O_NONBLOCK: opening a FIFO must not hang before it is refused. */
static int
read_file(
    const char *path, unsigned char **out, size_t *len, struct pj_error *err)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t used = 0;
	ssize_t got;
	int fd, rc = PJ_OK;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return pj_error_set(
		    err, PJ_EIO, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = pj_error_set(
		    err, PJ_EIO, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc =
		    pj_error_set(err, PJ_ECONFIG, "is a directory, not a file");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = pj_error_set(err, PJ_ECONFIG, "not a regular file");
		goto out;
	}
	if (st.st_size > PJ_YAML_MAX_BYTES) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "larger than %d bytes (1 MiB)", PJ_YAML_MAX_BYTES);
		goto out;
	}
	buf = malloc(PJ_YAML_MAX_BYTES + 1);
	if (buf == NULL) {
		rc = pj_error_set(err, PJ_ENOMEM, "out of memory reading file");
		goto out;
	}
	/* Read to EOF, not st_size: the file may have grown since. */
	while (used <= PJ_YAML_MAX_BYTES) {
		got = read(fd, buf + used, PJ_YAML_MAX_BYTES + 1 - used);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = pj_error_set(
			    err, PJ_EIO, "cannot read: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		used += (size_t)got;
	}
	if (used > PJ_YAML_MAX_BYTES) {
		rc = pj_error_set(err, PJ_ECONFIG,
		    "larger than %d bytes (1 MiB)", PJ_YAML_MAX_BYTES);
		goto out;
	}
	*out = buf;
	*len = used;
	buf = NULL;
out:
	if (buf != NULL) {
		/* Only what was read can hold a secret. */
		pj_wipe(buf, used);
		free(buf);
	}
	close(fd);
	return rc;
}

int
pj_yaml_walk(const char *path,
    bool (*fn)(const struct pj_yaml_event *ev, void *arg), void *arg,
    struct pj_error *err)
{
	struct pj_error local = { 0 };
	struct walker w = { .fn = fn, .arg = arg, .err = &local };
	unsigned char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_file(path, &text, &len, &local);
	if (rc)
		goto out;
	if (!yaml_parser_initialize(&w.parser)) {
		rc = pj_error_set(
		    &local, PJ_ENOMEM, "out of memory for libyaml");
		goto out;
	}
	w.text = text;
	w.text_len = len;
	/* Only UTF-8: a BOM-less UTF-16 file would otherwise be guessed. */
	yaml_parser_set_encoding(&w.parser, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&w.parser, text, len);
	walk_stream(&w);
	yaml_parser_delete(&w.parser);
	rc = local.code;
out:
	if (text != NULL) {
		/* The file may hold a password: wipe what was read. */
		pj_wipe(text, len);
		free(text);
	}
	if (rc)
		pj_error_set(err, rc, "%s", local.msg);
	return rc;
}
