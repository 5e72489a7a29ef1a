-- A deterministic Placement data set, made set-based inside the server with
-- the SEQUENCE engine (seq_1_to_N tables). Run by tests/bench/seed.sh into
-- an empty database created from sql/placement-schema.sql, which first sets:
--
--   @seed            text: every uuid and choice derives from it
--   @rows            allocation rows wanted (about; 2 to 4 per consumer)
--   @incomplete_pct  percent of consumers whose consumers row is left out
--                    while their allocations stay ("incomplete consumers")
--   @providers_pct   providers per 100 allocation rows (NULL: 1)
--
-- The same inputs always give the same rows (CHECKSUM TABLE equal): ids are
-- computed, never taken from AUTO_INCREMENT, and timestamps derive from a
-- fixed instant. Uuids are MD5(CONCAT(@seed, kind, n)) written 8-4-4-4-12.

-- Standard resource classes keep their os-resource-classes index as id, so
-- VCPU is 0: NO_AUTO_VALUE_ON_ZERO, as Placement itself does.
SET SESSION sql_mode =
  CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'NO_AUTO_VALUE_ON_ZERO');
-- Rows are unique and consistent by construction; with both checks off an
-- INSERT into an empty InnoDB table builds its indexes in bulk.
SET SESSION foreign_key_checks = 0;
SET SESSION unique_checks = 0;

SET @t0 = TIMESTAMP'2024-01-01 00:00:00';
SET @providers = GREATEST(1, @rows * COALESCE(@providers_pct, 1) DIV 100);
SET @consumers = GREATEST(1, CEIL(@rows / 3));
SET @projects = 100;
SET @users = 200;
SET @aggregates = 10;

INSERT INTO resource_classes (created_at, id, name) VALUES
  (@t0, 0, 'VCPU'), (@t0, 1, 'MEMORY_MB'), (@t0, 2, 'DISK_GB'),
  (@t0, 3, 'PCI_DEVICE'), (@t0, 4, 'SRIOV_NET_VF'), (@t0, 5, 'NUMA_SOCKET'),
  (@t0, 6, 'NUMA_CORE'), (@t0, 7, 'NUMA_THREAD'),
  (@t0, 8, 'NUMA_MEMORY_MB'), (@t0, 9, 'IPV4_ADDRESS'), (@t0, 10, 'VGPU'),
  (@t0, 11, 'VGPU_DISPLAY_HEAD'), (@t0, 12, 'NET_BW_EGR_KILOBIT_PER_SEC'),
  (@t0, 13, 'NET_BW_IGR_KILOBIT_PER_SEC'), (@t0, 14, 'PCPU'),
  (@t0, 15, 'MEM_ENCRYPTION_CONTEXT'), (@t0, 16, 'FPGA'), (@t0, 17, 'PGPU'),
  (@t0, 18, 'NET_PACKET_RATE_KILOPACKET_PER_SEC'),
  (@t0, 19, 'NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC'),
  (@t0, 20, 'NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC'),
  (@t0, 10000, 'CUSTOM_BENCH_GOLD');

INSERT INTO traits (created_at, id, name) VALUES
  (@t0, 1, 'COMPUTE_STATUS_DISABLED'), (@t0, 2, 'COMPUTE_VOLUME_MULTI_ATTACH'),
  (@t0, 3, 'HW_CPU_X86_AVX2'), (@t0, 4, 'HW_CPU_X86_SSE42'),
  (@t0, 5, 'STORAGE_DISK_SSD'), (@t0, 6, 'MISC_SHARES_VIA_AGGREGATE'),
  (@t0, 7, 'CUSTOM_BENCH_RACK_A'), (@t0, 8, 'CUSTOM_BENCH_RACK_B');

INSERT INTO projects (created_at, id, external_id)
SELECT @t0, seq, MD5(CONCAT(@seed, 'project', seq))
FROM seq_1_to_4294967295 WHERE seq <= @projects;

INSERT INTO users (created_at, id, external_id)
SELECT @t0, seq, MD5(CONCAT(@seed, 'user', seq))
FROM seq_1_to_4294967295 WHERE seq <= @users;

INSERT INTO placement_aggregates (created_at, id, uuid)
SELECT @t0, seq, CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4),
  SUBSTR(h, 13, 4), SUBSTR(h, 17, 4), SUBSTR(h, 21, 12))
FROM (SELECT seq, MD5(CONCAT(@seed, 'aggregate', seq)) AS h
  FROM seq_1_to_4294967295 WHERE seq <= @aggregates) AS a;

