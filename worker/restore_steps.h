/*
 * restore's statements per step, a table and an action (internal to
 * worker/restore.c): for one batch of archive rows, the SQL that locks,
 * counts, lists, marks and puts back, and the SQL pieces all of restore
 * shares. A statement is prepared in the file that defines it (tests/lint).
 */
#ifndef PJ_WORKER_RESTORE_STEPS_H
#define PJ_WORKER_RESTORE_STEPS_H

#include <stdbool.h>

#include "common/db.h"
#include "common/error.h"
#include "worker/restore.h"

#define PJ_RS_ARCHIVE "placement_janitor_archive z"
/* A value of the archived row as text (SQL NULL for JSON null). */
#define PJ_RS_JV(f) "JSON_VALUE(z.row_data, '$." f "')"
#define PJ_RS_JI(f) "CAST(" PJ_RS_JV(f) " AS SIGNED)"
/* A string compared as Placement compares it (case, trailing spaces),
 * which also lets the server use the column's index. */
#define PJ_RS_JS(f) \
	"(CONVERT(" PJ_RS_JV(f) " USING utf8mb3) COLLATE utf8mb3_general_ci)"
/* One batch: archive rows of one run and pass with ids in (after, last].
 * Binds run, pass, after, last. */
#define PJ_RS_BATCH(t, a) \
	" z.run_id = ? AND z.pass = ? AND z.id > ? AND z.id <= ?" \
	" AND z.table_name = '" t "' AND z.action = '" a "'"
/* The rows this batch marked restored: binds the batch's marker time. */
#define PJ_RS_MARKED " AND z.restored_at = ?"

/* One batch's statements for a step; NULL when not needed. */
struct pj_restore_sql {
	/* Binds run, pass, after, last: COUNT(*) of pending rows, locked. */
	struct pj_stmt *lock;
	/* Same binds: pending rows, and those that could go back; no lock. */
	struct pj_stmt *check;
	/* Same binds: id, pass, row_key of each row that cannot go back. */
	struct pj_stmt *list;
	/* Binds marker, run, pass, after, last: marks the rows that can. */
	struct pj_stmt *mark;
	/* Binds run, pass, after, last, marker: writes the marked rows. */
	struct pj_stmt *apply;
};

struct pj_restore_stepdef {
	const char *table, *action;
	/* Prepares lock, mark and apply, or check when dry_run; list when
	 * list. On failure what was prepared is left for close. */
	int (*prepare)(struct pj_db *db, bool dry_run, bool list,
	    struct pj_restore_sql *s, struct pj_error *err);
	bool bump_providers; /* the rows belong to a provider */
	bool bump_consumers; /* the rows belong to a consumer */
};

/* In the order restore takes them. */
extern const struct pj_restore_stepdef pj_restore_steps[PJ_RESTORE_STEPS];

/* Closes every statement of s (NULL ones too) and clears it. */
void pj_restore_sql_close(struct pj_restore_sql *s);

#endif
