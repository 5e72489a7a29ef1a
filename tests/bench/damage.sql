-- Damage for the destructive passes, applied by tests/bench/destructive.sh
-- after dataset.sql (seed.sh with 0% incomplete consumers). It first sets:
--
--   @seed        the data set's seed: every choice here derives from it
--   @damage_pct  about this percent of each kind's rows is damaged
--
-- Deterministic like dataset.sql: the same inputs give the same rows. The
-- damage is spread over the whole key range, mixed with healthy rows of
-- the same shape, as a restore with checks off or a hand-made DELETE
-- leaves it:
--
--   providers deleted with foreign key checks off (leaves only, never a
--     parent): their allocations, inventories, aggregate and trait links
--     stay -> orphaned_allocations, orphaned_inventories,
--     orphaned_provider_links (provider side)
--   placement_aggregates rows deleted: links of surviving providers
--     -> orphaned_provider_links (aggregate side, with a generation bump)
--   every allocation of some consumers deleted -> orphaned_consumers; a
--     tenth of those were written a minute ago (young: healthy look-alikes)
--   projects and users deleted (half the percent each)
--     -> dangling_consumer_refs
--   root_provider_id set to NULL, roots and children alike, and a few
--     children pointing at themselves -> root_provider_ids
SET SESSION foreign_key_checks = 0;

-- Each choice: the first 8 hex digits of MD5(seed, kind, id) modulo 100.
DELETE FROM resource_providers
WHERE id % 10 <> 9
  AND CONV(SUBSTR(MD5(CONCAT(@seed, 'gone-provider', id)), 1, 8), 16, 10)
    % 100 < @damage_pct;

-- The dataset has 10 aggregates, a link each per provider in turn.
DELETE FROM placement_aggregates
WHERE id <= GREATEST(1, ROUND((SELECT COUNT(*) FROM placement_aggregates)
  * @damage_pct / 100));

-- Allocation ids are (consumer - 1) * 4 + j + 1 (dataset.sql).
DELETE FROM allocations
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'empty', (id - 1) DIV 4 + 1)), 1, 8),
  16, 10) % 100 < @damage_pct;
UPDATE consumers SET updated_at = UTC_TIMESTAMP() - INTERVAL 1 MINUTE
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'empty', id)), 1, 8), 16, 10)
    % 100 < @damage_pct
  AND id % 10 = 0;

DELETE FROM projects
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'gone-project', id)), 1, 8), 16, 10)
  % 100 < @damage_pct / 2;
DELETE FROM users
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'gone-user', id)), 1, 8), 16, 10)
  % 100 < @damage_pct / 2;

UPDATE resource_providers SET root_provider_id = NULL
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'null-root', id)), 1, 8), 16, 10)
  % 100 < @damage_pct;
UPDATE resource_providers SET root_provider_id = id
WHERE parent_provider_id IS NOT NULL AND root_provider_id IS NOT NULL
  AND CONV(SUBSTR(MD5(CONCAT(@seed, 'wrong-root', id)), 1, 8), 16, 10)
    % 100 < @damage_pct;

SET SESSION foreign_key_checks = 1;
