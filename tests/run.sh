#!/usr/bin/env bash
# The test runner: tests/run.sh unit integ
#
# Runs every binary in $BUILD/tests/<kind>/ (BUILD defaults to build), kinds in the order given, binaries
# sorted (integration tests are named test_NNN_*, so the number orders them). Each binary runs under a timeout
# (unit 60 s, integ 300 s; UNIT_TIMEOUT and INTEG_TIMEOUT override) with its output passed through; its "PASS "
# and "FAIL " lines are counted. A binary that exits non-zero without printing any FAIL line, or times out,
# counts as one failure named after the binary. The last line is exactly "N passed, M failed"; the exit status
# is 1 when M > 0 or when nothing ran. ONLY (an extended regular expression on the binary's name) restricts the
# run to the matching binaries: CI's sanitizer pass uses it for its representative set. Before the last line, the
# ten slowest binaries with their wall time (CI must keep `make test` near 20 minutes on 2 cores).
set -uo pipefail
ONLY=${ONLY:-.}

BUILD=${BUILD:-build}
passed=0
failed=0
ran=0
times=$(mktemp)
trap 'rm -f "$times"' EXIT

if [ $# -eq 0 ]; then
	echo "usage: $0 unit|integ ..." >&2
	exit 2
fi

for kind in "$@"; do
	case $kind in
	unit) limit=${UNIT_TIMEOUT:-60} ;;
	integ) limit=${INTEG_TIMEOUT:-300} ;;
	*)
		echo "$0: unknown test kind '$kind' (unit, integ)" >&2
		exit 2
		;;
	esac
	dir=$BUILD/tests/$kind
	[ -d "$dir" ] || continue
	while IFS= read -r bin; do
		[ -n "$bin" ] || continue
		name=$(basename "$bin")
		[[ $name =~ $ONLY ]] || continue
		ran=$((ran + 1))
		out=$(mktemp)
		t0=$(date +%s%N)
		# --kill-after: a test that ignores SIGTERM is killed 10 s later. The harness's children die with it.
		timeout --kill-after=10 "$limit" "$bin" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		p=$(grep -c '^PASS ' "$out")
		f=$(grep -c '^FAIL ' "$out")
		rm -f "$out"
		printf '%d %s\n' $((($(date +%s%N) - t0) / 1000000)) "$kind/$name" >>"$times"
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$rc" -eq 124 ]; then
			echo "FAIL $kind/$name: timed out after ${limit}s"
			failed=$((failed + 1))
		elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "FAIL $kind/$name: exited with status $rc without a FAIL line"
			failed=$((failed + 1))
		fi
	done < <(find "$dir" -maxdepth 1 -type f -perm -u+x -name 'test_*' | LC_ALL=C sort)
done

if [ "$ran" -eq 0 ]; then
	echo "no test binaries found under $BUILD/tests/{$(IFS=,; echo "$*")}" >&2
fi
if [ "$ran" -gt 1 ]; then
	total=$(awk '{ s += $1 } END { printf "%.0f", s / 1000 }' "$times")
	echo "slowest of $ran binaries ($total s in all):"
	sort -rn "$times" | head -10 | awk '{ printf "  %7.1f s  %s\n", $1 / 1000, $2 }'
fi
echo "$passed passed, $failed failed"
if [ "$failed" -gt 0 ] || [ "$ran" -eq 0 ]; then
	exit 1
fi
exit 0
