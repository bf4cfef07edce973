#!/bin/sh
# Dump a kernel's BTF as C (vmlinux.h) for CO-RE programs.
# usage: tools/gen-vmlinux.sh [BTF_FILE] > vmlinux/x86/vmlinux.h
# BTF_FILE defaults to the running kernel's /sys/kernel/btf/vmlinux.
set -eu
btf=${1:-/sys/kernel/btf/vmlinux}
if [ ! -r "$btf" ]; then
	echo "gen-vmlinux: $btf is not readable: this kernel has no BTF (CONFIG_DEBUG_INFO_BTF)" >&2
	exit 1
fi
bpftool btf dump file "$btf" format c
