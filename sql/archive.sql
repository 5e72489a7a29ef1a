-- placement-janitor's archive: every row a pass deletes or changes is copied
-- here, as JSON, in the same transaction. `placement-janitor restore` puts
-- rows back; `archive purge` prunes old runs.
--
-- Run once in the Placement database by an administrator (the worker itself
-- never needs CREATE):
--   mariadb placement < sql/archive.sql
CREATE TABLE IF NOT EXISTS placement_janitor_archive (
  id BIGINT NOT NULL AUTO_INCREMENT,
  run_id CHAR(36) NOT NULL,
  pass VARCHAR(64) NOT NULL,
  table_name VARCHAR(64) NOT NULL,
  -- The row's primary key as text: "17", or "3,5" for a two-column key.
  row_key VARCHAR(255) NOT NULL,
  -- delete: the row was deleted; update: row_data holds the old values.
  action ENUM('delete', 'update') NOT NULL,
  -- The whole old row, every column, built by the server (JSON_OBJECT).
  row_data LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
    CHECK (JSON_VALID(row_data)),
  archived_at DATETIME(6) NOT NULL,
  restored_at DATETIME(6) DEFAULT NULL,
  PRIMARY KEY (id),
  KEY placement_janitor_archive_run_idx (run_id, pass, table_name),
  KEY placement_janitor_archive_time_idx (archived_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
