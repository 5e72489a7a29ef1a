#!/usr/bin/env bash
# The systemd units in config/systemd/ must pass `systemd-analyze verify`
# without a single message about them (unknown keys, bad values and
# specifiers are only warnings there, with exit status 0, so the lint
# reads the output), and keep their hardening: `systemd-analyze security
# --offline` must rate each service's exposure at most PJ_UNIT_EXPOSURE_MAX
# (default 2.0; 10 is unprotected).
#
# Without systemd as PID 1 (containers, CI) verify needs --root on a staged
# tree holding the distribution's units that ours depend on
# (docs: testbed-notes.md), so the lint stages one: our units in
# etc/systemd/system, a copy of /usr/lib/systemd/system, a stub
# /usr/sbin/placement-janitor, and our man page, which verify looks up for
# Documentation=man:placement-janitor(8).
#
# Before the real check the lint checks itself on planted broken units.
# No systemd-analyze: exit 77 (skip), or fail when CI=true.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
units=$root/config/systemd
manpage=$root/config/placement-janitor.8
exposure_max=${PJ_UNIT_EXPOSURE_MAX:-2.0}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	if [[ ${CI:-} == true ]]; then
		echo "systemd_units: FAIL: systemd-analyze not found (apt-get install systemd; CI=true: nothing may be skipped)" >&2
		exit 1
	fi
	echo "systemd_units: SKIP: systemd-analyze not found (apt-get install systemd)"
	exit 77
fi
distro=
for d in /usr/lib/systemd/system /lib/systemd/system; do
	if [[ -d $d ]]; then
		distro=$d
		break
	fi
done
if [[ -z $distro ]]; then
	echo "systemd_units: FAIL: no /usr/lib/systemd/system to stage" >&2
	exit 1
fi
# verify runs man(1) for Documentation=man: links; without man it cannot.
man_opt=--man=yes
if ! command -v man >/dev/null 2>&1; then
	man_opt=--man=no
	echo "systemd_units: note: man not found, Documentation= links not checked"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# stage TREE UNIT_FILE...: a root for verify holding these unit files.
stage() {
	local tree=$1
	shift
	mkdir -p "$tree/etc/systemd/system" "$tree/usr/lib/systemd" \
	    "$tree/usr/sbin" "$tree/usr/share/man/man8"
	cp -R "$distro" "$tree/usr/lib/systemd/system"
	cp "$@" "$tree/etc/systemd/system/"
	printf '#!/bin/sh\nexit 0\n' >"$tree/usr/sbin/placement-janitor"
	chmod 755 "$tree/usr/sbin/placement-janitor"
	cp "$manpage" "$tree/usr/share/man/man8/placement-janitor.8"
}

# findings TREE UNIT...: prints each problem with our units; one line each.
findings() {
	local tree=$1 out rc=0 unit score
	shift
	out=$(MANPATH=$tree/usr/share/man systemd-analyze verify "$man_opt" \
	    --root="$tree" "$@" 2>&1) || rc=$?
	# Messages about distribution units are not ours to fix.
	if [[ -n $out ]]; then
		grep -F -e 'placement-janitor' -e "$tree/etc/systemd/system" \
		    <<<"$out" | sed 's/^/verify: /' || true
	fi
	if ((rc != 0)); then
		echo "verify: exit status $rc"
	fi
	for unit in "$@"; do
		[[ $unit == *.service ]] || continue
		score=$(systemd-analyze security --offline=yes --root="$tree" \
		    "$unit" 2>/dev/null |
		    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		if [[ -z $score ]]; then
			echo "security: $unit: no exposure level"
		elif awk -v s="$score" -v m="$exposure_max" 'BEGIN { exit !(s > m) }'; then
			echo "security: $unit: exposure $score > $exposure_max"
		fi
	done
}

# The lint must still catch what it is for.
self_test() {
	local t=$work/selftest got
	mkdir -p "$t/src"
	sed -e 's/^ProtectSystem=strict$/ProtectSystm=strict/' \
	    "$units/placement-janitor.service" >"$t/src/pj-typo.service"
	sed -e 's/^SuccessExitStatus=.*/SuccessExitStatus=1 FOO/' \
	    "$units/placement-janitor.service" >"$t/src/pj-value.service"
	sed -e '/^NoNewPrivileges=/d; /^ProtectSystem=/d; /^SystemCallFilter=/d;
	    /^PrivateDevices=/d; /^CapabilityBoundingSet=/d; /^DynamicUser=/d;
	    /^ProtectKernel/d; /^RestrictAddressFamilies=/d; /^PrivateUsers=/d' \
	    "$units/placement-janitor.service" >"$t/src/pj-soft.service"
	stage "$t/tree" "$t/src/"*.service
	got=$(findings "$t/tree" pj-typo.service pj-value.service \
	    pj-soft.service)
	local want
	for want in "pj-typo.service:.*Unknown key 'ProtectSystm'" \
	    "pj-value.service:.*FOO" "security: pj-soft.service: exposure"; do
		if ! grep -q -e "$want" <<<"$got"; then
			echo "systemd_units: SELF-TEST FAILED: no finding matching \"$want\" in:" >&2
			echo "$got" >&2
			exit 1
		fi
	done
	if grep -q 'pj-typo.service: exposure' <<<"$got"; then
		echo "systemd_units: SELF-TEST FAILED: a hardened unit was flagged:" >&2
		echo "$got" >&2
		exit 1
	fi
}

self_test
ours=()
for f in "$units"/*.service "$units"/*.timer; do
	ours+=("$(basename "$f")")
done
stage "$work/tree" "$units"/*.service "$units"/*.timer
problems=$(findings "$work/tree" "${ours[@]}")
if [[ -n $problems ]]; then
	echo "$problems"
	echo "systemd_units: FAIL: $(wc -l <<<"$problems") problem(s) in config/systemd/" >&2
	exit 1
fi
echo "systemd_units: ok (${ours[*]}: verify clean, exposure <= $exposure_max)"