-- Every tenth provider is a child of the one before it (a root); the rest
-- are roots: root_provider_id = id.
INSERT INTO resource_providers (created_at, id, uuid, name, generation,
  root_provider_id, parent_provider_id)
SELECT @t0 + INTERVAL seq MINUTE, seq,
  CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4), SUBSTR(h, 13, 4),
    SUBSTR(h, 17, 4), SUBSTR(h, 21, 12)),
  CONCAT('bench-', IF(seq % 10 = 0, 'child-', 'compute-'), seq),
  1 + CONV(SUBSTR(h, 25, 4), 16, 10) % 50,
  IF(seq % 10 = 0, seq - 1, seq),
  IF(seq % 10 = 0, seq - 1, NULL)
FROM (SELECT seq, MD5(CONCAT(@seed, 'provider', seq)) AS h
  FROM seq_1_to_4294967295 WHERE seq <= @providers) AS p;

INSERT INTO resource_provider_traits (created_at, trait_id,
  resource_provider_id)
SELECT @t0, 1 + seq % 8, seq
FROM seq_1_to_4294967295 WHERE seq <= @providers;

INSERT INTO resource_provider_aggregates (created_at, resource_provider_id,
  aggregate_id)
SELECT @t0, seq, 1 + seq % @aggregates
FROM seq_1_to_4294967295 WHERE seq <= @providers;

-- VCPU, MEMORY_MB and DISK_GB on every provider.
INSERT INTO inventories (created_at, id, resource_provider_id,
  resource_class_id, total, reserved, min_unit, max_unit, step_size,
  allocation_ratio)
SELECT @t0, (p.seq - 1) * 3 + rc.seq + 1, p.seq, rc.seq,
  ELT(rc.seq + 1, 128, 1048576, 20000),
  ELT(rc.seq + 1, 0, 512, 0),
  1,
  ELT(rc.seq + 1, 128, 1048576, 20000),
  1,
  ELT(rc.seq + 1, 16.0, 1.5, 1.0)
FROM seq_1_to_4294967295 AS p JOIN seq_0_to_2 AS rc
WHERE p.seq <= @providers;

-- Consumer n: h = MD5(seed, 'consumer', n) gives its uuid; bytes of h
-- choose project, user, generation, allocation count and provider. A
-- second hash decides whether its consumers row is left out.
INSERT INTO consumers (created_at, id, uuid, project_id, user_id, generation)
SELECT @t0 + INTERVAL c SECOND, c,
  CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4), SUBSTR(h, 13, 4),
    SUBSTR(h, 17, 4), SUBSTR(h, 21, 12)),
  1 + CONV(SUBSTR(h, 1, 6), 16, 10) % @projects,
  1 + CONV(SUBSTR(h, 7, 6), 16, 10) % @users,
  CONV(SUBSTR(h, 31, 2), 16, 10) % 4
FROM (SELECT seq AS c, MD5(CONCAT(@seed, 'consumer', seq)) AS h
  FROM seq_1_to_4294967295 WHERE seq <= @consumers) AS con
WHERE CONV(SUBSTR(MD5(CONCAT(@seed, 'incomplete', c)), 1, 8), 16, 10) % 100
  >= @incomplete_pct;

-- 2 to 4 allocations per consumer: VCPU, MEMORY_MB, DISK_GB on one
-- provider, a fourth (VCPU) on the next provider, as during a migration.
INSERT INTO allocations (created_at, id, resource_provider_id, consumer_id,
  resource_class_id, used)
SELECT @t0 + INTERVAL c SECOND, (c - 1) * 4 + j.seq + 1,
  1 + (CONV(SUBSTR(h, 17, 8), 16, 10) + j.seq DIV 3) % @providers,
  CONCAT_WS('-', SUBSTR(h, 1, 8), SUBSTR(h, 9, 4), SUBSTR(h, 13, 4),
    SUBSTR(h, 17, 4), SUBSTR(h, 21, 12)),
  j.seq % 3,
  ELT(j.seq % 3 + 1,
    1 + CONV(SUBSTR(h, 25, 2), 16, 10) % 8,
    512 * (1 + CONV(SUBSTR(h, 27, 2), 16, 10) % 16),
    10 * (1 + CONV(SUBSTR(h, 29, 2), 16, 10) % 10))
FROM (SELECT seq AS c, MD5(CONCAT(@seed, 'consumer', seq)) AS h
  FROM seq_1_to_4294967295 WHERE seq <= @consumers) AS con
JOIN seq_0_to_3 AS j
  ON j.seq < 2 + CONV(SUBSTR(h, 9, 8), 16, 10) % 3;
