# rstwhy: one entry point. `make` builds ./rstwhy; `make run` and `make test` first install
# what they need from Debian's packages (as root; see README).
OUTPUT ?= .output
CLANG ?= clang
CC ?= cc
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH ?= $(shell uname -m | sed 's/x86_64/x86/; s/aarch64/arm64/')
VMLINUX := vmlinux/$(ARCH)/vmlinux.h

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP \
	-I$(OUTPUT) -Ibpf -Iuser
LDLIBS += -lbpf -ldw -lelf -lz -lpcap -ljson-c
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(dir $(VMLINUX)) -Ibpf -MMD -MP

USER_SRCS := $(wildcard user/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(USER_SRCS))
# main.o and cli.o (its subcommand table) need the whole program: rstwhy only
LIB_OBJS := $(filter-out $(OUTPUT)/main.o $(OUTPUT)/cli.o,$(USER_OBJS))
# selftest.o needs rstgen_main: rstwhy only (not the unit tests)
LIB_OBJS := $(filter-out $(OUTPUT)/selftest.o,$(LIB_OBJS))
# tools/rstgen.c once more, as a function: `rstwhy selftest` runs its scenarios in children
RSTGEN_FN := $(OUTPUT)/rstgen_fn.o

# packages `make run` and `make test` need on Debian 12
DEB_BUILD := make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config libpcap-dev \
	libjson-c-dev libdw-dev
DEB_TEST := bats jq iproute2 nftables tcpdump tshark iptables prometheus curl

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all run test deps deps-test clean unit

all: rstwhy $(OUTPUT)/rstgen $(OUTPUT)/rstinject $(OUTPUT)/stormgen $(OUTPUT)/holdconns

$(OUTPUT):
	$(Q)mkdir -p $@

$(OUTPUT)/rstwhy.bpf.o: bpf/rstwhy.bpf.c $(VMLINUX) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/rstwhy.skel.h: $(OUTPUT)/rstwhy.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name rstwhy_bpf > $@

$(OUTPUT)/%.o: user/%.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# user code includes the generated skeleton (main.c, loader.c)
$(USER_OBJS): $(OUTPUT)/rstwhy.skel.h

rstwhy: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -o $@

$(OUTPUT)/rstgen: tools/rstgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/stormgen: tools/stormgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/holdconns: tools/holdconns.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(RSTGEN_FN): tools/rstgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Dmain=rstgen_main -c $< -o $@

rstwhy $(OUTPUT)/static/rstwhy: $(RSTGEN_FN)

# prove on this machine which causes rstwhy sees (rstwhy selftest, about ten seconds, root)
.PHONY: demo
demo: all
	./rstwhy selftest

$(OUTPUT)/rstinject: tools/rstinject.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/test_classify: tests/test_classify.c $(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -o $@

unit: $(OUTPUT)/test_classify

# install missing build dependencies from Debian's packages (needs root)
deps:
	@tools/deps.sh $(DEB_BUILD)

deps-test:
	@tools/deps.sh $(DEB_BUILD) $(DEB_TEST)

run: deps
	$(MAKE) --no-print-directory all
	./rstwhy $(ARGS)

test: deps-test
	@tools/deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_KERNELS)
	$(MAKE) --no-print-directory all unit static
	tests/run

clean:
	rm -rf $(OUTPUT) rstwhy

-include $(wildcard $(OUTPUT)/*.d)

# ---- kernel matrix: the end-to-end scenarios in qemu guests running Debian's 6.1 and 6.12
# cloud kernels (tools/kernel-matrix.sh, tests/kernels.md). Static binaries for the guest's
# busybox initramfs; DEB_KERNELS is used by `make test-kernels` only.
DEB_KERNELS := qemu-system-x86 busybox-static xz-utils binutils jq iproute2 libc6-dev
# LDLIBS, then what the static libraries need in turn (pkg-config --static). Debian has no
# libsystemd.a (libpcap.a -> libdbus-1.a -> libsystemd): tools/static-stubs.c stands in for it.
STATIC_PC := libbpf libdw libpcap json-c
STATIC_LDLIBS = $(LDLIBS) $(filter-out -lsystemd,$(shell pkg-config --static --libs \
	$(foreach p,$(STATIC_PC),$(shell pkg-config --exists $(p) && echo $(p))) 2>/dev/null))

.PHONY: static deps-kernels test-kernels

$(OUTPUT)/static:
	$(Q)mkdir -p $@

$(OUTPUT)/static/stubs.o: tools/static-stubs.c | $(OUTPUT)/static
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/static/rstwhy: $(USER_OBJS) $(OUTPUT)/static/stubs.o | $(OUTPUT)/static
	$(call msg,STATIC,$@)
	$(Q)$(CC) $(CFLAGS) -static $^ $(STATIC_LDLIBS) -o $@

$(OUTPUT)/static/rstgen: tools/rstgen.c | $(OUTPUT)/static
	$(call msg,STATIC,$@)
	$(Q)$(CC) $(CFLAGS) -static $< -o $@

static: $(OUTPUT)/static/rstwhy $(OUTPUT)/static/rstgen

deps-kernels:
	@tools/deps.sh $(DEB_BUILD) $(DEB_KERNELS)

# KM_KERNELS, RSTWHY_ATTACH, KM_CASES, ... : see tools/kernel-matrix.sh --help
test-kernels: deps-kernels
	$(MAKE) --no-print-directory static
	tools/kernel-matrix.sh

# measurement (issue 5): `make bench` compares rstwhy's overhead with an untraced run and a
# bpftrace one-liner (about 5 minutes); `make soak` runs rstwhy for SOAK_SECS (600) seconds
# under a million connections and checks memory and losses (not part of CI)
DEB_BENCH := bpftrace jq iproute2 time util-linux
.PHONY: bench soak deps-bench

deps-bench:
	@tools/deps.sh $(DEB_BUILD) $(DEB_BENCH)

bench: deps-bench
	$(MAKE) --no-print-directory all
	tools/bench.sh

soak: deps-bench
	$(MAKE) --no-print-directory all
	tools/soak.sh
