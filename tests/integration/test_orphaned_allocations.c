/* The orphaned_allocations pass against the sandbox MariaDB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "common/strings.h"
#include "common/time.h"
#include "config/config.h"
#include "tests/integration/harness.h"
#include "worker/pass.h"

#define DB "pj_it_orphaned_allocations"
#define FIXTURE "tests/integration/fixtures/orphaned_allocations.sql"
#define PASS "orphaned_allocations"
#define ORPHANS 7 /* in the fixture: on providers 90, 91, 99 */
#define REPAIR_YAML "passes:\n  orphaned_allocations:\n    mode: repair\n"

/* Every column of the allocations matching a condition, as one text. */
#define ALLOCATIONS_DIGEST(where) \
	"SELECT CONCAT(COUNT(*), ':', IFNULL(SUM(CRC32(CONCAT_WS(',', id," \
	" resource_provider_id, consumer_id, resource_class_id, used," \
	" IFNULL(created_at, '-'), IFNULL(updated_at, '-')))), 0))" \
	" FROM allocations WHERE " where
#define CONSUMERS_DIGEST(where) \
	"SELECT CONCAT(COUNT(*), ':', IFNULL(SUM(CRC32(CONCAT_WS(',', id," \
	" uuid, project_id, user_id, generation," \
	" IFNULL(consumer_type_id, '-'), IFNULL(created_at, '-')," \
	" IFNULL(updated_at, '-')))), 0)) FROM consumers WHERE " where
static const char PROVIDERS_DIGEST[] =
    "SELECT CONCAT_WS('/', (SELECT SUM(CRC32(CONCAT_WS(',', id, uuid, name,"
    " generation, root_provider_id, IFNULL(updated_at, '-'))))"
    " FROM resource_providers),"
    " (SELECT SUM(CRC32(CONCAT_WS(',', id, resource_provider_id, total)))"
    " FROM inventories))";
static const char ORPHANS_LEFT[] =
    "SELECT COUNT(*) FROM allocations a LEFT JOIN resource_providers rp"
    " ON rp.id = a.resource_provider_id WHERE rp.id IS NULL";

/* Archive rows that hold, field by field, a row of pj_test_alloc (the
 * orphans as they were before the repair). */
static const char ALLOCATIONS_ARCHIVED_EXACTLY[] =
    "SELECT COUNT(*) FROM placement_janitor_archive r"
    " JOIN pj_test_alloc e ON r.row_key = CAST(e.id AS CHAR)"
    " WHERE r.pass = 'orphaned_allocations'"
    " AND r.table_name = 'allocations' AND r.action = 'delete'"
    " AND JSON_LENGTH(r.row_data) = 7"
    " AND JSON_VALUE(r.row_data, '$.id') = e.id"
    " AND JSON_VALUE(r.row_data, '$.resource_provider_id')"
    " = e.resource_provider_id"
    " AND BINARY JSON_VALUE(r.row_data, '$.consumer_id')"
    " = BINARY e.consumer_id"
    " AND JSON_VALUE(r.row_data, '$.resource_class_id')"
    " = e.resource_class_id"
    " AND JSON_VALUE(r.row_data, '$.used') = e.used"
    " AND CAST(JSON_VALUE(r.row_data, '$.created_at') AS DATETIME)"
    " <=> e.created_at"
    " AND CAST(JSON_VALUE(r.row_data, '$.updated_at') AS DATETIME)"
    " <=> e.updated_at";
/* Likewise for the consumers deleted, from pj_test_consumer. */
static const char CONSUMERS_ARCHIVED_EXACTLY[] =
    "SELECT COUNT(*) FROM placement_janitor_archive r"
    " JOIN pj_test_consumer e ON r.row_key = CAST(e.id AS CHAR)"
    " WHERE r.pass = 'orphaned_allocations'"
    " AND r.table_name = 'consumers' AND r.action = 'delete'"
    " AND JSON_LENGTH(r.row_data) = 8"
    " AND JSON_VALUE(r.row_data, '$.uuid') = e.uuid"
    " AND JSON_VALUE(r.row_data, '$.project_id') = e.project_id"
    " AND JSON_VALUE(r.row_data, '$.user_id') = e.user_id"
    " AND JSON_VALUE(r.row_data, '$.generation') = e.generation"
    " AND JSON_VALUE(r.row_data, '$.consumer_type_id')"
    " <=> e.consumer_type_id"
    " AND CAST(JSON_VALUE(r.row_data, '$.created_at') AS DATETIME)"
    " <=> e.created_at"
    " AND CAST(JSON_VALUE(r.row_data, '$.updated_at') AS DATETIME)"
    " <=> e.updated_at";

