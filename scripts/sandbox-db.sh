#!/usr/bin/env bash
# A throwaway MariaDB server for tests and demos, in a private directory.
#
#   scripts/sandbox-db.sh start|stop|restart|status|env|sql [mariadb args]
#
# Settings (environment):
#   PJ_SANDBOX_DIR   its directory (default <repo>/build/sandbox)
#   PJ_SANDBOX_PORT  TCP port on 127.0.0.1 (default 13306)
#   PJ_SANDBOX_TZ    server time zone, e.g. '+05:30' (default: the system's)
#   PJ_SANDBOX_LOCK_WAIT_TIMEOUT  innodb_lock_wait_timeout in s (default 50)
#   PJ_SANDBOX_MDL_TIMEOUT  lock_wait_timeout (metadata locks) in s (default
#                    60, not a year: a test that waits on its own idle
#                    transaction fails instead of hanging)
#   PJ_SANDBOX_EXTRA_ARGS  more mariadbd options, split on spaces, after
#                    the defaults (so they win), e.g. binary logging for a
#                    replication primary: '--log-bin=mysql-bin --server-id=1'
#
# The server reads no option file (--no-defaults), keeps data, temp files,
# socket, pid file and log in its directory, and never touches a system
# MariaDB service or /etc/mysql. root connects over the socket without a
# password, as any OS user.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PJ_SANDBOX_DIR:-$root/build/sandbox}
port=${PJ_SANDBOX_PORT:-13306}
tz=${PJ_SANDBOX_TZ:-}
lock_wait=${PJ_SANDBOX_LOCK_WAIT_TIMEOUT:-50}
mdl_wait=${PJ_SANDBOX_MDL_TIMEOUT:-60}
read -r -a extra_args <<<"${PJ_SANDBOX_EXTRA_ARGS:-}"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
datadir=$dir/data
tmpdir=$dir/tmp
pidfile=$dir/mysqld.pid
portfile=$dir/port
log=$dir/mysqld.log

sb_name=sandbox-db
# shellcheck source=scripts/sandbox-lib.sh
source "$root/scripts/sandbox-lib.sh"

say() {
	sb_say "$@"
}

die() {
	sb_die "$@"
}

sock=$(sb_socket_path "$dir")
[[ $port =~ ^[0-9]+$ ]] || die "PJ_SANDBOX_PORT is not a number: $port"

# The port of the running server, whatever PJ_SANDBOX_PORT says now.
running_port() {
	if running_pid >/dev/null && [[ -s $portfile ]]; then
		tr -dc '0-9' <"$portfile"
	else
		echo "$port"
	fi
}

running_pid() {
	sb_running_pid "$pidfile" "$datadir"
}

alive() {
	sb_alive "$1"
}

ping_server() {
	sb_ping "$sock"
}

start() {
	local pid args i log_from=1 why="did not answer within 30 s"
	if pid=$(running_pid); then
		if ping_server; then
			say "already running (pid $pid, socket $sock, port $(running_port))"
			return 0
		fi
	else
		rm -f "$pidfile"
	fi
	mkdir -p "$tmpdir"
	sb_init_datadir "$dir" "$datadir"
	if [[ -z ${pid:-} ]]; then
		mapfile -t args < <(sb_server_args "$dir" "$datadir" "$sock" \
		    "$port" "$pidfile" "$log")
		args+=(--skip-log-bin
			--innodb-buffer-pool-size=256M
			--innodb-lock-wait-timeout="$lock_wait"
			--lock-wait-timeout="$mdl_wait")
		if [[ -n $tz ]]; then
			args+=(--default-time-zone="$tz")
		fi
		args+=("${extra_args[@]}")
		: >>"$log"
		log_from=$(($(stat -c %s "$log") + 1))
		mariadbd "${args[@]}" </dev/null >>"$log" 2>&1 &
		pid=$!
		echo "$pid" >"$pidfile"
		echo "$port" >"$portfile"
	fi
	for ((i = 0; i < 60; i++)); do
		if ping_server; then
			say "running (pid $pid, socket $sock, port $port${tz:+, time zone $tz})"
			return 0
		fi
		if ! alive "$pid"; then
			why="exited"
			break
		fi
		sleep 0.5
	done
	sb_log_tail "$log" "$log_from"
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
	die "server $why"
}

stop() {
	local pid i
	if ! pid=$(running_pid); then
		rm -f "$pidfile"
		say "not running"
		return 0
	fi
	sb_stop_pid "$pid" || die "pid $pid is still alive"
	rm -f "$pidfile" "$portfile" "$sock" "$sock.lock"
	say "stopped (pid $pid)"
}

status() {
	local pid
	if pid=$(running_pid) && ping_server; then
		say "running (pid $pid, socket $sock, port $(running_port))"
		return 0
	fi
	say "not running"
	return 3
}

print_env() {
	printf 'export PJ_TEST_SOCKET=%q\n' "$sock"
	printf 'export PJ_TEST_PORT=%q\n' "$(running_port)"
	printf 'export PJ_SANDBOX_DIR=%q\n' "$dir"
}

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
start) start ;;
stop) stop ;;
restart)
	stop
	start
	;;
status) status ;;
env) print_env ;;
sql)
	running_pid >/dev/null || die "not running (start it first)"
	exec mariadb --no-defaults --socket="$sock" --user=root "$@"
	;;
*)
	echo "usage: $0 start|stop|restart|status|env|sql [mariadb args]" >&2
	exit 2
	;;
esac
