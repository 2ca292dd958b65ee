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
	# Servers the integration tests will drive under the shim are added here later (nginx, apache2, haproxy,
	# lighttpd, stunnel4, python3, ...), together with the tests that use them.
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [ "$status" != "installed" ]; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
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

if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt_get update
fi
if ! apt_get install --no-install-recommends "${missing[@]}"; then
	apt_get update
	apt_get install --no-install-recommends "${missing[@]}"
fi