static struct h_result
janitor(const char *config, const char *a1, const char *a2, const char *a3,
    const char *a4)
{
	const char *argv[] = { "--config", config, "--format", "json", "--pass",
		PASS, a1, a2, a3, a4, NULL };

	return h_run(argv, NULL);
}

static long long
count(const char *sql)
{
	return h_query_int(DB, sql);
}

static void
reset(void)
{
	h_reset_db(DB);
	h_sql_file(DB, "sql/archive.sql");
}

/* The fixture, with copies of the rows the repair must delete. */
static void
seed_fixture(void)
{
	reset();
	h_sql_file(DB, FIXTURE);
	h_sql(DB,
	    "CREATE TABLE pj_test_alloc AS SELECT * FROM allocations"
	    " WHERE resource_provider_id >= 90;"
	    "CREATE TABLE pj_test_consumer AS SELECT * FROM consumers"
	    " WHERE uuid IN ('only-orphans', 'case-only');");
}

static void
orphaned_allocations_repairs_only_damage(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	char *alloc_before, *alloc_after, *cons_before, *cons_after;
	char *prov_before, *prov_after;
	struct h_result r;

	(void)state;
	seed_fixture();
	alloc_before =
	    h_query(DB, ALLOCATIONS_DIGEST("resource_provider_id < 90"));
	cons_before =
	    h_query(DB, CONSUMERS_DIGEST("uuid IN ('healthy', 'empty-old')"));
	prov_before = h_query(DB, PROVIDERS_DIGEST);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	if (r.exit_code != 0)
		fail_msg("repair exited %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), ORPHANS);
	assert_int_equal(h_json_field(r.out, "repaired"), ORPHANS);
	assert_null(strstr(r.out, "incomplete_consumers"));
	h_result_free(&r);
	/* Exactly the orphans went; the healthy rows are as they were. */
	assert_int_equal(count(ORPHANS_LEFT), 0);
	alloc_after = h_query(DB, ALLOCATIONS_DIGEST("1 = 1"));
	assert_string_equal(alloc_before, alloc_after);
	/* No provider generation moved, no inventory touched. */
	prov_after = h_query(DB, PROVIDERS_DIGEST);
	assert_string_equal(prov_before, prov_after);
	/* Consumers that keep allocations: bumped once, updated_at set. */
	assert_int_equal(count("SELECT COUNT(*) FROM consumers WHERE"
	                       " (uuid = 'keeps' AND generation = 6 OR"
	                       " uuid = 'case-mixed' AND generation = 3)"
	                       " AND updated_at >= UTC_TIMESTAMP()"
	                       " - INTERVAL 5 MINUTE"),
	    2);
	/* Left with none: deleted (and no row made for 'ghost'). */
	assert_int_equal(count("SELECT COUNT(*) FROM consumers WHERE uuid IN"
	                       " ('only-orphans', 'case-only', 'ghost')"),
	    0);
	cons_after =
	    h_query(DB, CONSUMERS_DIGEST("uuid IN ('healthy', 'empty-old')"));
	assert_string_equal(cons_before, cons_after);
	assert_int_equal(count("SELECT COUNT(*) FROM consumers"), 4);
	/* Every deleted row archived once, whole. */
	assert_int_equal(count(ALLOCATIONS_ARCHIVED_EXACTLY), ORPHANS);
	assert_int_equal(count(CONSUMERS_ARCHIVED_EXACTLY), 2);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM placement_janitor_archive"),
	    ORPHANS + 2);
	free(alloc_before);
	free(alloc_after);
	free(cons_before);
	free(cons_after);
	free(prov_before);
	free(prov_after);
	free(cfg);
}

static void
orphaned_allocations_dry_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	before = h_checksum(DB);
	r = janitor(cfg, "check", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), ORPHANS);
	assert_int_equal(h_json_field(r.out, "remaining"), ORPHANS);
	h_result_free(&r);
	r = janitor(cfg, "--dry-run", "--batch-size", "2", "repair");
	assert_int_equal(r.exit_code, 1);
	assert_int_equal(h_json_field(r.out, "found"), ORPHANS);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

