-- placement-janitor: least privileges for the passes in repair mode.
-- Replace '%' with the hosts the worker connects from.
GRANT SELECT ON `placement`.* TO 'placement_janitor'@'%';
GRANT INSERT, UPDATE, DELETE ON `placement`.`consumers` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`projects` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`users` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`placement_janitor_archive` TO 'placement_janitor'@'%';
GRANT DELETE ON `placement`.`resource_provider_aggregates` TO 'placement_janitor'@'%';
GRANT DELETE ON `placement`.`resource_provider_traits` TO 'placement_janitor'@'%';
GRANT UPDATE ON `placement`.`resource_providers` TO 'placement_janitor'@'%';
-- For restore and archive purge only (operator commands; leave
-- these out for an account that must never put rows back or
-- prune the archive):
GRANT INSERT ON `placement`.`allocations` TO 'placement_janitor'@'%';
GRANT INSERT, UPDATE ON `placement`.`consumers` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`inventories` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`resource_provider_aggregates` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`resource_provider_traits` TO 'placement_janitor'@'%';
GRANT UPDATE ON `placement`.`resource_providers` TO 'placement_janitor'@'%';
GRANT UPDATE, DELETE ON `placement`.`placement_janitor_archive` TO 'placement_janitor'@'%';
