-- The OpenStack Placement schema at Alembic head 422ece571366 (the schema
-- `placement-manage db sync` creates), as the test fixture of
-- placement-janitor. Load it into an empty database of the loader's choice:
--
--   mariadb placement_test < sql/placement-schema.sql
--
-- Tables are created in foreign key order. tests/lint/schema_fixture.sh
-- checks that the result matches a dump of a real Placement database.

CREATE TABLE alembic_version (
  version_num VARCHAR(32) NOT NULL,
  PRIMARY KEY (version_num)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE consumer_types (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_consumer_types0name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE consumers (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  uuid VARCHAR(36) NOT NULL,
  project_id INT NOT NULL,
  user_id INT NOT NULL,
  generation INT NOT NULL DEFAULT 0,
  consumer_type_id INT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_consumers0uuid (uuid),
  KEY consumers_project_id_user_id_uuid_idx (project_id, user_id, uuid),
  KEY consumers_project_id_uuid_idx (project_id, uuid),
  KEY consumers_consumer_type_id_idx (consumer_type_id),
  CONSTRAINT consumers_consumer_type_id_fkey
    FOREIGN KEY (consumer_type_id) REFERENCES consumer_types (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE projects (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  external_id VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_projects0external_id (external_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE users (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  external_id VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_users0external_id (external_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE resource_classes (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_resource_classes0name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE traits (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(255) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_traits0name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE resource_providers (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  uuid VARCHAR(36) NOT NULL,
  name VARCHAR(200) NULL,
  generation INT NULL,
  root_provider_id INT NULL,
  parent_provider_id INT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_resource_providers0uuid (uuid),
  UNIQUE KEY uniq_resource_providers0name (name),
  KEY resource_providers_name_idx (name),
  KEY resource_providers_parent_provider_id_idx (parent_provider_id),
  KEY resource_providers_root_provider_id_idx (root_provider_id),
  KEY resource_providers_uuid_idx (uuid),
  CONSTRAINT resource_providers_ibfk_1
    FOREIGN KEY (parent_provider_id) REFERENCES resource_providers (id),
  CONSTRAINT resource_providers_ibfk_2
    FOREIGN KEY (root_provider_id) REFERENCES resource_providers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE resource_provider_traits (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  trait_id INT NOT NULL,
  resource_provider_id INT NOT NULL,
  PRIMARY KEY (trait_id, resource_provider_id),
  KEY resource_provider_traits_resource_provider_trait_idx
    (resource_provider_id, trait_id),
  CONSTRAINT resource_provider_traits_ibfk_1
    FOREIGN KEY (resource_provider_id) REFERENCES resource_providers (id),
  CONSTRAINT resource_provider_traits_ibfk_2
    FOREIGN KEY (trait_id) REFERENCES traits (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE inventories (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  resource_provider_id INT NOT NULL,
  resource_class_id INT NOT NULL,
  total INT NOT NULL,
  reserved INT NOT NULL,
  min_unit INT NOT NULL,
  max_unit INT NOT NULL,
  step_size INT NOT NULL,
  allocation_ratio FLOAT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_inventories0resource_provider_resource_class
    (resource_provider_id, resource_class_id),
  KEY inventories_resource_class_id_idx (resource_class_id),
  KEY inventories_resource_provider_id_idx (resource_provider_id),
  KEY inventories_resource_provider_resource_class_idx
    (resource_provider_id, resource_class_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE allocations (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  resource_provider_id INT NOT NULL,
  consumer_id VARCHAR(36) NOT NULL,
  resource_class_id INT NOT NULL,
  used INT NOT NULL,
  PRIMARY KEY (id),
  KEY allocations_resource_provider_class_used_idx
    (resource_provider_id, resource_class_id, used),
  KEY allocations_resource_class_id_idx (resource_class_id),
  KEY allocations_consumer_id_idx (consumer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE placement_aggregates (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  id INT NOT NULL AUTO_INCREMENT,
  uuid VARCHAR(36) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uniq_placement_aggregates0uuid (uuid),
  KEY ix_placement_aggregates_uuid (uuid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

CREATE TABLE resource_provider_aggregates (
  created_at DATETIME NULL,
  updated_at DATETIME NULL,
  resource_provider_id INT NOT NULL,
  aggregate_id INT NOT NULL,
  PRIMARY KEY (resource_provider_id, aggregate_id),
  KEY resource_provider_aggregates_aggregate_id_idx (aggregate_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;

INSERT INTO alembic_version (version_num) VALUES ('422ece571366');
