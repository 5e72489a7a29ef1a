#!/usr/bin/env bash
# `cmake --install` puts every file where an operator expects it: run on
# the release tree scripts/test.sh builds (build-release, configured with
# prefix /usr as a package is, so the config lands in /etc), into a
# scratch DESTDIR.
set -euo pipefail

root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
build=${PJ_RELEASE_DIR:-$root/build-release}
if [[ ! -f $build/cmake_install.cmake ]]; then
	echo "install: no release build in $build (scripts/test.sh makes it)"
	[[ ${CI:-} == true ]] && exit 1
	exit 77
fi
if ! grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$build/CMakeCache.txt"; then
	echo "install: $build is not configured with CMAKE_INSTALL_PREFIX=/usr"
	exit 1
fi
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
DESTDIR=$dest cmake --install "$build" >/dev/null
want=(
	etc/placement-janitor/placement-janitor.yaml
	usr/sbin/placement-janitor
	usr/share/placement-janitor/sql/placement-schema.sql
	usr/share/placement-janitor/sql/archive.sql
	usr/share/placement-janitor/sql/grants.sql
	usr/share/man/man8/placement-janitor.8
	usr/lib/systemd/system/placement-janitor.service
	usr/lib/systemd/system/placement-janitor.timer
	usr/lib/systemd/system/placement-janitor-loop.service
	usr/share/doc/placement-janitor/examples/cron
)
bad=0
for f in "${want[@]}"; do
	if [[ ! -f $dest/$f ]]; then
		echo "install: missing /$f"
		bad=1
	fi
done
mode=$(stat -c %a "$dest/etc/placement-janitor/placement-janitor.yaml")
if [[ $mode != 600 ]]; then
	echo "install: the config is mode $mode, not 600"
	bad=1
fi
((bad == 0)) && echo "install: ok (${#want[@]} files in place, config 0600)"
exit "$bad"
