#!/usr/bin/env bash
# The libFuzzer targets, bounded (tests/fuzz/run.sh: 60 s each,
# PJ_FUZZ_SECONDS to choose): any crash, leak, sanitizer report or hang
# fails.
set -euo pipefail
root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
exec bash "$root/tests/fuzz/run.sh"
