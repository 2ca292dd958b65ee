#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need, only those missing. Idempotent and quick when
# everything is there: one dpkg-query, no apt-get at all. apt-get update runs only when something is missing
# and either the package lists are empty or a first install attempt fails.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config
	libssl-dev libcurl4-openssl-dev libcjson-dev
	pebble openssl curl ca-certificates
	valgrind procps
	# Servers the integration tests drive under the shim (tests/harness/servers.c), and what scripts/demo.sh
	# uses. ssl-cert provides the www-data-readable snakeoil placeholder and the ssl-cert group.
	nginx apache2 haproxy lighttpd lighttpd-mod-openssl stunnel4 python3 ssl-cert
	# Servers that use a managed certificate without answering TLS-ALPN-01 (tests/harness/dbservers.c).
	postgresql-15 redis-server
	# An authoritative DNS server that takes RFC 2136 updates signed with TSIG (tests/integ/test_525_dns_rfc2136.c).
	knot
	# A three-member etcd cluster for the etcd store backend's tests (tests/harness/etcd.c) and
	# scripts/etcd-cluster.sh; etcdctl for what a user (and test_9xx) reads back from it.
	etcd-server etcd-client
	# Mail: Postfix's smtpd (STARTTLS) follows a store the host manager leads (tests/integ/test_391_reach_postfix.c).
	# Its debconf question is answered below ("No configuration"), so the postinst writes no main.cf of its
	# own and, with the policy-rc.d below, starts nothing.
	postfix
	# MQTT over TLS: mosquitto makes its TLS context after dropping to the mosquitto user, so it can only follow
	# the host manager (tests/integ/test_393_reach_mosquitto.c).
	mosquitto
	# FTPS: vsftpd makes a TLS context in every session's process (tests/integ/test_394_reach_vsftpd.c).
	vsftpd
	# IMAP: Dovecot's login processes make their TLS contexts as dovenull (tests/integ/test_392_reach_dovecot.c).
	dovecot-imapd
	# `autotls doctor`'s answers (tests/integ/test_735_doctor.c): a Go server (caddy) and a GnuTLS server
	# (gnutls-serv), which the preload cannot cover.
	caddy gnutls-bin
	# `autotls import` of what lego and certbot leave (tests/integ/test_740_import.c), both run against Pebble.
	lego certbot
	# `make deb` (debian/, tests/integ/test_745_deb.c): Debian's own package tools and its checker.
	debhelper lintian
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$pkg")
	fi
done

# Debian's own nodejs, fetched apart and never installed (its script says why). After the install below, whose
# apt-get update a fresh machine needs before its package lists know Debian's nodejs.
fetch_debian_node() {
	"$(dirname "$0")/deps-debian-node.sh" || echo "deps: without Debian's nodejs, test_395 fails" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
	fetch_debian_node
	exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
apt_get() {
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q "$@"
}

# The server packages' postinst scripts would start (and enable) nginx, apache2, haproxy, ... on ports 80/443.
# A policy-rc.d that exits 101 tells invoke-rc.d not to start anything; we remove it afterwards only if it
# was ours (a container image often ships one on purpose).
POLICY=/usr/sbin/policy-rc.d
policy_created=0
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# written by libautotls scripts/deps.sh for the duration of an install\nexit 101\n' |
		"${SUDO[@]}" tee "$POLICY" >/dev/null
	"${SUDO[@]}" chmod 0755 "$POLICY"
	policy_created=1
fi
cleanup_policy() {
	if [ "$policy_created" -eq 1 ]; then
		"${SUDO[@]}" rm -f "$POLICY"
	fi
}
trap cleanup_policy EXIT

# postfix asks what kind of mail system this is; "No configuration" makes its postinst leave /etc/postfix alone.
if command -v debconf-set-selections >/dev/null 2>&1; then
	echo 'postfix postfix/main_mailer_type select No configuration' | "${SUDO[@]}" debconf-set-selections
fi

if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt_get update
fi
if ! apt_get install --no-install-recommends "${missing[@]}"; then
	apt_get update
	apt_get install --no-install-recommends "${missing[@]}"
fi
fetch_debian_node
