#!/usr/bin/env bash
# make bench, section 5: many sites (AUTOTLS_SITES, issue 10).
#   a. issuance: nginx (master + 2 workers as www-data) with a sites file of BENCH_SITES_N lines (1,000 by
#      default, two names each) against the local Pebble, every site verified by a client that trusts only
#      Pebble's root with exactly its own names (tests/integ/test_805, run with that many lines). Printed: sites
#      issued per second, against the managed single name's time to its first certificate in the same run.
#   b. on-demand burst: BENCH_BURST_N (2,000) new on-demand names asked for at once with the rate raised, all
#      issued and verified; the managed name's handshake latency during the burst; memory per name
#      (tests/integ/test_813, run with that many names).
#   c. restart with stored sites: BENCH_SITES_STORED (10,000; 100,000 takes minutes to generate) single-name
#      sites whose certificates a test CA signed into the store (issue 9's generator, tests/bench/bench_scale.c
#      gen), a sites file naming them, nginx started with AUTOTLS_DOMAINS and AUTOTLS_SITES and a CA that is never
#      reachable: start to the first managed handshake (2 s at most), start to the last site served, no order
#      placed, PSS per site across the whole tree (against one stored site). Instructions per handshake against
#      one site are section 4's (bench_scale.sh: a site's certificate is published and looked up exactly as an
#      on-demand one is).
# BENCH_SITES_ONLY=a|b|c runs one part.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ONLY=${BENCH_SITES_ONLY:-}
N=${BENCH_SITES_N:-1000}
if [ -z "$ONLY" ] || [ "$ONLY" = a ]; then
	AUTOTLS_TEST_SITES_N=$N "$BUILD/tests/integ/test_805_sites_many" | grep -E '^(BENCH|  [0-9]|PASS|FAIL)'
fi
if [ -z "$ONLY" ] || [ "$ONLY" = b ]; then
	AUTOTLS_TEST_BURST_N=${BENCH_BURST_N:-2000} AUTOTLS_TEST_BURST_SETTLE_S=${BENCH_SCALE_SETTLE_S:-65} \
		"$BUILD/tests/integ/test_813_ondemand_burst" |
		grep -E '^(BENCH|  [0-9a-zA-Z]|PASS|FAIL)' | grep -v 'autotls\['
fi
[ -z "$ONLY" ] || [ "$ONLY" = c ] || exit 0

. scripts/bench_lib.sh
S=${BENCH_SITES_STORED:-10000}
bench_tmp autotls-bench-sites
run_sites() { # n: n stored sites; prints "first_ms all_ms pss_kb nprocs orders_logged"
	local n=$1 d="$TMP/s$1" p
	p=$(port)
	mkdir -p "$d"
	bench_server_files "$d" "$n" "$p"
	for ((i = 0; i < n; i++)); do echo "n$i.scale.test"; done >"$d/sites.txt"
	local t0 t1 t2 first last
	first=n0.scale.test
	last=n$((n - 1)).scale.test
	t0=$(now_ms)
	AUTOTLS_DOMAINS=$MANAGED AUTOTLS_SITES="$d/sites.txt" AUTOTLS_CA=$CA_URL AUTOTLS_STORAGE="$d/store" \
		AUTOTLS_LOG="$d/autotls.log" LD_PRELOAD="$LIB" nginx -c "$d/nginx.conf" -p "$d"
	until verifies "$p" "$MANAGED" "$d/root.pem"; do sleep 0.01; done
	t1=$(now_ms)
	# Every site looked at and served: its "found in the store" line (one a site), then two verified.
	for _ in $(seq 1 30000); do
		[ "$(grep -c 'found in the store, served' "$d/autotls.log" || true)" -ge "$n" ] && break
		sleep 0.05
	done
	t2=$(now_ms)
	verifies "$p" "$last" "$d/root.pem" && verifies "$p" "$first" "$d/root.pem" ||
		{ echo "bench_sites: $first or $last is not served" >&2; exit 1; }
	read -r pss procs < <(bench_settled_pss "$p" "$n" "$d/root.pem")
	# An order would have to reach the CA, which listens nowhere: any try is logged as a failure.
	local orders
	orders=$(grep -cE 'sites: .* failed|obtaining a certificate .* failed|new order' "$d/autotls.log" || true)
	echo "$((t1 - t0)) $((t2 - t0)) $pss $procs $orders"
	bench_nginx_stop
}
read -r b_first b_all b_pss b_procs b_orders < <(run_sites 1)
read -r s_first s_all s_pss s_procs s_orders < <(run_sites "$S")
echo "restart with stored sites: start to the first verified managed handshake ${b_first} ms with 1 site, ${s_first} ms with $S (bound: 2000 ms)"
echo "start to every site served (each logged found in the store and published): ${b_all} ms with 1, ${s_all} ms with $S; orders tried: ${b_orders} and ${s_orders}"
awk -v a="$b_pss" -v b="$s_pss" -v n="$S" -v p="$s_procs" 'BEGIN {
	printf "PSS summed over the tree (%d processes: master, workers, manager): %d kB with 1 site, %d kB with %d: %.1f KiB per site\n", p, a, b, n, (b - a) / (n - 1) }'
echo "BENCH sites_stored n=$S first_managed_ms=$s_first all_served_ms=$s_all orders=$s_orders pss_kb=$s_pss pss_1_kb=$b_pss"
[ "$s_first" -le 2000 ] && [ "$s_orders" -eq 0 ] || { echo "bench_sites: FAIL (first handshake over 2 s or an order tried)" >&2; exit 1; }
