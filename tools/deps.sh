#!/bin/sh
# Install the Debian packages named on the command line that are not installed yet.
# Used by `make run` / `make test` so that both work on a fresh Debian 12 as root.
set -eu
missing=
for p in "$@"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "rstwhy: missing packages:$missing; install them as root (sudo make ...)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
