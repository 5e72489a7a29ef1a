/* Pausing repairs for replica lag and Galera flow control; Galera sync. */
#include "worker/throttle.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strings.h"
#include "common/time.h"

/* The pause loop sleeps at most this long between looks at the stop
 * flag and the deadlines, so SIGTERM ends a pause quickly. */
#define STEP_MS 200
/* A replica status check must not hold up the run (or a stop) for the
 * main connection's long timeouts: a hung replica counts as unknown. */
#define REPLICA_CONNECT_MS 2000
#define REPLICA_READ_MS 5000
/* ER_PARSE_ERROR: SHOW ALL SLAVES STATUS is MariaDB's own syntax. */
#define PARSE_ERROR 1064
/* MariaDB replicates from at most 64 primaries at once. */
#define MAX_CONNECTIONS 64
/* wsrep_local_state of a node that is synced with the cluster. */
#define WSREP_SYNCED 4

/* MariaDB: every replication connection (multi-source included). */
static const char SQL_ALL_REPLICAS[] = "SHOW ALL SLAVES STATUS";
/* MySQL (5.7 and 8.0): the default channel. */
static const char SQL_REPLICA[] = "SHOW SLAVE STATUS";
/* Our session's value: whether our writes are replicated by Galera. */
static const char SQL_WSREP_ON[] =
    "SHOW SESSION VARIABLES WHERE Variable_name = 'wsrep_on'";
static const char SQL_WSREP_STATUS[] =
    "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready',"
    " 'wsrep_local_state', 'wsrep_local_state_comment',"
    " 'wsrep_local_recv_queue', 'wsrep_flow_control_paused_ns',"
    " 'wsrep_flow_control_active')";

/* What the last check of a replica found, to warn once per change. */
enum replica_state {
	REPLICA_NEW,
	REPLICA_OK,
	REPLICA_LAGGING,
	REPLICA_STOPPED,
	REPLICA_NONE,
	REPLICA_ERROR
};

struct replica {
	char name[PJ_DB_TEXT_MAX + 16]; /* host:port, for logs */
	struct pj_db_addr addr;
	struct pj_db *db; /* NULL until connected, and after a failure */
	enum replica_state state;
};

/* The Galera status variables a check reads. */
struct wsrep {
	bool ready;
	int64_t state;
	char state_name[64];
	int64_t recv_queue;
	bool have_paused_ns;
	int64_t paused_ns; /* total time under flow control */
	bool fc_active;    /* Galera 4: flow control in force now */
};

struct pj_throttle {
	struct pj_db_config db_cfg; /* for replica connections; wiped */
	struct pj_replication_config rc;
	struct replica replica[PJ_CFG_MAX_REPLICAS];
	size_t n_replicas;
	bool node_known; /* pj_throttle_check_node ran on this connection */
	bool galera;
	int64_t next_check_ms; /* no check before, unless holding */
	bool have_fc_sample;   /* the flow control counter at the last check */
	int64_t fc_paused_ns, fc_sample_ms;
};

int
pj_throttle_open(
    const struct pj_config *cfg, struct pj_throttle **out, struct pj_error *err)
{
	struct pj_throttle *t;
	size_t i;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return pj_error_set(err, PJ_ENOMEM, "throttle: out of memory");
	t->db_cfg = cfg->db;
	t->rc = cfg->replication;
	t->n_replicas = cfg->replication.n_replicas;
	for (i = 0; i < t->n_replicas; i++) {
		struct replica *r = &t->replica[i];

		r->addr = cfg->replication.replica[i];
		/* From the config, not r->addr: GCC's -Wrestrict cannot tell
		 * two members of *t apart. */
		snprintf(r->name, sizeof(r->name), "%s:%lld",
		    cfg->replication.replica[i].host,
		    (long long)cfg->replication.replica[i].port);
	}
	*out = t;
	return PJ_OK;
}

void
pj_throttle_close(struct pj_throttle *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n_replicas; i++)
		pj_db_close(t->replica[i].db);
	/* The copied settings may hold an inline password. */
	pj_wipe(&t->db_cfg, sizeof(t->db_cfg));
	free(t);
}

static int
read_wsrep_on(struct pj_db *db, bool *on, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	bool row = false;
	int rc;

	rc = pj_stmt_prepare(db, SQL_WSREP_ON, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, NULL, 0, err);
	if (rc == PJ_OK)
		rc = pj_stmt_fetch(st, &row, err);
	/* No row: a server built without wsrep (MySQL). */
	if (rc == PJ_OK)
		*on = row && strcasecmp(pj_stmt_text(st, 1, NULL), "ON") == 0;
	pj_stmt_close(st);
	return rc;
}

