#!/bin/bash
# A fresh Debian 12 (bookworm) minbase root for the packaging tests: what a user has on a new
# server before installing anything.
#
#   tools/debroot.sh new DIR          unpack a fresh root into DIR (empty or missing)
#   tools/debroot.sh run DIR CMD...   run CMD chrooted in DIR with /proc, /sys (/sys/fs/bpf,
#                                     /sys/kernel/btf), /dev and the directories named in
#                                     $DEBROOT_BIND (e.g. /run/netns) bound; everything is
#                                     unmounted afterwards, also when CMD fails or the script
#                                     is interrupted
#   tools/debroot.sh rm DIR           unmount what is left and remove DIR
#
# The first `new` runs debootstrap --variant=minbase from the mirror of /etc/apt/sources.list
# (1 to 3 minutes) and keeps the result as a tarball in $DEBROOT_CACHE
# (/var/cache/rstwhy-debroot); later ones only unpack it. Needs root and debootstrap.
set -euo pipefail

CACHE=${DEBROOT_CACHE:-/var/cache/rstwhy-debroot}
TARBALL=$CACHE/bookworm-minbase.tar
SUITE=bookworm

die() { echo "debroot: $*" >&2; exit 1; }

# the first deb.debian.org-style URI of the host's apt sources (deb822 or one-line format)
mirror() {
	local m
	m=$(grep -hoE '^(URIs:|deb)[[:space:]]+[^ ]*debian/?$' /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '{print $2}' | head -n1)
	echo "${m:-http://deb.debian.org/debian}"
}

build_cache() {
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	mkdir -p "$CACHE"
	local tmp
	tmp=$(mktemp -d "$CACHE/build.XXXXXX")
	echo "debroot: debootstrap --variant=minbase $SUITE from $(mirror) (once; cached in $CACHE)" >&2
	if ! debootstrap --variant=minbase "$SUITE" "$tmp/root" "$(mirror)" >"$tmp/log" 2>&1; then
		tail -n 20 "$tmp/log" >&2
		rm -rf "$tmp"
		die "debootstrap failed"
	fi
	rm -rf "$tmp/root/var/cache/apt/archives/"*.deb
	tar -C "$tmp/root" -cf "$tmp/root.tar" .
	mv "$tmp/root.tar" "$TARBALL"
	rm -rf "$tmp"
}

mounts() { awk -v d="$(realpath "$1")" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r; }

# (a mount can vanish meanwhile: a namespace under /run/netns deleted by its owner)
umount_all() {
	local m
	for m in $(mounts "$1"); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 new|run|rm DIR [CMD...]"
((EUID == 0)) || die "needs root"
case $cmd in
new)
	[[ -f $TARBALL ]] || build_cache
	mkdir -p "$dir"
	[[ -z $(ls -A "$dir") ]] || die "$dir is not empty"
	tar -C "$dir" -xf "$TARBALL"
	# the host's Debian sources (suites, security), as on a standard install
	rm -f "$dir/etc/apt/sources.list" "$dir/etc/apt/sources.list.d/"*
	cp /etc/apt/sources.list "$dir/etc/apt/" 2>/dev/null || true
	grep -lE 'deb\.debian\.org|security\.debian\.org' /etc/apt/sources.list.d/* 2>/dev/null |
		xargs -r cp -t "$dir/etc/apt/sources.list.d/"
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
	;;
run)
	shift 2
	[[ -d $dir/etc ]] || die "$dir is not a root made by '$0 new'"
	trap 'umount_all "$dir"' EXIT INT TERM
	# the root a mount point of its own, as / is on a real system (ip netns exec remounts it)
	mount --bind "$dir" "$dir"
	for m in /proc /sys /dev ${DEBROOT_BIND:-}; do
		mkdir -p "$dir$m"
		mount --rbind "$m" "$dir$m"
		mount --make-rslave "$dir$m"
	done
	rc=0
	chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
	umount_all "$dir"
	exit "$rc"
	;;
rm)
	umount_all "$dir"
	[[ -z $(mounts "$dir") ]] || die "$dir: still mounted, not removed"
	rm -rf --one-file-system "$dir"
	;;
*) die "unknown command $cmd" ;;
esac
