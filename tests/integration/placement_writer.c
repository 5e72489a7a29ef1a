/*
 * placement_writer: Placement's own allocation write, in a loop, to run
 * next to the worker (tests/integration/test_concurrency.c and
 * tests/bench/run.sh). Each operation picks a consumer id from a pool and,
 * in one transaction, ensures its consumers row (creating the project and
 * user rows it needs), replaces its allocations with two new rows and bumps
 * its generation by compare-and-swap, as PUT /allocations/{consumer} does.
 * Deadlocks, lock wait timeouts, duplicate keys, generation mismatches and
 * (on Galera) certification failures are conflicts: the transaction is rolled
 * back and redone. Anything else is an error. Prints one line of key=value
 * figures; exit 0 unless an error happened (1) or the usage was wrong (2).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

/* MySQL/MariaDB error numbers the writer tells apart. */
#define ER_DUP_ENTRY_NUMBER 1062
#define ER_LOCK_WAIT_TIMEOUT_NUMBER 1205
#define ER_LOCK_DEADLOCK_NUMBER 1213

#define MAX_CLIENTS 16
#define ID_MAX 256

static const char SQL_FIRST_PROVIDER[] =
    "SELECT MIN(id) FROM resource_providers";
/* A plain read from the transaction's snapshot, as Placement's
 * Consumer.get_by_uuid: a row made by someone else since is a conflict. */
static const char SQL_CONSUMER_GET[] =
    "SELECT id, generation FROM consumers WHERE uuid = ?";
static const char SQL_CONSUMER_ADD[] =
    "INSERT INTO consumers"
    " (uuid, project_id, user_id, generation, created_at)"
    " VALUES (?, ?, ?, 0, UTC_TIMESTAMP())";
static const char SQL_PROJECT_GET[] =
    "SELECT id FROM projects WHERE external_id = ?";
static const char SQL_PROJECT_ADD[] =
    "INSERT INTO projects (external_id, created_at)"
    " VALUES (?, UTC_TIMESTAMP())";
static const char SQL_USER_GET[] = "SELECT id FROM users WHERE external_id = ?";
static const char SQL_USER_ADD[] =
    "INSERT INTO users (external_id, created_at) VALUES (?, UTC_TIMESTAMP())";
static const char SQL_ALLOC_DELETE[] =
    "DELETE FROM allocations WHERE consumer_id = ?";
static const char SQL_ALLOC_ADD[] =
    "INSERT INTO allocations"
    " (resource_provider_id, consumer_id, resource_class_id, used,"
    " created_at) VALUES"
    " (?, ?, 0, ?, UTC_TIMESTAMP()), (?, ?, 1, ?, UTC_TIMESTAMP())";
static const char SQL_GENERATION[] =
    "UPDATE consumers SET generation = generation + 1"
    " WHERE id = ? AND generation = ?";

enum conflict {
	CONFLICT_DUP_CONSUMER, /* someone made the consumer meanwhile */
	CONFLICT_DUP_OWNER,    /* ... or its project or user row */
	CONFLICT_GENERATION,   /* the generation moved under us */
	CONFLICT_DEADLOCK,
	CONFLICT_LOCK_WAIT,
	CONFLICT_CERTIFICATION, /* Galera: another node's write won */
	CONFLICT_COUNT
};

static const char *const conflict_names[CONFLICT_COUNT] = {
	[CONFLICT_DUP_CONSUMER] = "conflict_dup_consumer",
	[CONFLICT_DUP_OWNER] = "conflict_dup_owner",
	[CONFLICT_GENERATION] = "conflict_generation",
	[CONFLICT_DEADLOCK] = "conflict_deadlock",
	[CONFLICT_LOCK_WAIT] = "conflict_lock_wait",
	[CONFLICT_CERTIFICATION] = "conflict_certification",
};