static void
take_wsrep(struct wsrep *w, const char *name, const struct pj_stmt *st)
{
	const char *value = pj_stmt_text(st, 1, NULL);

	if (strcasecmp(name, "wsrep_ready") == 0) {
		w->ready = strcasecmp(value, "ON") == 0;
	} else if (strcasecmp(name, "wsrep_local_state") == 0) {
		w->state = pj_stmt_int(st, 1);
	} else if (strcasecmp(name, "wsrep_local_state_comment") == 0) {
		pj_strlcpy(w->state_name, value, sizeof(w->state_name));
	} else if (strcasecmp(name, "wsrep_local_recv_queue") == 0) {
		w->recv_queue = pj_stmt_int(st, 1);
	} else if (strcasecmp(name, "wsrep_flow_control_paused_ns") == 0) {
		w->paused_ns = pj_stmt_int(st, 1);
		w->have_paused_ns = true;
	} else if (strcasecmp(name, "wsrep_flow_control_active") == 0) {
		w->fc_active = strcasecmp(value, "true") == 0 ||
		    strcasecmp(value, "ON") == 0;
	}
}

static int
read_wsrep(struct pj_db *db, struct wsrep *w, struct pj_error *err)
{
	struct pj_stmt *st = NULL;
	bool row;
	int rc;

	memset(w, 0, sizeof(*w));
	w->state = -1;
	pj_strlcpy(w->state_name, "unknown", sizeof(w->state_name));
	rc = pj_stmt_prepare(db, SQL_WSREP_STATUS, &st, err);
	if (rc == PJ_OK)
		rc = pj_stmt_exec(st, NULL, 0, err);
	while (rc == PJ_OK) {
		rc = pj_stmt_fetch(st, &row, err);
		if (rc || !row)
			break;
		take_wsrep(w, pj_stmt_text(st, 0, NULL), st);
	}
	pj_stmt_close(st);
	return rc;
}

static bool
synced(const struct wsrep *w)
{
	return w->ready && w->state == WSREP_SYNCED;
}

/* A node that must not be written to fails like a lost connection. */
static int
not_synced(const struct wsrep *w, struct pj_error *err)
{
	return pj_error_set(err, PJ_ECONN,
	    "galera node not synced (wsrep_ready=%s "
	    "wsrep_local_state=%lld \"%s\"): refusing to write",
	    w->ready ? "ON" : "OFF", (long long)w->state, w->state_name);
}

int
pj_throttle_check_node(
    struct pj_throttle *t, struct pj_db *db, struct pj_error *err)
{
	struct wsrep w;
	int rc;

	t->node_known = false;
	t->have_fc_sample = false;
	t->next_check_ms = 0;
	rc = read_wsrep_on(db, &t->galera, err);
	if (rc)
		return rc;
	if (!t->galera) {
		t->node_known = true;
		pj_log_debug("galera_check", "wsrep_on=false");
		return PJ_OK;
	}
	rc = read_wsrep(db, &w, err);
	if (rc)
		return rc;
	if (!synced(&w))
		return not_synced(&w, err);
	t->node_known = true;
	pj_log_info("galera_node", "state=\"%s\" recv_queue=%lld", w.state_name,
	    (long long)w.recv_queue);
	return PJ_OK;
}

/* Flow control over the time since the last check, from the counter of
 * time paused (wsrep_flow_control_paused is an average since FLUSH
 * STATUS, useless for "now"), or Galera 4's flag of it being in force. */
static bool
flow_control_holds(struct pj_throttle *t, const struct wsrep *w, int64_t now_ms,
    char *why, size_t size)
{
	int64_t limit = t->rc.galera_max_flow_control_percent;
	bool hold = false;

	if (limit < 100 && w->fc_active) {
		snprintf(why, size, "galera=flow_control active=true");
		hold = true;
	} else if (limit < 100 && t->have_fc_sample && w->have_paused_ns &&
	    now_ms > t->fc_sample_ms && w->paused_ns >= t->fc_paused_ns) {
		double pct = (double)(w->paused_ns - t->fc_paused_ns) /
		    ((double)(now_ms - t->fc_sample_ms) * 1e4);

		if (pct > (double)limit) {
			snprintf(why, size,
			    "galera=flow_control paused_pct=%.0f "
			    "max_pct=%lld",
			    pct, (long long)limit);
			hold = true;
		}
	}
	t->have_fc_sample = w->have_paused_ns;
	t->fc_paused_ns = w->paused_ns;
	t->fc_sample_ms = now_ms;
	return hold;
}

