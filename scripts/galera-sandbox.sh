#!/usr/bin/env bash
# A throwaway three-node MariaDB Galera cluster on 127.0.0.1, for tests.
#
#   scripts/galera-sandbox.sh start|stop|status|env
#
# Settings (environment):
#   PJ_GALERA_DIR   its directory (default <repo>/build/galera); node N
#                   lives in node<N>/ (data, tmp, socket, pid file, log)
#   PJ_GALERA_PORT  first of 12 TCP ports on 127.0.0.1 (default 13320):
#                   node N (1..3) takes SQL port PORT+N-1, Galera
#                   replication PORT+3+N-1, IST PORT+6+N-1, SST PORT+9+N-1
#
# start: with no node running, makes a new cluster: node 1 from a fresh
# mariadb-install-db, bootstrapped (--wsrep-new-cluster); nodes 2 and 3
# join with empty data directories and get a full state transfer (rsync).
# With some nodes running (a test killed one), starts only the missing
# ones, which join the running cluster the same way. Then waits (at most
# PJ_GALERA_WAIT seconds, default 120) until every node reports
# wsrep_cluster_size=3 and Synced, or fails with the tail of the log of
# the node that is not (the nodes that did start are left running, to
# look at; stop stops them). stop: SIGTERM by pid file, node 3 first
# (SIGKILL after 30 s, which a joiner in a state transfer may need).
#
# As root, the joiner's rsync daemon runs as nobody: its empty data
# directory is made writable by nobody before it joins, so the directory
# must be reachable by that user (not under a 0700 parent).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${PJ_GALERA_DIR:-$root/build/galera}
port=${PJ_GALERA_PORT:-13320}
wait_s=${PJ_GALERA_WAIT:-120}
provider=/usr/lib/galera/libgalera_smm.so
nodes=(1 2 3)

sb_name=galera-sandbox
# shellcheck source=scripts/sandbox-lib.sh
source "$root/scripts/sandbox-lib.sh"

[[ $port =~ ^[0-9]+$ ]] && ((port >= 1024 && port <= 65523)) ||
    sb_die "PJ_GALERA_PORT must be a number 1024..65523: $port"
[[ $wait_s =~ ^[0-9]+$ ]] || sb_die "PJ_GALERA_WAIT is not a number: $wait_s"
mkdir -p "$base"
base=$(cd "$base" && pwd)

node_dir() { echo "$base/node$1"; }
node_data() { echo "$base/node$1/data"; }
node_pidfile() { echo "$base/node$1/mysqld.pid"; }
node_log() { echo "$base/node$1/mysqld.log"; }
node_sock() { sb_socket_path "$(node_dir "$1")"; }
sql_port() { echo $((port + $1 - 1)); }
gcomm_port() { echo $((port + 3 + $1 - 1)); }
ist_port() { echo $((port + 6 + $1 - 1)); }
sst_port() { echo $((port + 9 + $1 - 1)); }

node_pid() {
	sb_running_pid "$(node_pidfile "$1")" "$(node_data "$1")"
}

# One status or variable of node n ("" when it does not answer).
node_value() {
	mariadb --no-defaults --socket="$(node_sock "$1")" --user=root \
	    --connect-timeout=2 --batch --skip-column-names \
	    -e "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2 || true
}

cluster_address() {
	local n list=""
	for n in "${nodes[@]}"; do
		list+="${list:+,}127.0.0.1:$(gcomm_port "$n")"
	done
	echo "gcomm://$list"
}

