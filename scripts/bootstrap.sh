#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the sandbox need.
# Idempotent: when every package is installed already it changes nothing
# and does not touch the network. It never starts, stops or enables a
# system MariaDB service: the sandbox (scripts/sandbox-db.sh) runs its own.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libmariadb-dev libyaml-dev uuid-dev libcmocka-dev
	mariadb-server mariadb-client
	clang clang-format cppcheck
	# Galera provider and state transfer (test_throttle's one-node cluster)
	galera-4 rsync
	# throwaway CA and certificates for test_tls
	openssl
	# systemd-analyze verify of the units; man and groff lint the man page
	systemd man-db groff-base
	# clang-tidy, valgrind memcheck, and the libFuzzer runtime
	clang-tidy valgrind libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [[ $status != "install ok installed" ]]; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} == 0)); then
	echo "bootstrap: all ${#packages[@]} packages installed"
	exit 0
fi
echo "bootstrap: missing: ${missing[*]}"

if ((EUID == 0)); then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "bootstrap: not root and no sudo; as root, run:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

# A package's maintainer scripts start services through invoke-rc.d, which
# asks /usr/sbin/policy-rc.d first: exit 101 means "do not start". If the
# machine has no such policy, put one in place for this install only.
policy=/usr/sbin/policy-rc.d
own_policy=false
cleanup() {
	if $own_policy; then
		"${as_root[@]}" rm -f "$policy"
	fi
}
trap cleanup EXIT
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# placement-janitor bootstrap: start no service\nexit 101\n' |
	    "${as_root[@]}" tee "$policy" >/dev/null
	"${as_root[@]}" chmod 755 "$policy"
	own_policy=true
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
echo "bootstrap: installed ${missing[*]}"