struct options {
	struct pj_db_config db;
	double seconds;
	uint64_t iterations; /* per client */
	uint64_t seed;
	unsigned int clients;
	unsigned int retries; /* redos of one operation before giving up */
	int64_t provider_id;  /* 0: the lowest provider id */
	const char *prefix;
	size_t pool_size;
	const char *pool_file;
	const char *owner_id;  /* external id of the project and user */
	const char *stop_file; /* stop once this path exists */
};

/* What one client did; sent to the parent through a pipe. */
struct tally {
	uint64_t committed, attempts, created, gave_up, errors;
	uint64_t conflicts[CONFLICT_COUNT];
	uint64_t n_latencies;
};

struct pool {
	char (*ids)[ID_MAX];
	size_t n, cap;
};

enum stmt_index {
	ST_CONSUMER_GET,
	ST_CONSUMER_ADD,
	ST_PROJECT_GET,
	ST_PROJECT_ADD,
	ST_USER_GET,
	ST_USER_ADD,
	ST_ALLOC_DELETE,
	ST_ALLOC_ADD,
	ST_GENERATION,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_CONSUMER_GET] = SQL_CONSUMER_GET,
	[ST_CONSUMER_ADD] = SQL_CONSUMER_ADD,
	[ST_PROJECT_GET] = SQL_PROJECT_GET,
	[ST_PROJECT_ADD] = SQL_PROJECT_ADD,
	[ST_USER_GET] = SQL_USER_GET,
	[ST_USER_ADD] = SQL_USER_ADD,
	[ST_ALLOC_DELETE] = SQL_ALLOC_DELETE,
	[ST_ALLOC_ADD] = SQL_ALLOC_ADD,
	[ST_GENERATION] = SQL_GENERATION,
};

/* One client: its connection, statements and random state. */
struct client {
	const struct options *opt;
	const struct pool *pool;
	struct pj_db *db;
	struct pj_stmt *st[ST_COUNT];
	int64_t provider_id;
	uint64_t rng;
	bool creating; /* inside the INSERT of a consumer */
	bool made;     /* this attempt made its consumer */
	struct tally tally;
	uint32_t *lat_us;
	size_t lat_cap;
};

static uint64_t
next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

static int
pool_add(struct pool *p, const char *id, struct pj_error *err)
{
	if (strlen(id) >= ID_MAX)
		return pj_error_set(
		    err, PJ_EINVAL, "pool id too long: %.40s", id);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		char(*ids)[ID_MAX] = realloc(p->ids, cap * sizeof(*ids));

		if (ids == NULL)
			return pj_error_set(err, PJ_ENOMEM, "pool of %zu", cap);
		p->ids = ids;
		p->cap = cap;
	}
	pj_strlcpy(p->ids[p->n++], id, ID_MAX);
	return PJ_OK;
}

/* prefix + 8 digits for 1..pool_size, then every line of pool_file. */
static int
pool_load(const struct options *opt, struct pool *p, struct pj_error *err)
{
	char line[ID_MAX + 2];
	FILE *f = NULL;
	size_t i;
	int rc = PJ_OK;

	for (i = 1; rc == PJ_OK && opt->prefix != NULL && i <= opt->pool_size;
	     i++) {
		snprintf(line, sizeof(line), "%s%08zu", opt->prefix, i);
		rc = pool_add(p, line, err);
	}
	if (rc || opt->pool_file == NULL)
		goto out;
	f = fopen(opt->pool_file, "r");
	if (f == NULL) {
		rc = pj_error_set(
		    err, PJ_EIO, "%s: %s", opt->pool_file, strerror(errno));
		goto out;
	}
	while (rc == PJ_OK && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		rc = pool_add(p, line, err);
	}
out:
	if (f != NULL)
		fclose(f);
	if (rc == PJ_OK && p->n == 0)
		rc = pj_error_set(err, PJ_EINVAL,
		    "empty pool: give --prefix and --pool-size or --pool-file");
	return rc;
}

