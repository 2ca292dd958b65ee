# shellcheck shell=bash
# Sourced by bench_scale.sh and bench_sites.sh (make bench, sections 4 and 5): the part of their runs that is
# the same. A store filled with test certificates (tests/bench/bench_scale.c gen), nginx (master + 2 workers)
# under the shim serving it, verified handshakes, and the PSS of the whole tree with its manager process.
# Needs ROOT and BUILD set; bench_tmp makes TMP and removes it (and stops nginx) when the script exits.
# shellcheck disable=SC2034 # LIB is the callers' (LD_PRELOAD)
LIB="$ROOT/$BUILD/libautotls.so"
BIN="$ROOT/$BUILD/tests/bench/bench_scale"
CA_URL=https://127.0.0.1:9/directory # never contacted: the store holds every certificate
MANAGED=managed.scale.test

bench_tmp() { # name: TMP, a folder on tmpfs (BENCH_SCALE_TMPDIR, /dev/shm), else under /tmp
	local base=${BENCH_SCALE_TMPDIR:-/dev/shm}
	[ -d "$base" ] && [ -w "$base" ] || base=/tmp
	TMP=$(mktemp -d "$base/$1-XXXXXX")
	trap bench_cleanup EXIT
}
bench_cleanup() {
	[ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
	sleep 0.3
	rm -rf "$TMP"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
verifies() { # port name root
	echo | openssl s_client -connect "127.0.0.1:$1" -servername "$2" -CAfile "$3" -verify_return_error \
		-verify_hostname "$2" >/dev/null 2>&1
}
# PSS in kB of the nginx tree and the tree's manager process (found by the region's memfd it maps).
tree_pss() { # master-pid
	python3 - "$1" <<'PY'
import os, sys
master = int(sys.argv[1])
def region(pid):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            # The region's memfd ("autotls"), not the request channel's ("autotls-chan"): a process whose
            # first descriptor listed was the channel's was not counted as the manager's.
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link == "/memfd:autotls" or link.startswith("/memfd:autotls ("):
                return os.stat(f"/proc/{pid}/fd/{fd}").st_ino
    except OSError:
        pass
    return None
def pss(pid):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0
ino, pids = region(master), {master}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
        if ppid == master or (ino is not None and region(int(p)) == ino):
            pids.add(int(p))
    except OSError:
        pass
if os.environ.get("BENCH_SCALE_DETAIL"):
    # Where the memory is, by process and by mapping (BENCH_SCALE_DETAIL=1): the region's memfd, the heap, the rest.
    for p in sorted(pids):
        kinds, name = {}, None
        for line in open(f"/proc/{p}/smaps"):
            f = line.split()
            if len(f) >= 5 and "-" in f[0] and len(f[3]) == 5 and ":" in f[3]:
                name = f[5] if len(f) > 5 else "[anon]"
                name = "memfd" if name.startswith("/memfd") else name if name.startswith("[") else "file"
            elif f and f[0] == "Pss:":
                kinds[name] = kinds.get(name, 0) + int(f[1])
        comm = open(f"/proc/{p}/comm").read().strip()
        print(f"  pid {p} {comm}: " + ", ".join(f"{k} {v} kB" for k, v in sorted(kinds.items())), file=sys.stderr)
print(sum(pss(p) for p in pids), len(pids))
PY
}
# A store of n certificates under one test root (d/store, d/root.pem; n0..n{n-1}.scale.test and the managed
# name), a placeholder certificate, and d/nginx.conf listening on 127.0.0.1:port (its pid file $TMP/nginx.pid).
bench_server_files() { # dir n port
	local d=$1
	"$BIN" gen "$d/store" "$CA_URL" "$2" "$d/root.pem" "$MANAGED" >/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=placeholder.test" \
		-keyout "$d/ph.key" -out "$d/ph.crt" 2>/dev/null
	cat >"$d/nginx.conf" <<CONF
worker_processes 2;
user root;
pid $TMP/nginx.pid;
error_log $d/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	server {
		listen 127.0.0.1:$3 ssl;
		ssl_certificate $d/ph.crt;
		ssl_certificate_key $d/ph.key;
		location / { return 200 "ok\n"; }
	}
}
CONF
}
# A handshake for a few names on both workers, then the steady state: snapshots retired during the load are
# freed after the cache's grace (CACHE_GRACE_S, 30 s; parsed entries after twice that). Prints "pss_kb nprocs".
bench_settled_pss() { # port n root
	for i in 1 2 3 4; do verifies "$1" "n$(( (i * 7919) % $2 )).scale.test" "$3" || true; done
	sleep "${BENCH_SCALE_SETTLE_S:-65}"
	tree_pss "$(cat "$TMP/nginx.pid")"
}
bench_nginx_stop() {
	kill "$(cat "$TMP/nginx.pid")"
	while [ -f "$TMP/nginx.pid" ]; do sleep 0.1; done
	sleep 1 # the manager process leaves once no process maps the region
}
