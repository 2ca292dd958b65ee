#!/usr/bin/env bash
# make bench, section 4: scale. A store with N on-demand certificates (BENCH_SCALE_N, 10,000 by default; 100,000
# take a few minutes to generate: one writer per core, the store on tmpfs (BENCH_SCALE_TMPDIR, /dev/shm), where
# the store's fsyncs cost nothing; on ext4 they made 100,000 a quarter of an hour), each a P-256 leaf under one shared test intermediate, written through the
# store's API (tests/bench/bench_scale.c gen), served by nginx (master + 2 workers) under the shim with
# AUTOTLS_ON_DEMAND=1 and AUTOTLS_ALLOW=*.scale.test. Every figure is printed beside its baseline from this run:
#   - PSS per certificate summed over the tree (master, workers, manager process): N against 1 stored certificate
#   - server start to the first verified managed handshake, and to the last of the N names served
#   - instructions (callgrind) of one sync after one certificate changed: 1,000 against N certificates
#   - instructions (callgrind) per handshake (in memory, the cache looked up as the hook does): N against 1 name,
#     and of a name's first handshake in a process (its record parsed lazily then)
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/bench_lib.sh
N=${BENCH_SCALE_N:-10000}
bench_tmp autotls-bench-scale
run_server() { # n: stores n certificates, starts nginx, prints "start_ms all_ms pss_kb nprocs"
	local n=$1 d="$TMP/n$1" p
	p=$(port)
	mkdir -p "$d"
	bench_server_files "$d" "$n" "$p"
	local t0 t1 t2 last
	last=n$((n - 1)).scale.test
	t0=$(now_ms)
	AUTOTLS_DOMAINS=$MANAGED AUTOTLS_CA=$CA_URL AUTOTLS_STORAGE="$d/store" AUTOTLS_LOG="$d/autotls.log" \
		AUTOTLS_ON_DEMAND=1 AUTOTLS_ALLOW='*.scale.test' LD_PRELOAD="$LIB" nginx -c "$d/nginx.conf" -p "$d"
	until verifies "$p" "$MANAGED" "$d/root.pem"; do sleep 0.01; done
	t1=$(now_ms)
	for _ in $(seq 1 3000); do verifies "$p" "$last" "$d/root.pem" && break; sleep 0.1; done
	verifies "$p" "$last" "$d/root.pem" || { echo "bench_scale: $last is not served" >&2; exit 1; }
	t2=$(now_ms)
	read -r pss procs < <(bench_settled_pss "$p" "$n" "$d/root.pem")
	echo "$((t1 - t0)) $((t2 - t0)) $pss $procs"
	bench_nginx_stop
}

read -r b_start b_all b_pss b_procs < <(run_server 1)
read -r s_start s_all s_pss s_procs < <(run_server "$N")
echo "server start to the first verified managed handshake: ${b_start} ms with 1 stored certificate, ${s_start} ms with $N"
echo "server start to the last of the names served: ${b_all} ms with 1, ${s_all} ms with $N"
awk -v a="$b_pss" -v b="$s_pss" -v n="$N" -v p="$s_procs" 'BEGIN {
	printf "PSS summed over the tree (%d processes: master, workers, manager): %d kB with 1 certificate, %d kB with %d: %.1f KiB per certificate\n", p, a, b, n, (b - a) / (n - 1) }'

[ -z "${BENCH_SCALE_PSS_ONLY:-}" ] || exit 0 # the server figures only (BENCH_SCALE_PSS_ONLY=1)

# In-process figures under callgrind (the parsing before the measured part runs uninstrumented).
ir_of() { # dump-name file...: the summary of the dump with that trigger
	for f in "${@:2}"; do grep -q "^desc: Trigger: Client Request: $1" "$f" && sed -n 's/^summary: //p' "$f"; done
}
inproc() { # n dir
	local d=$2
	[ -f "$d/root.pem" ] || "$BIN" gen "$d/store" "$CA_URL" "$1" "$d/root.pem" >/dev/null
	(cd "$d" && rm -f callgrind.out.* && valgrind --tool=callgrind --instr-atstart=no \
		"$BIN" inproc "$d/store" "$CA_URL" "$1" "$d/root.pem" >/dev/null 2>&1)
	echo "$(ir_of sync "$d"/callgrind.out.*.*) $(ir_of handshake "$d"/callgrind.out.*.*) $(ir_of first "$d"/callgrind.out.*.*)"
}
mkdir -p "$TMP/k1"
read -r sync1k _ _ < <(inproc 1000 "$TMP/k1")
read -r _ hs1 first1 < <(inproc 1 "$TMP/n1")
read -r syncn hsn firstn < <(inproc "$N" "$TMP/n$N")
awk -v a="$sync1k" -v b="$syncn" -v n="$N" 'BEGIN {
	printf "one sync after one certificate changed, instructions: %d at 1,000 certificates, %d at %d, ratio %.2f\n", a, b, n, b / a }'
awk -v a="$hs1" -v b="$hsn" -v n="$N" 'BEGIN {
	printf "instructions per handshake (client and server, in memory, 20 handshakes, names used before): %d with 1 name, %d with %d, ratio %.3f\n", a / 20, b / 20, n, b / a }'
awk -v a="$first1" -v b="$firstn" -v h="$hsn" -v n="$N" 'BEGIN {
	printf "the first handshake for a name in a process (its record parsed then): %d instructions with %d names (%d with 1 name, where every name was used before); a later one %d\n", b / 20, n, a / 20, h / 20 }'
