/*
 * A YAML file as a flat walk of (dotted key path, value, line, column)
 * events: the only code that knows libyaml. Only mappings of mappings of
 * scalars are walked; everything else is reported, never guessed at.
 */
#ifndef PJ_CONFIG_YAML_H
#define PJ_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/attr.h"
#include "common/error.h"

#define PJ_YAML_MAX_BYTES (1024 * 1024) /* larger files are refused */
#define PJ_YAML_MAX_DEPTH 8             /* nested mappings */
#define PJ_YAML_MAX_KEY 64              /* bytes in one key */
#define PJ_YAML_MAX_KEYS 256            /* keys in one mapping */
#define PJ_YAML_PATH_MAX 256            /* bytes in a dotted path */

enum pj_yaml_kind {
	PJ_YAML_SCALAR,   /* path: value; value is its text */
	PJ_YAML_MAPPING,  /* a mapping starts at path (never the root) */
	PJ_YAML_SEQUENCE, /* a sequence at path; its items are skipped */
	PJ_YAML_ERROR,    /* value is the problem; path is where, or "" */
};

struct pj_yaml_event {
	enum pj_yaml_kind kind;
	const char *path;    /* "database.tls.mode"; "" at the top level */
	const char *value;   /* scalar text or problem, NUL-terminated */
	size_t len;          /* bytes in value: a scalar may hold NUL bytes */
	bool plain;          /* a scalar written without quotes or | or > */
	size_t line, column; /* 1-based: the value, or the problem */
	size_t key_line, key_column; /* 1-based: the key naming path */
};

/*
 * fn is called once per event, in file order, with arg. For
 * PJ_YAML_MAPPING, its returning false skips the mapping's contents; the
 * return value is ignored for other kinds. Pointers in ev are valid only
 * during the call.
 *
 * Reads the file at path (a regular file of at most PJ_YAML_MAX_BYTES) and
 * walks its one document, whose root must be a mapping; an empty file, or
 * one holding only comments or "---", has no events and is valid. Keys
 * must be scalars of letters, digits, '_' and '-' (so a dotted path
 * is never ambiguous); a key repeated in one mapping, an anchor, an alias,
 * a tag, a second document or a syntax error is a PJ_YAML_ERROR event.
 * The walk goes on after a problem where it can; after a syntax error it
 * stops. Returns PJ_OK when no PJ_YAML_ERROR event was sent, PJ_ECONFIG
 * after one (err holds the first), and PJ_EIO (cannot read) or PJ_ECONFIG
 * (a directory, not a regular file, too large) with no event sent when
 * the file itself is unusable; err->msg then omits the path.
 */
int pj_yaml_walk(const char *path,
    bool (*fn)(const struct pj_yaml_event *ev, void *arg), void *arg,
    struct pj_error *err) PJ_MUSTCHECK;

#endif
