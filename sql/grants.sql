-- placement-janitor: least privileges for the passes in repair mode.
-- Replace '%' with the hosts the worker connects from.
GRANT SELECT ON `placement`.* TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`consumers` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`projects` TO 'placement_janitor'@'%';
GRANT INSERT ON `placement`.`users` TO 'placement_janitor'@'%';