/* The id of the owner row (project or user) named opt->owner_id. */
static int
ensure_owner(struct client *c, enum stmt_index get, enum stmt_index add,
    int64_t *id, struct pj_error *err)
{
	struct pj_param p = PJ_TEXT(c->opt->owner_id);
	bool row = false;
	int rc;

	rc = pj_stmt_exec(c->st[get], &p, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(c->st[get], &row, err);
	if (rc == PJ_OK && !row) {
		rc = pj_stmt_exec(c->st[add], &p, 1, err);
		if (rc == PJ_OK)
			rc = pj_stmt_exec(c->st[get], &p, 1, err);
		if (rc == PJ_OK)
			rc = pj_stmt_fetch(c->st[get], &row, err);
	}
	if (rc == PJ_OK && !row)
		rc = pj_error_set(err, PJ_EDB, "owner row not visible");
	if (rc == PJ_OK)
		*id = pj_stmt_int(c->st[get], 0);
	return rc;
}

/* The consumer's id and generation; made with generation 0 if missing. */
static int
ensure_consumer(struct client *c, const char *id, int64_t *consumer_id,
    int64_t *generation, struct pj_error *err)
{
	struct pj_param p = PJ_TEXT(id);
	struct pj_param add[3];
	int64_t project_id = 0, user_id = 0;
	bool row = false;
	int rc;

	rc = pj_stmt_exec(c->st[ST_CONSUMER_GET], &p, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(c->st[ST_CONSUMER_GET], &row, err);
	if (rc || row)
		goto out;
	rc = ensure_owner(c, ST_PROJECT_GET, ST_PROJECT_ADD, &project_id, err);
	if (rc == PJ_OK)
		rc = ensure_owner(c, ST_USER_GET, ST_USER_ADD, &user_id, err);
	if (rc)
		goto out;
	add[0] = p;
	add[1] = PJ_INT(project_id);
	add[2] = PJ_INT(user_id);
	c->creating = true;
	rc = pj_stmt_exec(c->st[ST_CONSUMER_ADD], add, 3, err);
	if (rc)
		goto out;
	c->creating = false;
	c->made = true;
	rc = pj_stmt_exec(c->st[ST_CONSUMER_GET], &p, 1, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(c->st[ST_CONSUMER_GET], &row, err);
	if (rc == PJ_OK && !row)
		rc =
		    pj_error_set(err, PJ_EDB, "consumer %.64s not visible", id);
out:
	if (rc == PJ_OK) {
		*consumer_id = pj_stmt_int(c->st[ST_CONSUMER_GET], 0);
		*generation = pj_stmt_int(c->st[ST_CONSUMER_GET], 1);
	}
	return rc;
}

/* One attempt of the whole write, as one transaction. */
static int
write_once(struct client *c, const char *id, struct pj_error *err)
{
	struct pj_param del = PJ_TEXT(id);
	struct pj_param alloc[6];
	struct pj_param cas[2];
	int64_t consumer_id = 0, generation = 0;
	int64_t used = 1 + (int64_t)(next_random(&c->rng) % 8);
	int rc;

	c->creating = false;
	c->made = false;
	rc = pj_db_begin(c->db, err);
	if (rc == PJ_OK)
		rc = ensure_consumer(c, id, &consumer_id, &generation, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(c->st[ST_ALLOC_DELETE], &del, 1, err);
	alloc[0] = alloc[3] = PJ_INT(c->provider_id);
	alloc[1] = alloc[4] = del;
	alloc[2] = PJ_INT(used);
	alloc[5] = PJ_INT(used * 512);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(c->st[ST_ALLOC_ADD], alloc, 6, err);
	cas[0] = PJ_INT(consumer_id);
	cas[1] = PJ_INT(generation);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(c->st[ST_GENERATION], cas, 2, err);
	if (rc == PJ_OK && pj_stmt_affected(c->st[ST_GENERATION]) != 1)
		rc = pj_error_set(err, PJ_ECONFLICT,
		    "consumer %.64s: generation changed", id);
	if (rc == PJ_OK)
		rc = pj_db_commit(c->db, err);
	if (rc)
		pj_db_rollback(c->db);
	else if (c->made)
		c->tally.created++;
	return rc;
}

/* The conflict a failed attempt stands for, or -1 for an error. */
static int
classify(const struct client *c, int rc, const struct pj_error *err)
{
	if (rc == PJ_ECONFLICT)
		return CONFLICT_GENERATION;
	if (rc == PJ_ECERT)
		return CONFLICT_CERTIFICATION;
	if (rc == PJ_ERETRY)
		return err->db_errno == ER_LOCK_WAIT_TIMEOUT_NUMBER
		    ? CONFLICT_LOCK_WAIT
		    : CONFLICT_DEADLOCK;
	if (rc == PJ_EDB && err->db_errno == ER_DUP_ENTRY_NUMBER)
		return c->creating ? CONFLICT_DUP_CONSUMER : CONFLICT_DUP_OWNER;
	return -1;
}

static void
record_latency(struct client *c, int64_t us)
{
	size_t n = (size_t)c->tally.n_latencies;

	if (n == c->lat_cap) {
		size_t cap = c->lat_cap ? c->lat_cap * 2 : 4096;
		uint32_t *l = realloc(c->lat_us, cap * sizeof(*l));

		if (l == NULL)
			return; /* figures lose a sample, not the run */
		c->lat_us = l;
		c->lat_cap = cap;
	}
	c->lat_us[n] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	c->tally.n_latencies++;
}

/* One operation: attempts until a commit, an error or too many tries. */
static int
operate(struct client *c, const char *id, struct pj_error *err)
{
	int64_t t0 = pj_time_mono_us();
	unsigned int attempt;
	int rc = PJ_OK, kind;

	for (attempt = 0; attempt <= c->opt->retries; attempt++) {
		c->tally.attempts++;
		pj_error_clear(err);
		rc = write_once(c, id, err);
		if (rc == PJ_OK) {
			c->tally.committed++;
			record_latency(c, pj_time_mono_us() - t0);
			return PJ_OK;
		}
		kind = classify(c, rc, err);
		if (kind < 0)
			return rc;
		c->tally.conflicts[kind]++;
		/* A short random pause, so the two sides do not meet again. */
		pj_time_sleep_ms((int64_t)(next_random(&c->rng) % 3));
	}
	c->tally.gave_up++;
	pj_error_clear(err);
	return PJ_OK;
}

static void
client_close(struct client *c)
{
	size_t i;

	for (i = 0; i < ST_COUNT; i++) {
		pj_stmt_close(c->st[i]);
		c->st[i] = NULL;
	}
	pj_db_close(c->db);
	c->db = NULL;
}

static int
client_open(struct client *c, struct pj_error *err)
{
	struct pj_stmt *first = NULL;
	bool row = false;
	size_t i;
	int rc;

	rc = pj_db_connect(&c->opt->db, &c->db, err);
	for (i = 0; rc == PJ_OK && i < ST_COUNT; i++)
		rc = pj_stmt_prepare(c->db, stmt_sql[i], &c->st[i], err);
	c->provider_id = c->opt->provider_id;
	if (rc || c->provider_id > 0)
		goto out;
	rc = pj_stmt_prepare(c->db, SQL_FIRST_PROVIDER, &first, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(first, NULL, 0, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(first, &row, err);
	if (rc == PJ_OK && (!row || pj_stmt_is_null(first, 0)))
		rc = pj_error_set(err, PJ_EINVAL, "no resource provider");
	if (rc == PJ_OK)
		c->provider_id = pj_stmt_int(first, 0);
out:
	pj_stmt_close(first);
	return rc;
}

/* Operations until the deadline or the iteration limit, or an error. */
static void
client_run(struct client *c, unsigned int index, int64_t deadline_us)
{
	struct pj_error err;
	uint64_t i;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = client_open(c, &err);
	for (i = 0; rc == PJ_OK && i < c->opt->iterations; i++) {
		if (pj_time_mono_us() >= deadline_us)
			break;
		if (c->opt->stop_file != NULL &&
		    access(c->opt->stop_file, F_OK) == 0)
			break;
		rc = operate(
		    c, c->pool->ids[next_random(&c->rng) % c->pool->n], &err);
	}
	if (rc) {
		c->tally.errors++;
		fprintf(stderr,
		    "placement_writer: client %u: status=%s errno=%u %s\n",
		    index, pj_status_name(rc), err.db_errno, err.msg);
	}
	client_close(c);
}

static int
write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n > 0) {
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The child's whole life: run, then send its tally and latencies. */
static void
child_main(const struct options *opt, const struct pool *pool,
    unsigned int index, int64_t deadline_us, int fd)
{
	struct client c;
	int code;

	memset(&c, 0, sizeof(c));
	c.opt = opt;
	c.pool = pool;
	c.rng = (opt->seed + 1) * 0x9E3779B97F4A7C15ULL + index;
	if (c.rng == 0)
		c.rng = 1;
	client_run(&c, index, deadline_us);
	code = c.tally.errors > 0 ? 1 : 0;
	if (write_all(fd, &c.tally, sizeof(c.tally)) != 0 ||
	    write_all(fd, c.lat_us,
	        (size_t)c.tally.n_latencies * sizeof(*c.lat_us)) != 0)
		code = 1;
	free(c.lat_us);
	close(fd);
	_exit(code);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of n sorted values, in ms. */
static double
quantile_ms(const uint32_t *v, size_t n, double q)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

static void
print_summary(const struct options *opt, const struct tally *t, uint32_t *lat,
    double seconds)
{
	uint64_t conflicts = 0;
	size_t n = (size_t)t->n_latencies, i;

	qsort(lat, n, sizeof(*lat), cmp_u32);
	for (i = 0; i < CONFLICT_COUNT; i++)
		conflicts += t->conflicts[i];
	printf(
	    "placement_writer clients=%u seconds=%.3f committed=%llu"
	    " tps=%.1f lat_p50_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f"
	    " attempts=%llu created=%llu conflicts=%llu",
	    opt->clients, seconds, (unsigned long long)t->committed,
	    seconds > 0 ? (double)t->committed / seconds : 0.0,
	    quantile_ms(lat, n, 0.50), quantile_ms(lat, n, 0.99),
	    quantile_ms(lat, n, 1.0), (unsigned long long)t->attempts,
	    (unsigned long long)t->created, (unsigned long long)conflicts);
	for (i = 0; i < CONFLICT_COUNT; i++)
		printf(" %s=%llu", conflict_names[i],
		    (unsigned long long)t->conflicts[i]);
	printf(" gave_up=%llu errors=%llu\n", (unsigned long long)t->gave_up,
	    (unsigned long long)t->errors);
	fflush(stdout);
}

/* Adds one child's report to the totals; -1 if it sent none. */
static int
collect_child(int fd, struct tally *sum, uint32_t **lat, size_t *n_lat)
{
	struct tally t;
	uint32_t *grown;
	size_t i, n;

	if (read_all(fd, &t, sizeof(t)) != 0)
		return -1;
	n = (size_t)t.n_latencies;
	grown = realloc(*lat, (*n_lat + n + 1) * sizeof(**lat));
	if (grown == NULL)
		return -1;
	*lat = grown;
	if (n > 0 && read_all(fd, *lat + *n_lat, n * sizeof(**lat)) != 0)
		return -1;
	*n_lat += n;
	sum->committed += t.committed;
	sum->attempts += t.attempts;
	sum->created += t.created;
	sum->gave_up += t.gave_up;
	sum->errors += t.errors;
	sum->n_latencies += t.n_latencies;
	for (i = 0; i < CONFLICT_COUNT; i++)
		sum->conflicts[i] += t.conflicts[i];
	return 0;
}

/* Forks the clients, waits for all, prints the figures. Returns the
 * exit status: 0, or 1 after an error in any client. */
static int
run_clients(const struct options *opt, const struct pool *pool)
{
	int fds[MAX_CLIENTS];
	pid_t pids[MAX_CLIENTS];
	struct tally sum;
	uint32_t *lat = NULL;
	size_t n_lat = 0;
	int64_t t0 = pj_time_mono_us();
	int64_t deadline = t0 + (int64_t)(opt->seconds * 1e6);
	unsigned int i, started = 0;
	int status, code = 0, p[2];

	memset(&sum, 0, sizeof(sum));
	fflush(NULL);
	for (i = 0; i < opt->clients; i++) {
		if (pipe(p) != 0)
			break;
		pids[i] = fork();
		if (pids[i] == 0) {
			close(p[0]);
			child_main(opt, pool, i, deadline, p[1]);
		}
		close(p[1]);
		if (pids[i] < 0) {
			close(p[0]);
			break;
		}
		fds[i] = p[0];
		started++;
	}
	if (started < opt->clients) {
		fprintf(stderr,
		    "placement_writer: cannot start client %u: %s\n", started,
		    strerror(errno));
		sum.errors++;
	}
	for (i = 0; i < started; i++) {
		if (collect_child(fds[i], &sum, &lat, &n_lat) != 0) {
			fprintf(stderr,
			    "placement_writer: client %u sent no"
			    " report\n",
			    i);
			sum.errors++;
		}
		close(fds[i]);
		while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			code = 1;
	}
	print_summary(opt, &sum, lat, (double)(pj_time_mono_us() - t0) / 1e6);
	free(lat);
	return sum.errors > 0 ? 1 : code;
}

static void
usage(FILE *out)
{
	fputs(
	    "usage: placement_writer --socket PATH --database NAME\n"
	    "    [--user NAME] [--seconds S] [--iterations N] [--seed N]\n"
	    "    [--clients N] [--retries N] [--provider-id N]\n"
	    "    [--lock-wait-ms MS] [--owner-id EXTERNAL_ID]\n"
	    "    [--stop-file PATH]\n"
	    "    (--prefix P --pool-size N | --pool-file FILE)...\n"
	    "Pool: P followed by 8 digits, 1..N, and each line of FILE.\n"
	    "Stops after S seconds (default 10), N operations per client\n"
	    "(default 1000000), or once PATH exists.\n",
	    out);
}

static bool
parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	if (text[0] == '-')
		return false;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

enum option_id {
	OPT_SOCKET = 256,
	OPT_DATABASE,
	OPT_USER,
	OPT_SECONDS,
	OPT_ITERATIONS,
	OPT_SEED,
	OPT_CLIENTS,
	OPT_RETRIES,
	OPT_PROVIDER,
	OPT_LOCK_WAIT,
	OPT_OWNER,
	OPT_PREFIX,
	OPT_POOL_SIZE,
	OPT_POOL_FILE,
	OPT_STOP_FILE,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "database", required_argument, NULL, OPT_DATABASE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "iterations", required_argument, NULL, OPT_ITERATIONS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "clients", required_argument, NULL, OPT_CLIENTS },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "provider-id", required_argument, NULL, OPT_PROVIDER },
	{ "lock-wait-ms", required_argument, NULL, OPT_LOCK_WAIT },
	{ "owner-id", required_argument, NULL, OPT_OWNER },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "pool-size", required_argument, NULL, OPT_POOL_SIZE },
	{ "pool-file", required_argument, NULL, OPT_POOL_FILE },
	{ "stop-file", required_argument, NULL, OPT_STOP_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Seconds, fractions allowed: 2.5 */
static bool
parse_seconds(const char *text, double *out)
{
	char *end = NULL;
	double s;

	errno = 0;
	s = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(s >= 0) || s > 86400)
		return false;
	*out = s;
	return true;
}

static bool
parse_text(char *dst, size_t size, const char *text)
{
	return text[0] != '\0' && pj_strlcpy(dst, text, size) < size;
}

/* One option into opt; false if its value is bad. */
static bool
parse_one(struct options *opt, int id, const char *arg)
{
	uint64_t v = 0;

	switch (id) {
	case OPT_SOCKET:
		return parse_text(opt->db.socket, sizeof(opt->db.socket), arg);
	case OPT_DATABASE:
		return parse_text(opt->db.name, sizeof(opt->db.name), arg);
	case OPT_USER:
		return parse_text(opt->db.user, sizeof(opt->db.user), arg);
	case OPT_SECONDS:
		return parse_seconds(arg, &opt->seconds);
	case OPT_ITERATIONS:
		return parse_u64(arg, 1, UINT64_MAX, &opt->iterations);
	case OPT_SEED:
		return parse_u64(arg, 0, UINT64_MAX, &opt->seed);
	case OPT_CLIENTS:
		if (!parse_u64(arg, 1, MAX_CLIENTS, &v))
			return false;
		opt->clients = (unsigned int)v;
		return true;
	case OPT_RETRIES:
		if (!parse_u64(arg, 0, 1000, &v))
			return false;
		opt->retries = (unsigned int)v;
		return true;
	case OPT_PROVIDER:
		if (!parse_u64(arg, 1, INT32_MAX, &v))
			return false;
		opt->provider_id = (int64_t)v;
		return true;
	case OPT_LOCK_WAIT:
		if (!parse_u64(arg, 1000, 3600000, &v))
			return false;
		opt->db.lock_wait_timeout_ms = (int64_t)v;
		return true;
	case OPT_OWNER:
		opt->owner_id = arg;
		return arg[0] != '\0';
	case OPT_PREFIX:
		opt->prefix = arg;
		return true;
	case OPT_POOL_SIZE:
		if (!parse_u64(arg, 1, 10000000, &v))
			return false;
		opt->pool_size = (size_t)v;
		return true;
	case OPT_POOL_FILE:
		opt->pool_file = arg;
		return true;
	case OPT_STOP_FILE:
		opt->stop_file = arg;
		return true;
	default:
		return false;
	}
}

static int
parse_options(int argc, char **argv, struct options *opt)
{
	int id;

	memset(opt, 0, sizeof(*opt));
	pj_strlcpy(opt->db.user, "root", sizeof(opt->db.user));
	opt->db.connect_timeout_ms = 5000;
	opt->db.lock_wait_timeout_ms = 2000;
	opt->seconds = 10.0;
	opt->iterations = 1000000;
	opt->seed = 1;
	opt->clients = 1;
	opt->retries = 20;
	opt->owner_id = "00000000-0000-0000-0000-000000000000";
	while ((id = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		if (id == OPT_HELP) {
			usage(stdout);
			exit(0);
		}
		if (id == '?' || !parse_one(opt, id, optarg)) {
			if (id != '?')
				fprintf(stderr,
				    "placement_writer: bad value for --%s: "
				    "%s\n",
				    long_options[id - OPT_SOCKET].name, optarg);
			return -1;
		}
	}
	if (optind != argc || opt->db.socket[0] == '\0' ||
	    opt->db.name[0] == '\0') {
		fprintf(stderr,
		    "placement_writer: --socket and --database are"
		    " required; no operands\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options opt;
	struct pool pool = { 0 };
	struct pj_error err;
	int code;

	if (parse_options(argc, argv, &opt) != 0) {
		usage(stderr);
		return 2;
	}
	memset(&err, 0, sizeof(err));
	if (pool_load(&opt, &pool, &err) != PJ_OK) {
		fprintf(stderr, "placement_writer: %s\n", err.msg);
		free(pool.ids);
		return 2;
	}
	code = run_clients(&opt, &pool);
	free(pool.ids);
	return code;
}