# Starts mariadbd for node n; bootstrap=1 makes a new cluster of it.
launch() {
	local n=$1 bootstrap=$2 dir datadir log args pid
	dir=$(node_dir "$n")
	datadir=$(node_data "$n")
	log=$(node_log "$n")
	mkdir -p "$dir/tmp"
	mapfile -t args < <(sb_server_args "$dir" "$datadir" "$(node_sock "$n")" \
	    "$(sql_port "$n")" "$(node_pidfile "$n")" "$log")
	args+=(--server-id="$n" --skip-log-bin --binlog-format=ROW
		--innodb-buffer-pool-size=64M
		--innodb-autoinc-lock-mode=2
		--innodb-lock-wait-timeout=50 --lock-wait-timeout=60
		--wsrep-on=ON --wsrep-provider="$provider"
		--wsrep-cluster-name=pj_galera_sandbox
		--wsrep-node-name="node$n"
		--wsrep-node-address="127.0.0.1:$(gcomm_port "$n")"
		--wsrep-sst-method=rsync
		--wsrep-sst-receive-address="127.0.0.1:$(sst_port "$n")"
		--wsrep-slave-threads=2
		# A killed node leaves the view within seconds, not 15.
		"--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT5S;evs.install_timeout=PT5S")
	if ((bootstrap)); then
		args+=(--wsrep-cluster-address=gcomm:// --wsrep-new-cluster)
	else
		args+=(--wsrep-cluster-address="$(cluster_address)")
	fi
	: >>"$log"
	echo $(($(stat -c %s "$log") + 1)) >"$dir/log_from"
	mariadbd "${args[@]}" </dev/null >>"$log" 2>&1 &
	pid=$!
	echo "$pid" >"$(node_pidfile "$n")"
	sb_say "node $n: started (pid $pid, port $(sql_port "$n")$( ((bootstrap)) && echo ", bootstrap"))"
}

# An empty data directory the joiner's rsync daemon (nobody, as root)
# can fill.
empty_datadir() {
	local datadir
	datadir=$(node_data "$1")
	rm -rf "$datadir"
	mkdir -p "$datadir"
	if ((EUID == 0)); then
		chown nobody:nogroup "$datadir"
		if ! runuser -u nobody -- test -w "$datadir"; then
			sb_die "node $1: user nobody cannot write $datadir (a parent directory is not searchable): choose another PJ_GALERA_DIR"
		fi
	fi
}

# Fails with what node n logged since its start.
node_fail() {
	local n=$1
	shift
	sb_log_tail "$(node_log "$n")" \
	    "$(cat "$(node_dir "$n")/log_from" 2>/dev/null || echo 1)"
	sb_die "node $n: $*"
}

# Waits until node n is Synced and sees want nodes (0: any number; a
# joiner must have its state before the next one joins, or both ask for
# a donor), or fails with its log at the deadline (epoch seconds).
wait_synced() {
	local n=$1 want=$2 deadline=$3 size state
	while :; do
		node_pid "$n" >/dev/null || node_fail "$n" "exited before it was synced"
		size=$(node_value "$n" wsrep_cluster_size)
		state=$(node_value "$n" wsrep_local_state_comment)
		if [[ $state == Synced ]] && ((want == 0 || ${size:-0} == want)); then
			return 0
		fi
		if (($(date +%s) >= deadline)); then
			node_fail "$n" "not synced within ${wait_s} s (cluster size '${size}', state '${state}')"
		fi
		sleep 0.5
	done
}

start() {
	local n running=() missing=() deadline
	[[ -r $provider ]] ||
	    sb_die "$provider not found (install galera-4: scripts/bootstrap.sh)"
	command -v rsync >/dev/null || sb_die "rsync not found (scripts/bootstrap.sh)"
	if ((EUID == 0)); then
		chmod 755 "$base"
	fi
	for n in "${nodes[@]}"; do
		mkdir -p "$(node_dir "$n")"
		if node_pid "$n" >/dev/null; then
			running+=("$n")
		else
			rm -f "$(node_pidfile "$n")"
			missing+=("$n")
		fi
	done
	deadline=$(($(date +%s) + wait_s))
	if ((${#running[@]} == 0)); then
		# A new cluster: node 1 fresh and bootstrapped, the others
		# join it with empty data directories.
		rm -rf "$(node_data 1)"
		sb_init_datadir "$(node_dir 1)" "$(node_data 1)"
		rm -f "$(node_data 1)/grastate.dat"
		launch 1 1
		wait_synced 1 0 "$deadline"
		missing=("${missing[@]:1}")
	fi
	for n in "${missing[@]}"; do
		empty_datadir "$n"
		launch "$n" 0
		wait_synced "$n" 0 "$deadline"
	done
	for n in "${nodes[@]}"; do
		wait_synced "$n" "${#nodes[@]}" "$deadline"
	done
	sb_say "running: 3 nodes synced (SQL ports $(sql_port 1) $(sql_port 2) $(sql_port 3))"
}

stop() {
	local n pid failed=0
	for n in 3 2 1; do
		if ! pid=$(node_pid "$n"); then
			rm -f "$(node_pidfile "$n")"
			continue
		fi
		if sb_stop_pid "$pid"; then
			rm -f "$(node_pidfile "$n")" "$(node_sock "$n")" "$(node_sock "$n").lock"
			sb_say "node $n: stopped (pid $pid)"
		else
			echo "$sb_name: node $n: pid $pid is still alive" >&2
			failed=1
		fi
	done
	((failed == 0)) || exit 1
	sb_say "stopped"
}

status() {
	local n pid rc=0
	for n in "${nodes[@]}"; do
		if pid=$(node_pid "$n"); then
			sb_say "node $n: pid $pid, port $(sql_port "$n"), cluster size '$(node_value "$n" wsrep_cluster_size)', state '$(node_value "$n" wsrep_local_state_comment)'"
		else
			sb_say "node $n: not running"
			rc=3
		fi
	done
	return "$rc"
}

print_env() {
	local n
	printf 'export PJ_GALERA_DIR=%q\n' "$base"
	printf 'export PJ_GALERA_PORT=%q\n' "$port"
	for n in "${nodes[@]}"; do
		printf 'export PJ_GALERA_SOCKET_%d=%q\n' "$n" "$(node_sock "$n")"
		printf 'export PJ_GALERA_SQL_PORT_%d=%q\n' "$n" "$(sql_port "$n")"
		printf 'export PJ_GALERA_PID_FILE_%d=%q\n' "$n" "$(node_pidfile "$n")"
	done
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
env) print_env ;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
