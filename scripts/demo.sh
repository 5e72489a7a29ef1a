#!/usr/bin/env bash
# The README's first command: builds placement-janitor, starts a sandbox
# MariaDB with a Placement database holding realistic data and seeded
# damage, and runs the worker on it (check, repair, check again).
#
#   scripts/demo.sh            (as root, or a user with sudo for apt-get)
#
# The sandbox keeps running afterwards so you can look around:
#   scripts/sandbox-db.sh sql placement      a client on it
#   build/placement-janitor -c build/demo.yaml check
#   scripts/sandbox-db.sh stop               stop it
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build=$root/build
export PJ_SANDBOX_DIR=${PJ_SANDBOX_DIR:-$build/sandbox}

step() {
	printf '\n== %s\n' "$*"
}

step "installing build and database packages (scripts/bootstrap.sh)"
bash scripts/bootstrap.sh

step "building (cmake, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target placement-janitor >/dev/null
janitor=$build/placement-janitor

step "starting the sandbox MariaDB"
bash scripts/sandbox-db.sh start
sql() {
	bash scripts/sandbox-db.sh sql "$@"
}

step "creating database placement from sql/placement-schema.sql"
sql -e "DROP DATABASE IF EXISTS placement; CREATE DATABASE placement"
sql placement <sql/placement-schema.sql
sql placement <sql/archive.sql
bash tests/bench/seed.sh placement 20000 10 demo
step "seeding every other kind of damage (scripts/demo-damage.sql)"
sql placement <scripts/demo-damage.sql
# Look-alikes that are NOT damage: ids differing from an existing consumer
# only in letter case or trailing spaces (the collation makes them equal).
sql placement <<'SQL'
INSERT INTO allocations (resource_provider_id, consumer_id, resource_class_id, used)
SELECT resource_provider_id, UPPER(consumer_id), resource_class_id, used
FROM allocations a JOIN consumers c ON c.uuid = a.consumer_id
ORDER BY a.id LIMIT 3;
SQL

config=$build/demo.yaml
umask 077
cat >"$config" <<YAML
# Written by scripts/demo.sh: the sandbox's placement database as root.
# Every pass that can repair does: the destructive ones archive first.
database:
  socket: $PJ_SANDBOX_DIR/mysqld.sock
  name: placement
  user: root
worker:
  lock:
    run_dir: $build/run
passes:
  orphaned_allocations:
    mode: repair
  orphaned_inventories:
    mode: repair
YAML

step "placement-janitor check (report only; exit 1 means damage found)"
set +e
"$janitor" --config "$config" check
echo "exit status: $?"

step "placement-janitor repair"
"$janitor" --config "$config" repair
echo "exit status: $?"

step "placement-janitor check --format json (after the repair)"
"$janitor" --config "$config" --format json check
code=$?
echo "exit status: $code (1: the report-only passes still see their finds)"

step "placement-janitor archive list (every deleted or changed row is kept)"
"$janitor" --config "$config" archive list
set -e

cat <<EOF_NOTE

The sandbox is still running (data in $PJ_SANDBOX_DIR).
  config:   $config
  a client: scripts/sandbox-db.sh sql placement
  undo:     build/placement-janitor -c $config restore --run RUN_ID
  stop it:  scripts/sandbox-db.sh stop
EOF_NOTE
