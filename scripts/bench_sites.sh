#!/usr/bin/env bash
# make bench, section 5: many sites (AUTOTLS_SITES, issue 10). nginx (master + 2 workers as www-data) with a
# sites file of BENCH_SITES_N lines (1,000 by default, two names each) against the local Pebble, every site
# verified by a client that trusts only Pebble's root with exactly its own names (tests/integ/test_805, run with
# that many lines). Printed: sites issued per second, against the managed single name's time to its first
# certificate in the same run.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
N=${BENCH_SITES_N:-1000}
AUTOTLS_TEST_SITES_N=$N "$BUILD/tests/integ/test_805_sites_many" | grep -E '^(BENCH|  [0-9]|PASS|FAIL)'