static void
orphaned_allocations_second_run_changes_nothing(void **state)
{
	char *cfg = h_config(DB, REPAIR_YAML);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	h_result_free(&r);
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(h_json_field(r.out, "found"), 0);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/* The default mode is report: found, never repaired. */
static void
orphaned_allocations_reports_by_default(void **state)
{
	char *cfg = h_config(DB, NULL);
	char *before, *after;
	struct h_result r;

	(void)state;
	seed_fixture();
	before = h_checksum(DB);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.out, "\"mode\":\"report\""));
	assert_int_equal(h_json_field(r.out, "found"), ORPHANS);
	assert_int_equal(h_json_field(r.out, "repaired"), 0);
	h_result_free(&r);
	after = h_checksum(DB);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(cfg);
}

/*
 * 40 consumers with a healthy allocation and 1-3 orphans, 20 with only
 * orphans, in batches of 3: a consumer's orphans often span batches. Each
 * batch that took some of a consumer's allocations bumped it once (or, the
 * last, deleted it): the batch is told by archived_at, one value per
 * archive statement.
 */
static void
orphaned_allocations_crosses_batches(void **state)
{
	/* Without adaptive pacing every batch has batch_size keys. */
	char *cfg = h_config(DB, "worker:\n  batch_target: 0\n" REPAIR_YAML);
	long long orphans;
	struct h_result r;

	(void)state;
	reset();
	h_sql(DB,
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1);"
	    "INSERT INTO consumers (id, uuid, project_id, user_id,"
	    " generation) SELECT seq, CONCAT(IF(seq <= 40, 'keep-', 'gone-'),"
	    " seq), 1, 1, 10 FROM seq_1_to_60;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1, uuid, 0, 1 FROM consumers"
	    " WHERE id <= 40;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 99, c.uuid, r.seq, 1"
	    " FROM consumers c JOIN seq_1_to_3 r ON r.seq <= 1 + c.id % 3"
	    " ORDER BY c.id, r.seq;"
	    "CREATE TABLE pj_test_gone AS SELECT * FROM consumers"
	    " WHERE id > 40;");
	orphans = count(ORPHANS_LEFT);
	r = janitor(cfg, "--batch-size", "3", "repair", NULL);
	if (r.exit_code != 0)
		fail_msg("exit %d: %s", r.exit_code, r.err);
	assert_int_equal(h_json_field(r.out, "found"), orphans);
	assert_int_equal(h_json_field(r.out, "repaired"), orphans);
	assert_int_equal(h_json_field(r.out, "batches"), (orphans + 2) / 3);
	h_result_free(&r);
	assert_int_equal(count(ORPHANS_LEFT), 0);
	assert_int_equal(count("SELECT COUNT(*) FROM allocations"), 40);
	/* Kept: generation 10 + the batches that took its orphans. */
	assert_int_equal(
	    count("SELECT COUNT(*) FROM consumers c WHERE"
	          " c.generation = 10 + (SELECT COUNT(DISTINCT"
	          " r.archived_at) FROM placement_janitor_archive r"
	          " WHERE r.table_name = 'allocations' AND"
	          " JSON_VALUE(r.row_data, '$.consumer_id')"
	          " = c.uuid)"),
	    40);
	/* Gone: archived with the generation it had at its last batch. */
	assert_int_equal(count("SELECT COUNT(*) FROM consumers"), 40);
	assert_int_equal(count("SELECT COUNT(*) FROM pj_test_gone g"
	                       " JOIN placement_janitor_archive r"
	                       " ON r.table_name = 'consumers'"
	                       " AND r.row_key = CAST(g.id AS CHAR)"
	                       " WHERE JSON_VALUE(r.row_data, '$.generation')"
	                       " = 9 + (SELECT COUNT(DISTINCT a.archived_at)"
	                       " FROM placement_janitor_archive a"
	                       " WHERE a.table_name = 'allocations' AND"
	                       " JSON_VALUE(a.row_data, '$.consumer_id')"
	                       " = g.uuid)"),
	    20);
	free(cfg);
}

/*
 * A Placement writer read the consumer's generation before the worker ran:
 * its compare-and-swap afterwards matches no row (409 for the client), so
 * the worker's change is never overwritten.
 */
