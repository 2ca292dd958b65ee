#!/usr/bin/env bash
# make bench: every benchmark prints a ratio against a baseline measured in the same run.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
echo "== time to a first certificate"
"$BUILD/tests/bench/bench_first_cert"