static int
check_galera(struct pj_throttle *t, struct pj_db *db, bool *hold, char *why,
    size_t size, struct pj_error *err)
{
	struct wsrep w;
	char fc[128];
	bool fc_hold;
	int rc;

	rc = read_wsrep(db, &w, err);
	if (rc)
		return rc;
	pj_log_debug("galera_check",
	    "state=\"%s\" ready=%s recv_queue=%lld paused_ns=%lld "
	    "fc_active=%s",
	    w.state_name, w.ready ? "true" : "false", (long long)w.recv_queue,
	    (long long)w.paused_ns, w.fc_active ? "true" : "false");
	/* Desynced or a donor since the last check: as at connect, this
	 * node gets no write (reconnect, to the next of database.hosts). */
	if (!synced(&w)) {
		t->node_known = false;
		return not_synced(&w, err);
	}
	*hold = true;
	if (w.recv_queue > t->rc.galera_max_recv_queue)
		snprintf(why, size,
		    "galera=recv_queue recv_queue=%lld max=%lld",
		    (long long)w.recv_queue,
		    (long long)t->rc.galera_max_recv_queue);
	else
		*hold = false;
	/* Sampled at every check, so the next share covers one interval. */
	fc_hold = flow_control_holds(t, &w, pj_time_mono_ms(), fc, sizeof(fc));
	if (fc_hold && !*hold)
		pj_strlcpy(why, fc, size);
	*hold = *hold || fc_hold;
	return PJ_OK;
}

static int
replica_connect(
    const struct pj_throttle *t, struct replica *r, struct pj_error *err)
{
	struct pj_db_config cfg = t->db_cfg;
	int rc;

	pj_strlcpy(cfg.host, r->addr.host, sizeof(cfg.host));
	cfg.port = r->addr.port;
	cfg.n_hosts = 0; /* not database.hosts: this replica */
	cfg.socket[0] = '\0';
	/* No schema: a replica may name it differently, or not have it. */
	cfg.name[0] = '\0';
	if (cfg.connect_timeout_ms > REPLICA_CONNECT_MS)
		cfg.connect_timeout_ms = REPLICA_CONNECT_MS;
	if (cfg.read_timeout_ms > REPLICA_READ_MS)
		cfg.read_timeout_ms = REPLICA_READ_MS;
	if (cfg.write_timeout_ms > REPLICA_READ_MS)
		cfg.write_timeout_ms = REPLICA_READ_MS;
	rc = pj_db_connect(&cfg, &r->db, err);
	pj_wipe(&cfg, sizeof(cfg));
	return rc;
}

/* What the replica status says, over all its replication connections. */
struct lag {
	size_t rows;     /* replication connections */
	bool stopped;    /* one has no lag (NULL): it does not replicate */
	int64_t worst_s; /* the greatest lag of the others */
};

static int
read_lag(struct pj_db *db, struct lag *lag, struct pj_error *err)
{
	int64_t value[MAX_CONNECTIONS];
	bool null[MAX_CONNECTIONS];
	size_t n = 0, i;
	int rc;

	rc = pj_db_show_column(db, SQL_ALL_REPLICAS, "Seconds_Behind_Master",
	    value, null, MAX_CONNECTIONS, &n, err);
	if (rc == PJ_EDB && err->db_errno == PARSE_ERROR) {
		pj_error_clear(err);
		rc = pj_db_show_column(db, SQL_REPLICA, "Seconds_Behind_Master",
		    value, null, MAX_CONNECTIONS, &n, err);
	}
	if (rc)
		return rc;
	memset(lag, 0, sizeof(*lag));
	lag->rows = n;
	for (i = 0; i < n; i++) {
		if (null[i])
			lag->stopped = true;
		else if (value[i] > lag->worst_s)
			lag->worst_s = value[i];
	}
	return PJ_OK;
}

/* Logs a warning when a replica enters a state that needs a person. */
static void
note_state(struct replica *r, enum replica_state state, const char *why)
{
	if (state != r->state &&
	    (state == REPLICA_STOPPED || state == REPLICA_NONE ||
	        state == REPLICA_ERROR))
		pj_log_warn("replica_unusable", "%s", why);
	r->state = state;
}

