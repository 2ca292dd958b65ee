#!/usr/bin/env bash
# Debian 12's own nodejs (built against the system's libssl3, --shared-openssl) for tests/integ/test_395, kept
# apart in DEBIAN_NODE_DIR and never installed: the host's nodejs may be another build (NodeSource's carries its
# own OpenSSL) that other tools use, and installing Debian's package would replace it. apt-get download and
# dpkg -x only: libnode108 and nodejs at Debian's version (not the candidate, which may be NodeSource's), and the
# builtins Debian keeps outside libnode in /usr/share/nodejs (cjs-module-lexer, acorn, undici), which the test
# lays over /usr/share in a mount namespace of its own. libnode's libraries (libuv1, libicu72, libssl3, ...) are
# ordinary packages; apt-get install them when missing. Idempotent: nothing to do once the folder is complete.
set -euo pipefail

DIR=${DEBIAN_NODE_DIR:-/var/cache/autotls-tests/debian-node}
if [ -x "$DIR/usr/bin/node" ] && [ -d "$DIR/usr/share/nodejs/cjs-module-lexer" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: Debian's nodejs for test_395 needs root to fetch into $DIR" >&2
	exit 1
fi
debian_ver() {
	apt-cache madison nodejs | awk -F'|' '$2 ~ /dfsg/ { gsub(/ /, "", $2); print $2; exit }'
}
ver=$(debian_ver)
if [ -z "$ver" ]; then
	# Package lists that predate Debian's nodejs, or none at all (a fresh machine whose other packages were
	# all installed already): refresh them once.
	apt-get -q update >/dev/null
	ver=$(debian_ver)
fi
if [ -z "$ver" ]; then
	echo "deps: no Debian nodejs version in the package lists (apt-get update?)" >&2
	exit 1
fi
missing=()
for pkg in libuv1 libicu72 libc-ares2 libnghttp2-14 libbrotli1 libssl3 zlib1g; do
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" = installed ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get -y -q install --no-install-recommends "${missing[@]}"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
(cd "$tmp" && apt-get download -q "libnode108=$ver" "nodejs=$ver" node-cjs-module-lexer node-acorn node-undici \
	2> >(grep -v "unsandboxed" >&2))
mkdir -p "$DIR.new"
for deb in "$tmp"/*.deb; do
	dpkg -x "$deb" "$DIR.new"
done
rm -rf "$DIR"
mv "$DIR.new" "$DIR"
echo "deps: Debian's nodejs $ver in $DIR (not installed)" >&2
