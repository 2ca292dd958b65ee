#!/usr/bin/env bash
# A three-member etcd cluster on loopback, for trying a fleet by hand (not for production: no TLS, no
# authentication, data under /tmp). Needs etcd-server and etcd-client (scripts/deps.sh installs them).
#
#   scripts/etcd-cluster.sh start    # members on 127.0.0.1:23791..23793 (peers 23801..23803); prints AUTOTLS_STORAGE
#   scripts/etcd-cluster.sh status   # each member's health and who leads
#   scripts/etcd-cluster.sh kill N   # SIGKILL member N (0..2), to watch a fleet ride over it
#   scripts/etcd-cluster.sh stop     # stops all three and removes the data
#
# ETCD_TRIAL_DIR (default /tmp/autotls-etcd) holds the data, logs and pid files; ETCD_TRIAL_PORT (default 23791)
# the first client port.
set -euo pipefail

dir=${ETCD_TRIAL_DIR:-/tmp/autotls-etcd}
base=${ETCD_TRIAL_PORT:-23791}
cport() { echo $((base + $1)); }
pport() { echo $((base + 10 + $1)); }
endpoints() { echo "http://127.0.0.1:$(cport 0),http://127.0.0.1:$(cport 1),http://127.0.0.1:$(cport 2)"; }

start() {
	command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server etcd-client)" >&2; exit 1; }
	mkdir -p "$dir"
	local cluster="m0=http://127.0.0.1:$(pport 0),m1=http://127.0.0.1:$(pport 1),m2=http://127.0.0.1:$(pport 2)"
	for i in 0 1 2; do
		if [ -f "$dir/m$i.pid" ] && kill -0 "$(cat "$dir/m$i.pid")" 2>/dev/null; then
			echo "member $i already runs (pid $(cat "$dir/m$i.pid"))"
			continue
		fi
		local state=new
		[ -d "$dir/m$i/member" ] && state=existing
		setsid etcd --name "m$i" --data-dir "$dir/m$i" \
			--listen-client-urls "http://127.0.0.1:$(cport $i)" --advertise-client-urls "http://127.0.0.1:$(cport $i)" \
			--listen-peer-urls "http://127.0.0.1:$(pport $i)" --initial-advertise-peer-urls "http://127.0.0.1:$(pport $i)" \
			--initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token autotls-trial \
			--heartbeat-interval 100 --election-timeout 1000 --log-level warn \
			</dev/null >>"$dir/m$i.log" 2>&1 &
		echo $! >"$dir/m$i.pid"
	done
	for _ in $(seq 1 100); do
		if ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" endpoint health >/dev/null 2>&1; then
			echo "etcd: three members healthy; try:"
			echo "  export AUTOTLS_STORAGE=etcd://127.0.0.1:$(cport 0),127.0.0.1:$(cport 1),127.0.0.1:$(cport 2)/fleet"
			return 0
		fi
		sleep 0.2
	done
	echo "etcd: not healthy after 20 s; see $dir/m*.log" >&2
	exit 1
}

status() {
	ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" endpoint status -w table || true
	ETCDCTL_API=3 etcdctl --endpoints="$(endpoints)" endpoint health || true
}

kill_member() {
	local i=${1:?member number 0..2}
	[ -f "$dir/m$i.pid" ] && kill -KILL "$(cat "$dir/m$i.pid")" 2>/dev/null && echo "member $i killed" || true
	rm -f "$dir/m$i.pid"
}

stop() {
	for i in 0 1 2; do
		if [ -f "$dir/m$i.pid" ]; then
			kill "$(cat "$dir/m$i.pid")" 2>/dev/null || true
		fi
	done
	# A leader hands its leadership over before it exits: wait for each (5 s), then SIGKILL what is left.
	for i in 0 1 2; do
		[ -f "$dir/m$i.pid" ] || continue
		local pid
		pid=$(cat "$dir/m$i.pid")
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
	echo "etcd: stopped"
}

case "${1:-}" in
start) start ;;
status) status ;;
kill) kill_member "${2:-}" ;;
stop) stop ;;
*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
