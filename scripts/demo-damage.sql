-- Damage of every kind the passes know, with healthy look-alikes beside
-- it, on top of tests/bench/seed.sh's data set (scripts/demo.sh loads it).
-- Ids start at 9000000 so they never meet the seeded ones.
SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO');
SET @old = UTC_TIMESTAMP() - INTERVAL 2 DAY;
SET @young = UTC_TIMESTAMP() - INTERVAL 1 MINUTE;

-- orphaned_consumers: empty and two days old; the young empty one is
-- Placement between its two transactions, so it stays.
INSERT INTO consumers (created_at, id, uuid, project_id, user_id, generation) VALUES
  (@old, 9000001, 'de000000-0000-4000-8000-000000000001', 1, 1, 0),
  (@old, 9000002, 'de000000-0000-4000-8000-000000000002', 1, 1, 3),
  (@young, 9000003, 'de000000-0000-4000-8000-000000000003', 1, 1, 0);

-- orphaned_allocations: provider 9999999 does not exist. Consumer ...011
-- keeps a healthy allocation (its generation moves on); ...012 had only
-- the orphaned one (Placement would delete it).
INSERT INTO consumers (created_at, id, uuid, project_id, user_id, generation) VALUES
  (@old, 9000011, 'de000000-0000-4000-8000-000000000011', 1, 1, 5),
  (@old, 9000012, 'de000000-0000-4000-8000-000000000012', 1, 1, 2);
INSERT INTO allocations (created_at, id, resource_provider_id, consumer_id, resource_class_id, used) VALUES
  (@old, 9000001, 1, 'de000000-0000-4000-8000-000000000011', 0, 2),
  (@old, 9000002, 9999999, 'de000000-0000-4000-8000-000000000011', 1, 1024),
  (@old, 9000003, 9999999, 'de000000-0000-4000-8000-000000000012', 0, 1);

-- orphaned_inventories: provider 9999998 does not exist.
INSERT INTO inventories (created_at, id, resource_provider_id, resource_class_id,
  total, reserved, min_unit, max_unit, step_size, allocation_ratio) VALUES
  (@old, 9000001, 9999998, 0, 64, 0, 1, 64, 1, 16.0),
  (@old, 9000002, 9999998, 1, 65536, 512, 1, 65536, 1, 1.5);

-- orphaned_provider_links: a link to a missing aggregate, and links from a
-- missing provider (as a dump restored with foreign key checks off leaves).
SET SESSION foreign_key_checks = 0;
INSERT INTO resource_provider_aggregates (created_at, resource_provider_id, aggregate_id) VALUES
  (@old, 2, 9999997), (@old, 9999996, 1);
INSERT INTO resource_provider_traits (created_at, trait_id, resource_provider_id) VALUES
  (@old, 3, 9999996), (@old, 9999995, 2);

-- root_provider_ids: a nested tree written before Placement set roots
-- (NULL), and a child whose root names the wrong tree.
INSERT INTO resource_providers (created_at, id, uuid, name, generation,
  root_provider_id, parent_provider_id) VALUES
  (@old, 9000001, 'de000000-0000-4000-8000-0000000000a1', 'demo-root', 1, NULL, NULL),
  (@old, 9000002, 'de000000-0000-4000-8000-0000000000a2', 'demo-numa0', 1, NULL, 9000001),
  (@old, 9000003, 'de000000-0000-4000-8000-0000000000a3', 'demo-pf0', 1, NULL, 9000002),
  (@old, 9000004, 'de000000-0000-4000-8000-0000000000a4', 'demo-numa1', 1, 1, 9000001);
SET SESSION foreign_key_checks = 1;

-- dangling_consumer_refs: project 9999994 and user 9999993 do not exist.
INSERT INTO consumers (created_at, id, uuid, project_id, user_id, generation) VALUES
  (@old, 9000021, 'de000000-0000-4000-8000-000000000021', 9999994, 1, 1),
  (@old, 9000022, 'de000000-0000-4000-8000-000000000022', 1, 9999993, 1);
INSERT INTO allocations (created_at, id, resource_provider_id, consumer_id, resource_class_id, used) VALUES
  (@old, 9000021, 3, 'de000000-0000-4000-8000-000000000021', 0, 1),
  (@old, 9000022, 3, 'de000000-0000-4000-8000-000000000022', 0, 1);

-- unused_projects_users: nobody references these (report only).
INSERT INTO projects (created_at, id, external_id) VALUES (@old, 9000001, 'demo-unused-project');
INSERT INTO users (created_at, id, external_id) VALUES (@old, 9000001, 'demo-unused-user');

-- dangling_resource_classes: a custom class deleted by hand (10050), and a
-- standard one the API has not synced yet (25).
INSERT INTO inventories (created_at, id, resource_provider_id, resource_class_id,
  total, reserved, min_unit, max_unit, step_size, allocation_ratio) VALUES
  (@old, 9000003, 4, 10050, 8, 0, 1, 8, 1, 1.0),
  (@old, 9000004, 4, 25, 4, 0, 1, 4, 1, 1.0);
