/*
 * The worker's settings: one struct, filled from defaults and a strict YAML
 * file by one key table (config.c), checked all-or-nothing.
 */
#ifndef PJ_CONFIG_CONFIG_H
#define PJ_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/attr.h"
#include "common/db.h"
#include "common/error.h"
#include "common/log.h"
#include "common/runlock.h"

#define PJ_CFG_DEFAULT_PATH "/etc/placement-janitor/placement-janitor.yaml"
#define PJ_CFG_ENV_PATH "PLACEMENT_JANITOR_CONFIG"
#define PJ_CFG_MAX_ERRORS 32
#define PJ_CFG_MAX_REPLICAS 16

/* What a pass may do: the operator's authorization for it. */
enum pj_mode { PJ_MODE_OFF, PJ_MODE_REPORT, PJ_MODE_REPAIR };

enum pj_report_format { PJ_REPORT_TABLE, PJ_REPORT_JSON };
enum pj_on_failure { PJ_ON_FAILURE_SKIP, PJ_ON_FAILURE_STOP };

struct pj_worker_config {
	int64_t batch_size;     /* candidates per transaction */
	int64_t max_rows;       /* stop after this many repairs; 0: none */
	int64_t max_runtime_ms; /* stop after this long; 0: none */
	int64_t sleep_between_batches_ms;
	int64_t interval_ms;      /* between rounds in `run` mode */
	int64_t retries;          /* redo a failed batch this many times */
	int64_t retry_backoff_ms; /* first backoff; doubles, jittered */
	enum pj_on_failure on_batch_failure;
	/* Adaptive pacing: a batch transaction slower than this halves the
	 * batch; a fast one grows it back up to batch_size. 0: off. */
	int64_t batch_target_ms;
	/* A lost connection is retried (with backoff) until this long has
	 * passed, then the run ends with exit 69. */
	int64_t reconnect_deadline_ms;
	/* One writing run at a time: a lock file in lock_run_dir on this
	 * host, and GET_LOCK(lock_name) on the server for all hosts. */
	bool lock_enabled;
	char lock_run_dir[PJ_DB_PATH_MAX];
	char lock_name[PJ_RUNLOCK_NAME_MAX + 1];
	int64_t lock_timeout_ms;
};

struct pj_placement_config {
	char incomplete_project_id[PJ_DB_TEXT_MAX];
	char incomplete_user_id[PJ_DB_TEXT_MAX];
};

struct pj_pass_config {
	enum pj_mode mode;
};

struct pj_passes_config {
	struct pj_pass_config incomplete_consumers;
	struct pj_pass_config orphaned_consumers;
	int64_t orphaned_consumers_min_age_ms; /* younger empty ones are kept */
	struct pj_pass_config orphaned_allocations;
	struct pj_pass_config orphaned_inventories;
	struct pj_pass_config orphaned_provider_links;
	struct pj_pass_config dangling_consumer_refs;
	struct pj_pass_config root_provider_ids;
	struct pj_pass_config unused_projects_users;
	struct pj_pass_config dangling_resource_classes;
};

struct pj_archive_config {
	/* Copy every row a pass deletes or changes into
	 * placement_janitor_archive, in the same transaction. false is the
	 * operator's explicit choice to lose them. */
	bool enabled;
};

/* Replication awareness (worker/throttle.c): repairs wait while replicas
 * lag or a Galera node is under flow control. */
struct pj_replication_config {
	/* "host:port, ..." as written; parsed into replica[] by the loader,
	 * which refuses a malformed list. "": no replicas to watch. */
	char replicas[PJ_DB_PATH_MAX];
	struct pj_db_addr replica[PJ_CFG_MAX_REPLICAS];
	size_t n_replicas;
	int64_t max_replica_lag_ms; /* whole seconds: pause above it */
	int64_t check_interval_ms;  /* at most one status check per interval */
	int64_t max_pause_ms;       /* one pause longer ends the run; 0: none */
	int64_t galera_max_recv_queue; /* pause above wsrep_local_recv_queue */
	/* Pause while flow control paused the cluster more than this share
	 * of the time since the last check; 100: never. */
	int64_t galera_max_flow_control_percent;
};

struct pj_logging_config {
	enum pj_log_level level;
	enum pj_log_format format;
	bool redact_uuids;
};

struct pj_report_config {
	enum pj_report_format format;
	/* node_exporter textfile metrics written after each run, or "" */
	char metrics_file[PJ_DB_PATH_MAX];
};

struct pj_config {
	char path[PJ_DB_PATH_MAX]; /* the file loaded, or "" for defaults */
	struct pj_db_config db;
	struct pj_worker_config worker;
	struct pj_placement_config placement;
	struct pj_passes_config passes;
	struct pj_archive_config archive;
	struct pj_replication_config replication;
	struct pj_logging_config logging;
	struct pj_report_config report;
};

/* Every problem found in a file, each "file:line:column: key: message". */
struct pj_cfg_diag {
	size_t n;       /* messages kept, at most PJ_CFG_MAX_ERRORS */
	size_t dropped; /* further problems not kept */
	char msg[PJ_CFG_MAX_ERRORS][320];
};

/* Fills cfg with every key's default (parsed from the key table's text). */
int pj_cfg_defaults(struct pj_config *cfg, struct pj_error *err) PJ_MUSTCHECK;

/*
 * Loads path over the defaults. All or nothing: *cfg is replaced only when
 * the file had no problem; otherwise diag lists each one (file, line,
 * column, key, never a secret value) and err holds PJ_ECONFIG or PJ_EIO.
 * Refuses a file holding an inline password, or naming a password file,
 * that group or others can read, or that another user owns.
 */
int pj_cfg_load(const char *path, struct pj_config *cfg,
    struct pj_cfg_diag *diag, struct pj_error *err) PJ_MUSTCHECK;

/* The configured mode of the pass called name; PJ_MODE_OFF if unknown. */
enum pj_mode pj_cfg_pass_mode(const struct pj_config *cfg, const char *name);

/* "off", "report", "repair". */
const char *pj_cfg_mode_name(enum pj_mode mode);

/* Writes the effective config as YAML, secrets shown as "<redacted>". */
void pj_cfg_print(const struct pj_config *cfg, FILE *out);

#endif
