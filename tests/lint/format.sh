#!/usr/bin/env bash
# Every C file is formatted as .clang-format says (clang-format 14).
set -euo pipefail
root=$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)
exec bash "$root/scripts/format.sh" --check