static void
orphaned_allocations_writer_sees_conflict(void **state)
{
	static const char SQL_GET[] =
	    "SELECT id, generation FROM consumers WHERE uuid = 'keeps'";
	static const char SQL_DEL[] =
	    "DELETE FROM allocations WHERE consumer_id = 'keeps'";
	static const char SQL_ADD[] =
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, 'keeps', 0, 4)";
	static const char SQL_CAS[] =
	    "UPDATE consumers SET generation = ? + 1 WHERE id = ?"
	    " AND generation = ?";
	char *cfg = h_config(DB, REPAIR_YAML);
	struct pj_db *db;
	struct pj_stmt *get = NULL;
	struct pj_param cas[3];
	struct pj_error err;
	struct h_result r;
	uint64_t changed = 99;
	bool row = false;
	int rc;

	(void)state;
	memset(&err, 0, sizeof(err));
	seed_fixture();
	db = h_connect(DB);
	if (pj_db_begin(db, &err) || pj_stmt_prepare(db, SQL_GET, &get, &err) ||
	    pj_stmt_exec(get, NULL, 0, &err) ||
	    pj_stmt_fetch(get, &row, &err) || !row || pj_stmt_int(get, 1) != 5)
		fail_msg("writer read: %s", err.msg);
	r = janitor(cfg, "repair", NULL, NULL, NULL);
	cas[0] = cas[2] = PJ_INT(pj_stmt_int(get, 1));
	cas[1] = PJ_INT(pj_stmt_int(get, 0));
	rc = pj_db_exec(db, SQL_DEL, NULL, 0, NULL, &err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_ADD, NULL, 0, NULL, &err);
	if (rc == PJ_OK)
		rc = pj_db_exec(db, SQL_CAS, cas, 3, &changed, &err);
	/* End the transaction before any assertion can leave it open. */
	pj_db_rollback(db);
	pj_stmt_close(get);
	pj_db_close(db);
	if (r.exit_code != 0)
		fail_msg("worker exited %d: %s", r.exit_code, r.err);
	h_result_free(&r);
	if (rc)
		fail_msg("writer write: %s", err.msg);
	assert_int_equal(changed, 0);
	assert_int_equal(count("SELECT generation FROM consumers"
	                       " WHERE uuid = 'keeps'"),
	    6);
	free(cfg);
}

#define POOL 400   /* 'w-': a healthy allocation and an orphan each */
#define LONELY 100 /* 'o-': only an orphan each */
#define BULK 1000  /* 'bulk-': only an orphan each, never written */

/* What one writer did. */
struct tally {
	long committed, conflicts, lock_waits, errors;
	long missing; /* consumers found gone while they held allocations */
	long gone;    /* 'o-' consumers found gone, never written by us */
	char error[160];
};

struct writer {
	struct pj_db *db;
	struct pj_stmt *get, *del, *add, *cas, *log;
	uint64_t rng;
	bool wrote[LONELY]; /* 'o-' consumers this writer committed */
};

static const char SQL_W_GET[] =
    "SELECT id, generation FROM consumers WHERE uuid = ?";
static const char SQL_W_DEL[] = "DELETE FROM allocations WHERE consumer_id = ?";
static const char SQL_W_ADD[] =
    "INSERT INTO allocations (resource_provider_id, consumer_id,"
    " resource_class_id, used, created_at) VALUES"
    " (1, ?, 0, ?, UTC_TIMESTAMP()), (2, ?, 1, ?, UTC_TIMESTAMP())";
static const char SQL_W_CAS[] =
    "UPDATE consumers SET generation = ? + 1, updated_at = UTC_TIMESTAMP()"
    " WHERE id = ? AND generation = ?";
static const char SQL_W_LOG[] =
    "INSERT INTO pj_test_writer_log (consumer) VALUES (?)";

