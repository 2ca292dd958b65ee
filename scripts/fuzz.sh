#!/usr/bin/env bash
# Runs each libFuzzer target for a while: scripts/fuzz.sh <build-dir> <seconds> <target>...
#
# Called by `make fuzz` once every target is built into <build-dir>. Each target runs on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/: the committed seeds stay as they are), with its dictionary
# (tests/fuzz/<target>.dict) and extra libFuzzer flags (tests/fuzz/<target>.options) when they exist. A crash,
# a leak or a broken property fails the run: the input is kept as <build-dir>/artifacts/<target>/crash-* and the
# log as <build-dir>/logs/<target>.log. Prints one line a target; exits 1 when any failed.
set -uo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 <build-dir> <seconds> <target>..." >&2
	exit 2
fi
build=$1
seconds=$2
shift 2
fail=0
mkdir -p "$build/logs"
for t in "$@"; do
	corpus=$build/corpus/$t
	artifacts=$build/artifacts/$t
	log=$build/logs/$t.log
	rm -rf "$corpus" "$artifacts"
	mkdir -p "$corpus" "$artifacts"
	cp tests/fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
	flags=()
	[ -f "tests/fuzz/$t.dict" ] && flags+=("-dict=tests/fuzz/$t.dict")
	# shellcheck disable=SC2207 # the options file is whitespace-separated flags
	[ -f "tests/fuzz/$t.options" ] && flags+=($(cat "tests/fuzz/$t.options"))
	if "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
		"${flags[@]}" -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
		printf '  %-6s %-22s %s runs, %s corpus files\n' FUZZ "$t" \
			"$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" "$(find "$corpus" -type f | wc -l)"
	else
		fail=1
		printf '  %-6s %-22s FAILED (log: %s)\n' FUZZ "$t" "$log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*property broken)' "$log" | head -5
		ls "$artifacts"
	fi
done
exit $fail