/* One replica: *hold unless its lag is known and within the limit. */
static int
check_replica(struct pj_throttle *t, struct replica *r, bool *hold, char *why,
    size_t size, struct pj_error *err)
{
	struct pj_error e = { 0 };
	struct lag lag;
	int64_t max_s = t->rc.max_replica_lag_ms / 1000;
	int rc = PJ_OK;

	*hold = true;
	if (r->db == NULL)
		rc = replica_connect(t, r, &e);
	if (rc == PJ_OK)
		rc = read_lag(r->db, &lag, &e);
	if (rc == PJ_EACCESS || rc == PJ_ECONFIG || rc == PJ_ENOMEM)
		return pj_error_set_db(err, rc, e.db_errno, e.sqlstate,
		    "replica %s: %s", r->name, e.msg);
	if (rc) {
		/* Its lag is unknown: wait, as for a lagging one. */
		pj_db_close(r->db);
		r->db = NULL;
		snprintf(why, size,
		    "replica=%s lag_s=unknown status=%s error=\"%s\"", r->name,
		    pj_status_name(rc), e.msg);
		note_state(r, REPLICA_ERROR, why);
		return PJ_OK;
	}
	pj_log_debug("replica_check",
	    "replica=%s connections=%zu stopped=%s lag_s=%lld", r->name,
	    lag.rows, lag.stopped ? "true" : "false", (long long)lag.worst_s);
	if (lag.rows == 0) {
		snprintf(why, size,
		    "replica=%s lag_s=NULL reason=not_a_replica", r->name);
		note_state(r, REPLICA_NONE, why);
	} else if (lag.stopped) {
		snprintf(why, size,
		    "replica=%s lag_s=NULL reason=not_replicating", r->name);
		note_state(r, REPLICA_STOPPED, why);
	} else if (lag.worst_s > max_s) {
		snprintf(why, size, "replica=%s lag_s=%lld max_lag_s=%lld",
		    r->name, (long long)lag.worst_s, (long long)max_s);
		note_state(r, REPLICA_LAGGING, why);
	} else {
		*hold = false;
		note_state(r, REPLICA_OK, why);
	}
	return PJ_OK;
}

/* Everything that may hold writes; why names the first thing that does. */
static int
check(struct pj_throttle *t, struct pj_db *db, bool *hold, char *why,
    size_t size, struct pj_error *err)
{
	char one[PJ_DB_TEXT_MAX + 256];
	bool h = false;
	size_t i;
	int rc = PJ_OK;

	*hold = false;
	why[0] = '\0';
	if (t->galera)
		rc = check_galera(t, db, hold, why, size, err);
	for (i = 0; rc == PJ_OK && i < t->n_replicas; i++) {
		rc =
		    check_replica(t, &t->replica[i], &h, one, sizeof(one), err);
		if (rc == PJ_OK && h && !*hold)
			pj_strlcpy(why, one, size);
		*hold = *hold || h;
	}
	return rc;
}

/* Sleeps in short steps until until_ms, or an end of the pause. */
static enum pj_throttle_verdict
sleep_until(const struct pj_throttle *t, int64_t until_ms,
    const volatile sig_atomic_t *stop, int64_t deadline_ms, int64_t paused_at)
{
	int64_t now, step;

	for (;;) {
		now = pj_time_mono_ms();
		if (stop != NULL && *stop)
			return PJ_THROTTLE_STOPPED;
		if (deadline_ms > 0 && now >= deadline_ms)
			return PJ_THROTTLE_DEADLINE;
		if (t->rc.max_pause_ms > 0 &&
		    now - paused_at >= t->rc.max_pause_ms)
			return PJ_THROTTLE_GAVE_UP;
		if (now >= until_ms)
			return PJ_THROTTLE_GO;
		step = until_ms - now;
		pj_time_sleep_ms(step < STEP_MS ? step : STEP_MS);
	}
}

static const char *const verdict_names[] = {
	[PJ_THROTTLE_GO] = "resumed",
	[PJ_THROTTLE_STOPPED] = "signal",
	[PJ_THROTTLE_DEADLINE] = "max_runtime",
	[PJ_THROTTLE_GAVE_UP] = "max_pause",
};

int
pj_throttle_wait(struct pj_throttle *t, struct pj_db *db,
    const volatile sig_atomic_t *stop, int64_t deadline_ms,
    enum pj_throttle_verdict *verdict, struct pj_error *err)
{
	char why[PJ_DB_TEXT_MAX + 256];
	int64_t paused_at = 0;
	bool hold, paused = false;
	int rc;

	*verdict = PJ_THROTTLE_GO;
	if (!t->node_known) {
		rc = pj_throttle_check_node(t, db, err);
		if (rc)
			return rc;
	}
	if ((!t->galera && t->n_replicas == 0) ||
	    pj_time_mono_ms() < t->next_check_ms)
		return PJ_OK;
	for (;;) {
		rc = check(t, db, &hold, why, sizeof(why), err);
		t->next_check_ms = pj_time_mono_ms() + t->rc.check_interval_ms;
		if (rc || !hold)
			break;
		if (!paused) {
			paused = true;
			paused_at = pj_time_mono_ms();
			pj_log_info("replication_pause", "%s", why);
		}
		*verdict = sleep_until(
		    t, t->next_check_ms, stop, deadline_ms, paused_at);
		if (*verdict != PJ_THROTTLE_GO)
			break;
	}
	if (paused)
		pj_log_write(
		    *verdict == PJ_THROTTLE_GAVE_UP ? PJ_LOG_WARN : PJ_LOG_INFO,
		    "replication_pause_end", "outcome=%s paused_s=%.1f %s",
		    rc ? pj_status_name(rc) : verdict_names[*verdict],
		    (double)(pj_time_mono_ms() - paused_at) / 1000.0,
		    rc == PJ_OK && hold ? why : "");
	return rc;
}
