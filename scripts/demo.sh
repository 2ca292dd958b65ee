#!/usr/bin/env bash
# make demo: a server gets a certificate from a local test CA with no change to its config.
#
# 1. Starts Pebble and pebble-challtestsrv on loopback (a throwaway CA and listener certificate made here with
#    the openssl CLI; the mock DNS answers 127.0.0.1 for every name; Pebble's tlsPort is the demo server's port,
#    so TLS-ALPN-01 is validated on the server's own listener).
# 2. Starts nginx (or, without nginx, `openssl s_server`) on a free high port with a self-signed placeholder,
#    under the shim through scripts/autotls-run.
# 3. Waits up to 30 s until curl, trusting only Pebble's root, fetches https://demo.example.test:PORT/, then
#    prints the served certificate's subject, issuer and expiry.
# Everything it starts is stopped by PID on exit, and its folder is removed (AUTOTLS_DEMO_KEEP=1 keeps it).
# AUTOTLS_DEMO_SERVER=s_server uses s_server even when nginx is there; AUTOTLS_DEMO_TIMEOUT changes the 30 s.
# Needs what scripts/deps.sh installs, and the build (make).
set -euo pipefail

NAME=demo.example.test
TIMEOUT_S=${AUTOTLS_DEMO_TIMEOUT:-30}
BUILD=${BUILD:-build}
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd -P)
root_dir=$(cd "$here/.." && pwd -P)
case $BUILD in /*) build_dir=$BUILD ;; *) build_dir=$root_dir/$BUILD ;; esac
lib=$build_dir/libautotls.so
PATH=$PATH:/usr/sbin:/sbin

say() { printf 'demo: %s\n' "$*"; }
fail() {
	printf 'demo: FAILED: %s\n' "$*" >&2
	exit 1
}

for tool in openssl curl pebble pebble-challtestsrv python3; do
	command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (run scripts/deps.sh)"
done
[ -f "$lib" ] || fail "$lib does not exist (run make first)"

work=$(mktemp -d "${TMPDIR:-/tmp}/autotls-demo.XXXXXX")
chmod 0755 "$work" # nginx's workers (www-data) traverse it
pids=()
nginx_pid_file=

# Stops one process: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? master i
	trap - EXIT INT TERM
	# nginx daemonises: its master (from the pid file) leads a process group with its workers.
	if [ -n "$nginx_pid_file" ] && [ -s "$nginx_pid_file" ]; then
		master=$(cat "$nginx_pid_file")
		if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
			kill -TERM "$master" 2>/dev/null || true
			for i in $(seq 50); do
				kill -0 -- "-$master" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL -- "-$master" 2>/dev/null || true
		fi
	fi
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	wait 2>/dev/null || true
	if [ -n "${AUTOTLS_DEMO_KEEP:-}" ]; then
		say "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Distinct free loopback ports.
ports=$(python3 - <<'EOF'
import socket
socks = []
for _ in range(6):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
read -r api_port mgmt_port chall_port dns_port http_port port <<<"$ports"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- a throwaway CA for Pebble's own listener ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout "$work/api-ca.key" -out "$work/api-ca.pem" -subj "/CN=autotls demo API root" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	>/dev/null 2>&1 || fail "openssl could not make the API CA"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$work/listener.key" -out "$work/listener.csr" -subj "/CN=localhost" >/dev/null 2>&1 ||
	fail "openssl could not make the listener key"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
	>"$work/listener.ext"
openssl x509 -req -in "$work/listener.csr" -CA "$work/api-ca.pem" -CAkey "$work/api-ca.key" \
	-CAcreateserial -days 2 -extfile "$work/listener.ext" -out "$work/listener.pem" >/dev/null 2>&1 ||
	fail "openssl could not sign the listener certificate"
chmod 0644 "$work/api-ca.pem"

cat >"$work/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$api_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$work/listener.pem",
    "privateKey": "$work/listener.key",
    "httpPort": $http_port,
    "tlsPort": $port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF

# ---- Pebble and its mock DNS ----
pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -management "127.0.0.1:$chall_port" -http01 "" -https01 "" \
	-tlsalpn01 "" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$work/challtestsrv.log" 2>&1 </dev/null &
pids+=($!)
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
	pebble -config "$work/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$work/pebble.log" 2>&1 </dev/null &
pids+=($!)

directory=https://127.0.0.1:$api_port/dir
for i in $(seq 150); do
	if port_open "$dns_port" && curl -sf --cacert "$work/api-ca.pem" -o /dev/null "$directory"; then
		break
	fi
	[ "$i" -lt 150 ] || { tail -20 "$work/pebble.log" >&2; fail "Pebble did not start"; }
	sleep 0.1
done
curl -sf --cacert "$work/api-ca.pem" -o "$work/pebble-root.pem" "https://127.0.0.1:$mgmt_port/roots/0" ||
	fail "could not fetch Pebble's issuing root"
say "Pebble is up: $directory (TLS-ALPN-01 validated on 127.0.0.1:$port)"

# ---- the server, with a placeholder certificate ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
	-keyout "$work/placeholder.key" -out "$work/placeholder.pem" -subj "/CN=placeholder.test" \
	-addext "subjectAltName=DNS:placeholder.test" >/dev/null 2>&1 || fail "openssl could not make the placeholder"

run=("$here/autotls-run" -d "$NAME" --ca "$directory" --ca-roots "$work/api-ca.pem" --storage "$work/store"
	--email demo@example.test --log "$work/autotls.log" --log-level info --)
export AUTOTLS_LIB=$lib
# The local CA validates HTTP-01 on its own httpPort: the shim's built-in responder goes there, so that whichever
# challenge the shim tries first (TLS-ALPN-01 on the server's port, or HTTP-01) succeeds.
export AUTOTLS_HTTP_PORT=$http_port

if [ "${AUTOTLS_DEMO_SERVER:-nginx}" = nginx ] && command -v nginx >/dev/null 2>&1; then
	server=nginx
	user_line=
	[ "$(id -u)" -ne 0 ] || user_line="user www-data;"
	nginx_pid_file=$work/nginx.pid
	cat >"$work/nginx.conf" <<EOF
$user_line
worker_processes 2;
pid $nginx_pid_file;
error_log $work/error.log info;
env LD_PRELOAD;
env AUTOTLS_DOMAINS;
env AUTOTLS_CA;
env AUTOTLS_CA_ROOTS;
env AUTOTLS_STORAGE;
env AUTOTLS_EMAIL;
env AUTOTLS_LOG;
env AUTOTLS_LOG_LEVEL;
events { worker_connections 256; }
http {
    default_type text/plain;
    access_log $work/access.log;
    client_body_temp_path $work/tmp-body;
    proxy_temp_path $work/tmp-proxy;
    fastcgi_temp_path $work/tmp-fastcgi;
    uwsgi_temp_path $work/tmp-uwsgi;
    scgi_temp_path $work/tmp-scgi;
    server {
        listen 127.0.0.1:$port ssl http2 default_server;
        server_name _;
        ssl_certificate $work/placeholder.pem;
        ssl_certificate_key $work/placeholder.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "hello from nginx under libautotls\n"; }
    }
}
EOF
	"${run[@]}" nginx -p "$work/" -c "$work/nginx.conf" -e "$work/error.log" >"$work/server.out" 2>&1 </dev/null ||
		{ cat "$work/server.out" "$work/error.log" >&2 2>/dev/null; fail "nginx did not start"; }
else
	server="openssl s_server"
	"${run[@]}" openssl s_server -accept "127.0.0.1:$port" -cert "$work/placeholder.pem" \
		-key "$work/placeholder.key" -www >"$work/server.out" 2>&1 </dev/null &
	pids+=($!)
fi
for i in $(seq 100); do
	port_open "$port" && break
	[ "$i" -lt 100 ] || { cat "$work/server.out" >&2; fail "$server is not listening on 127.0.0.1:$port"; }
	sleep 0.1
done
say "$server is listening on 127.0.0.1:$port under $lib, managing $NAME"

# ---- wait for a certificate a client trusting only Pebble's root accepts ----
url=https://$NAME:$port/
start=$SECONDS
until curl -sf --max-time 5 --cacert "$work/pebble-root.pem" --resolve "$NAME:$port:127.0.0.1" -o /dev/null "$url"; do
	if [ $((SECONDS - start)) -ge "$TIMEOUT_S" ]; then
		echo "demo: --- what the server serves for $NAME ---" >&2
		openssl s_client -connect "127.0.0.1:$port" -servername "$NAME" </dev/null 2>/dev/null |
			openssl x509 -noout -subject -issuer >&2 2>/dev/null || true
		echo "demo: --- libautotls log (tail) ---" >&2
		tail -20 "$work/autotls.log" >&2 2>/dev/null || echo "(no log at $work/autotls.log)" >&2
		if [ -f "$work/error.log" ]; then
			echo "demo: --- nginx error log (tail) ---" >&2
			tail -10 "$work/error.log" >&2
		fi
		fail "no certificate for $NAME that verifies against Pebble's root within ${TIMEOUT_S} s"
	fi
	sleep 0.5
done
say "curl verified $url against Pebble's root after $((SECONDS - start)) s"
openssl s_client -connect "127.0.0.1:$port" -servername "$NAME" -CAfile "$work/pebble-root.pem" </dev/null 2>/dev/null |
	openssl x509 -noout -subject -issuer -enddate
say "OK"