static int
writer_open(struct writer *w, struct pj_error *err)
{
	struct pj_db_config dbc;
	int rc;

	memset(&dbc, 0, sizeof(dbc));
	pj_strlcpy(dbc.socket, getenv("PJ_TEST_SOCKET"), sizeof(dbc.socket));
	pj_strlcpy(dbc.name, DB, sizeof(dbc.name));
	pj_strlcpy(dbc.user, "root", sizeof(dbc.user));
	dbc.connect_timeout_ms = 10000;
	dbc.read_timeout_ms = dbc.write_timeout_ms = 60000;
	dbc.lock_wait_timeout_ms = 5000;
	rc = pj_db_connect(&dbc, &w->db, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(w->db, SQL_W_GET, &w->get, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(w->db, SQL_W_DEL, &w->del, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(w->db, SQL_W_ADD, &w->add, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(w->db, SQL_W_CAS, &w->cas, err);
	if (rc == PJ_OK)
		rc = pj_stmt_prepare(w->db, SQL_W_LOG, &w->log, err);
	return rc;
}

/* PUT /allocations/{consumer} as Placement does it, in one transaction:
 * read the generation, replace the allocations, compare-and-swap. */
static int
writer_put(struct writer *w, const char *uuid, int lonely, struct tally *t,
    struct pj_error *err)
{
	struct pj_param id = PJ_TEXT(uuid);
	int64_t used = 1 + (int64_t)(w->rng % 7);
	struct pj_param add[4] = { id, PJ_INT(used), id, PJ_INT(used * 256) };
	struct pj_param cas[3];
	bool row = false;
	int rc;

	rc = pj_db_begin(w->db, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(w->get, &id, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(w->get, &row, err);
	if (rc == PJ_OK && !row) {
		/* A 'w-' consumer always holds allocations; an 'o-' one
		 * does once a writer wrote it. */
		if (lonely < 0 || w->wrote[lonely])
			t->missing++;
		else
			t->gone++;
		pj_db_rollback(w->db);
		return PJ_OK;
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(w->del, &id, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(w->add, add, 4, err);
	cas[0] = cas[2] = PJ_INT(pj_stmt_int(w->get, 1));
	cas[1] = PJ_INT(pj_stmt_int(w->get, 0));
	if (rc == PJ_OK)
		rc = pj_stmt_exec(w->cas, cas, 3, err);
	if (rc == PJ_OK && pj_stmt_affected(w->cas) != 1) {
		t->conflicts++;
		pj_db_rollback(w->db);
		return PJ_OK;
	}
	if (rc == PJ_OK)
		rc = pj_stmt_exec(w->log, &id, 1, err);
	if (rc == PJ_OK)
		rc = pj_db_commit(w->db, err);
	if (rc == PJ_OK) {
		t->committed++;
		if (lonely >= 0)
			w->wrote[lonely] = true;
	}
	if (rc)
		pj_db_rollback(w->db);
	if (rc == PJ_ERETRY) {
		t->lock_waits++;
		pj_error_clear(err);
		rc = PJ_OK;
	}
	return rc;
}

/* A writer process: PUTs on random 'w-' and 'o-' consumers until stop_fd
 * closes, then sends its tally on out_fd. */
static void
writer_main(int stop_fd, int out_fd, uint64_t seed)
{
	struct pollfd stop = { stop_fd, POLLIN, 0 };
	struct writer w;
	struct tally t;
	struct pj_error err;
	char uuid[32];
	int64_t deadline = pj_time_mono_ms() + 30000;
	int rc, pick, lonely;

	memset(&w, 0, sizeof(w));
	memset(&t, 0, sizeof(t));
	memset(&err, 0, sizeof(err));
	w.rng = seed;
	rc = writer_open(&w, &err);
	while (rc == PJ_OK && poll(&stop, 1, 0) == 0 &&
	    pj_time_mono_ms() < deadline) {
		w.rng ^= w.rng << 13;
		w.rng ^= w.rng >> 7;
		w.rng ^= w.rng << 17;
		pick = (int)(w.rng % (POOL + LONELY));
		lonely = pick < POOL ? -1 : pick - POOL;
		if (lonely < 0)
			snprintf(uuid, sizeof(uuid), "w-%04d", pick + 1);
		else
			snprintf(uuid, sizeof(uuid), "o-%04d", lonely + 1);
		rc = writer_put(&w, uuid, lonely, &t, &err);
		pj_time_sleep_ms((int64_t)(w.rng % 4));
	}
	if (rc) {
		t.errors++;
		pj_strlcpy(t.error, err.msg, sizeof(t.error));
	}
	pj_stmt_close(w.get);
	pj_stmt_close(w.del);
	pj_stmt_close(w.add);
	pj_stmt_close(w.cas);
	pj_stmt_close(w.log);
	pj_db_close(w.db);
	_exit(write(out_fd, &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 1);
}

/*
 * Two Placement writers PUT allocations for 400 consumers that start with a
 * healthy allocation and an orphan, and 100 that start with an orphan only,
 * while the worker repairs those and 1000 other orphans (whose consumers it
 * deletes). Nobody loses an update: each consumer's generation is its
 * start, plus one per write committed, plus one if the worker took its
 * orphan; no consumer is deleted while it holds allocations.
 */
static void
orphaned_allocations_with_placement_writers(void **state)
{
	char *cfg = h_config(
	    DB, "worker:\n  retries: 50\n  retry_backoff: 5ms\n" REPAIR_YAML);
	struct tally t[2];
	pid_t pid[2];
	int stop[2], out[2][2], status;
	struct h_result r;
	long long took, written;
	bool overlapped;
	size_t i;

	(void)state;
	reset();
	h_sql(DB,
	    "CREATE TABLE pj_test_writer_log (id INT AUTO_INCREMENT"
	    " PRIMARY KEY, consumer VARCHAR(36) NOT NULL) ENGINE=InnoDB;"
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (1, 'rp-1', 'cn1', 1, 1),"
	    " (2, 'rp-2', 'cn2', 1, 2);"
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('w-', LPAD(seq, 4, '0')), 1, 1, 3"
	    " FROM seq_1_to_400;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 1, uuid, 0, 1 FROM consumers;"
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('o-', LPAD(seq, 4, '0')), 1, 1, 3"
	    " FROM seq_1_to_100;"
	    /* The first 1000 orphans alternate between bulk ones and those
	     * of 'w-' (then 'o-') consumers; the last 500 are bulk ones. */
	    "INSERT INTO consumers (uuid, project_id, user_id, generation)"
	    " SELECT CONCAT('bulk-', seq), 1, 1, 1 FROM seq_1_to_1500"
	    " WHERE seq % 2 = 0 OR seq > 1000;"
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) SELECT 99, CASE"
	    " WHEN seq % 2 = 0 OR seq > 1000 THEN CONCAT('bulk-', seq)"
	    " WHEN seq <= 800 THEN CONCAT('w-', LPAD((seq + 1) DIV 2, 4, '0'))"
	    " ELSE CONCAT('o-', LPAD((seq - 799) DIV 2, 4, '0')) END,"
	    " 0, 1 FROM seq_1_to_1500 ORDER BY seq;");
	assert_int_equal(pipe(stop), 0);
	fflush(NULL);
	for (i = 0; i < 2; i++) {
		assert_int_equal(pipe(out[i]), 0);
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			close(stop[1]);
			close(out[i][0]);
			writer_main(
			    stop[0], out[i][1], 0x9E3779B97F4A7C15ULL + i);
		}
		close(out[i][1]);
	}
	close(stop[0]);
	pj_time_sleep_ms(50);
	r = janitor(cfg, "--batch-size", "10", "repair", NULL);
	overlapped = waitpid(pid[0], &status, WNOHANG) == 0 &&
	    waitpid(pid[1], &status, WNOHANG) == 0;
	close(stop[1]);
	for (i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		if (read(out[i][0], &t[i], sizeof(t[i])) != sizeof(t[i]))
			t[i].errors = 1;
		close(out[i][0]);
		while (waitpid(pid[i], &status, 0) < 0 && errno == EINTR)
			;
		print_message(
		    "writer %zu: committed=%ld conflicts=%ld lock_waits=%ld"
		    " missing=%ld gone=%ld errors=%ld %s\n",
		    i, t[i].committed, t[i].conflicts, t[i].lock_waits,
		    t[i].missing, t[i].gone, t[i].errors, t[i].error);
	}
	print_message(
	    "worker: exit %d repaired=%lld batches=%lld"
	    " retries=%lld conflicts=%lld failed=%lld\n",
	    r.exit_code, h_json_field(r.out, "repaired"),
	    h_json_field(r.out, "batches"), h_json_field(r.out, "retries"),
	    h_json_field(r.out, "conflicts"), h_json_field(r.out, "failed"));
	if (r.exit_code != 0)
		fail_msg("worker exited %d: %s", r.exit_code, r.err);
	assert_true(overlapped);
	assert_int_equal(h_json_field(r.out, "failed"), 0);
	h_result_free(&r);
	for (i = 0; i < 2; i++) {
		assert_int_equal(t[i].errors, 0);
		assert_int_equal(t[i].missing, 0);
		assert_true(t[i].committed > 0);
	}
	/* Writers alone do not deadlock here; a deadlock has meant the
	 * worker locking an orphan's row before its consumer's index
	 * entries, the reverse of Placement's DELETE. */
	assert_int_equal(t[0].lock_waits + t[1].lock_waits, 0);
	/* The worker took some pool consumers' orphans (and bumped them)
	 * before the writers replaced their allocations. */
	took = count(
	    "SELECT COUNT(*) FROM placement_janitor_archive"
	    " WHERE table_name = 'allocations'"
	    " AND row_data LIKE '%\"w-%'");
	print_message("worker took %lld of %d pool orphans\n", took, POOL);
	assert_true(took > 0);
	assert_int_equal(count(ORPHANS_LEFT), 0);
	/* Every written consumer is there; every allocation has its row. */
	assert_int_equal(count("SELECT COUNT(*) FROM pj_test_writer_log l"
	                       " LEFT JOIN consumers c ON c.uuid = l.consumer"
	                       " WHERE c.id IS NULL"),
	    0);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM allocations a"
	          " LEFT JOIN consumers c ON c.uuid = a.consumer_id"
	          " WHERE c.id IS NULL"),
	    0);
	/* Left: the 'w-' ones and the 'o-' ones written before the worker
	 * took their orphan; the rest were deleted, and archived. */
	written = count(
	    "SELECT COUNT(DISTINCT consumer)"
	    " FROM pj_test_writer_log WHERE consumer LIKE 'o-%'");
	print_message("'o-' consumers written: %lld of %d\n", written, LONELY);
	assert_int_equal(
	    count("SELECT COUNT(*) FROM consumers"), POOL + written);
	assert_int_equal(count("SELECT COUNT(*) FROM placement_janitor_archive"
	                       " WHERE table_name = 'consumers'"),
	    BULK + LONELY - written);
	/* No lost update, none doubled. */
	assert_int_equal(
	    count("SELECT COUNT(*) FROM consumers c WHERE"
	          " c.generation <> 3"
	          " + (SELECT COUNT(*) FROM pj_test_writer_log l"
	          " WHERE l.consumer = c.uuid)"
	          " + (SELECT COUNT(*) FROM placement_janitor_archive r"
	          " WHERE r.table_name = 'allocations' AND"
	          " JSON_VALUE(r.row_data, '$.consumer_id')"
	          " = c.uuid)"),
	    0);
	/* Each consumer holds what its last writer (or the seed) gave. */
	assert_int_equal(count("SELECT COUNT(*) FROM consumers c WHERE"
	                       " (SELECT COUNT(*) FROM allocations a"
	                       " WHERE a.consumer_id = c.uuid) <> IF(EXISTS"
	                       " (SELECT 1 FROM pj_test_writer_log l"
	                       " WHERE l.consumer = c.uuid), 2, 1)"),
	    0);
	free(cfg);
}

/*
 * One batch by hand, as the engine runs it, after the data moved since the
 * find: provider 91 came back (allocation 6 is healthy again: kept, and
 * its consumer, which now keeps it, bumped instead of deleted) and
 * allocation 10 went away (its consumer lost nothing here: untouched).
 * Until COMMIT no one can add or remove an allocation of a consumer
 * concerned, bring back a provider under an orphan, create the missing
 * consumer of one or write a consumer settled; a healthy allocation's
 * provider stays free.
 */
static void
orphaned_allocations_batch_locks_and_rechecks(void **state)
{
	static const char SQL_ADD[] =
	    "INSERT INTO allocations (resource_provider_id, consumer_id,"
	    " resource_class_id, used) VALUES (1, ?, 0, 1)";
	static const char SQL_DEL[] = "DELETE FROM allocations WHERE id = ?";
	static const char SQL_PROVIDER[] =
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (?, UUID(), UUID(), 0, ?)";
	static const char SQL_BUMP_PROVIDER[] =
	    "UPDATE resource_providers SET generation = generation + 1"
	    " WHERE id = ?";
	static const char SQL_BUMP_CONSUMER[] =
	    "UPDATE consumers SET generation = generation + 1 WHERE uuid = ?";
	static const char SQL_CONSUMER[] =
	    "INSERT INTO consumers (uuid, project_id, user_id) VALUES (?, 1, 1)";
	const struct pj_pass *pass = &pj_pass_orphaned_allocations;
	struct pj_param p90[2] = { PJ_INT(90), PJ_INT(90) };
	struct pj_param keeps = PJ_TEXT("keeps"), ghost = PJ_TEXT("ghost");
	struct pj_param mixed = PJ_TEXT("case-mixed"), id8 = PJ_INT(8);
	struct pj_param rp2 = PJ_INT(2);
	struct pj_key keys[8];
	struct pj_batch b = { keys, 0, 8 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	struct pj_db *other;
	size_t repaired = 0;

	(void)state;
	seed_fixture();
	h_pass_ctx(&ctx, &cfg, DB, true);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(b.n, ORPHANS);
	h_sql(DB,
	    "INSERT INTO resource_providers (id, uuid, name, generation,"
	    " root_provider_id) VALUES (91, 'rp-91', 'cn91', 0, 91);"
	    "DELETE FROM allocations WHERE id = 10");

	other = h_connect_waiting(DB, 1000);
	assert_int_equal(pj_db_begin(ctx.db, &err), PJ_OK);
	assert_int_equal(pass->repair_batch(&ctx, &b, &repaired, &err), PJ_OK);
	assert_int_equal(repaired, 5);
	assert_int_equal(h_try_exec(other, SQL_ADD, &keeps, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_ADD, &ghost, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_DEL, &id8, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_PROVIDER, p90, 2), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_CONSUMER, &ghost, 1), PJ_ERETRY);
	assert_int_equal(
	    h_try_exec(other, SQL_BUMP_CONSUMER, &mixed, 1), PJ_ERETRY);
	assert_int_equal(h_try_exec(other, SQL_BUMP_PROVIDER, &rp2, 1), PJ_OK);
	assert_int_equal(pj_db_commit(ctx.db, &err), PJ_OK);

	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(id ORDER BY id) FROM allocations",
	    "1,3,5,6,8,12", "allocations left");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(uuid, ':', generation ORDER BY id)"
	    " FROM consumers",
	    "keeps:6,only-orphans:9,case-mixed:3,case-only:4,healthy:7,"
	    "empty-old:1",
	    "consumers");
	h_expect_query(DB,
	    "SELECT GROUP_CONCAT(table_name, ':', row_key ORDER BY id)"
	    " FROM placement_janitor_archive",
	    "allocations:2,allocations:4,allocations:7,allocations:9,"
	    "allocations:11",
	    "archive");
	assert_int_equal(h_try_exec(other, SQL_ADD, &keeps, 1), PJ_OK);
	pj_db_close(other);
	pj_db_close(ctx.db);
}

/*
 * A consumer's generation that moves between the read under lock and the
 * compare-and-swap (here a trigger on the orphans' delete: no writer can
 * get through the lock) makes the batch a conflict, never a blind write.
 */
static void
orphaned_allocations_batch_cas_miss_conflicts(void **state)
{
	const struct pj_pass *pass = &pj_pass_orphaned_allocations;
	struct pj_key keys[8];
	struct pj_batch b = { keys, 0, 8 };
	struct pj_error err = { 0 };
	struct pj_config cfg;
	struct pj_ctx ctx;
	size_t repaired = 0;

	(void)state;
	seed_fixture();
	h_sql(DB,
	    "CREATE TRIGGER pj_test_move AFTER DELETE ON allocations"
	    " FOR EACH ROW UPDATE consumers SET generation = generation + 10"
	    " WHERE uuid = OLD.consumer_id");
	h_pass_ctx(&ctx, &cfg, DB, false);
	assert_int_equal(pass->find_batch(&ctx, NULL, &b, &err), PJ_OK);
	assert_int_equal(pj_db_begin(ctx.db, &err), PJ_OK);
	assert_int_equal(
	    pass->repair_batch(&ctx, &b, &repaired, &err), PJ_ECONFLICT);
	pj_db_rollback(ctx.db);
	pj_db_close(ctx.db);
	assert_int_equal(count(ORPHANS_LEFT), ORPHANS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orphaned_allocations_repairs_only_damage),
		cmocka_unit_test(orphaned_allocations_dry_run_changes_nothing),
		cmocka_unit_test(
		    orphaned_allocations_second_run_changes_nothing),
		cmocka_unit_test(orphaned_allocations_reports_by_default),
		cmocka_unit_test(orphaned_allocations_crosses_batches),
		cmocka_unit_test(orphaned_allocations_writer_sees_conflict),
		cmocka_unit_test(orphaned_allocations_batch_locks_and_rechecks),
		cmocka_unit_test(orphaned_allocations_batch_cas_miss_conflicts),
		cmocka_unit_test(orphaned_allocations_with_placement_writers),
	};
	int failed;

	h_require_sandbox();
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	h_cleanup();
	return failed;
}
