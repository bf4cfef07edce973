# rstwhy: one entry point. `make` builds ./rstwhy; `make run` and `make test` first install
# what they need from Debian's packages (as root; see README). `make dist`: the static binary
# for copying to a machine with nothing installed; `make install`, `make deb`: see below.
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
# the version --version reports: git describe, or the VERSION file without git
VERSION := $(shell tools/version.sh)
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
# procps: sysctl, pgrep; systemd: systemd-analyze; man-db, bash-completion: the man page and
# completion tests; debootstrap, podman and runc: the fresh-root and container tests
DEB_TEST := bats jq iproute2 nftables tcpdump tshark iptables prometheus curl procps systemd \
	man-db bash-completion libcap2-bin git debootstrap podman runc
# `make deb` (and its test)
DEB_PKG := debhelper dpkg-dev lintian

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.PHONY: all run test deps deps-test clean unit FORCE

all: rstwhy $(OUTPUT)/rstgen $(OUTPUT)/rstinject $(OUTPUT)/stormgen $(OUTPUT)/holdconns \
	$(OUTPUT)/bpfstats

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
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# RSTWHY_VERSION, where the sources take it (#ifndef RSTWHY_VERSION), for those that use it or
# include the header that has it; rebuilt when the version changes ($(OUTPUT)/version is
# rewritten only then)
VERSION_GUARD := $(shell grep -l 'ifndef RSTWHY_VERSION' user/*.c user/*.h 2>/dev/null)
VERSION_OBJS := $(if $(VERSION_GUARD),$(patsubst user/%.c,$(OUTPUT)/%.o,$(shell grep -lE \
	'RSTWHY_VERSION$(foreach h,$(filter %.h,$(notdir $(VERSION_GUARD))),|include "$(h)")' \
	user/*.c)))
$(VERSION_OBJS): CPPFLAGS += -DRSTWHY_VERSION='"$(VERSION)"'
$(VERSION_OBJS): $(OUTPUT)/version

$(OUTPUT)/version: FORCE | $(OUTPUT)
	$(Q)[ "$$(cat $@ 2>/dev/null)" = "$(VERSION)" ] || echo "$(VERSION)" > $@

# user code includes the generated skeleton (main.c, loader.c)
$(USER_OBJS): $(OUTPUT)/rstwhy.skel.h

rstwhy: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.c %.o,$^) $(LDLIBS) -o $@

$(OUTPUT)/rstgen: tools/rstgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/stormgen: tools/stormgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/holdconns: tools/holdconns.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@

$(OUTPUT)/bpfstats: tools/bpfstats.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lbpf

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

$(OUTPUT)/test_container: tests/test_container.c $(OUTPUT)/container.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

unit: $(OUTPUT)/test_classify $(OUTPUT)/test_container

# install missing build dependencies from Debian's packages (needs root)
deps:
	@tools/deps.sh $(DEB_BUILD)

deps-test:
	@tools/deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_PKG)

run: deps
	$(MAKE) --no-print-directory all
	./rstwhy $(ARGS)

test: deps-test
	@tools/deps.sh $(DEB_BUILD) $(DEB_TEST) $(DEB_PKG) $(DEB_KERNELS)
	$(MAKE) --no-print-directory all unit static
	tests/run

clean:
	rm -rf $(OUTPUT) rstwhy dist

-include $(wildcard $(OUTPUT)/*.d)

# ---- kernel matrix: the end-to-end scenarios in qemu guests running Debian's 6.1 and 6.12
# cloud kernels (tools/kernel-matrix.sh, docs/kernels.md). Static binaries for the guest's
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

$(OUTPUT)/static/rstgen $(OUTPUT)/static/holdconns: $(OUTPUT)/static/%: tools/%.c | $(OUTPUT)/static
	$(call msg,STATIC,$@)
	$(Q)$(CC) $(CFLAGS) -static $< -o $@

static: $(OUTPUT)/static/rstwhy $(OUTPUT)/static/rstgen $(OUTPUT)/static/holdconns

deps-kernels:
	@tools/deps.sh $(DEB_BUILD) $(DEB_KERNELS)

# KM_KERNELS, RSTWHY_ATTACH, KM_CASES, ... : see tools/kernel-matrix.sh --help
test-kernels: deps-kernels
	$(MAKE) --no-print-directory static
	tools/kernel-matrix.sh

# measurement: `make bench` compares rstwhy's overhead with an untraced run and a bpftrace
# one-liner, in RST floods and in steady state with real servers (about 15 minutes); `make soak` runs rstwhy for SOAK_SECS (600) seconds
# under a million connections and checks memory and losses (not part of CI)
DEB_BENCH := bpftrace jq iproute2 time util-linux nginx-light wrk redis-server redis-tools
.PHONY: bench soak deps-bench

deps-bench:
	@tools/deps.sh $(DEB_BUILD) $(DEB_BENCH)

bench: deps-bench
	$(MAKE) --no-print-directory all
	tools/bench.sh
	tools/bench-steady.sh

soak: deps-bench
	$(MAKE) --no-print-directory all
	tools/soak.sh

# ---- distribution. `make dist`: dist/rstwhy-VERSION-ARCH, the static binary (no shared
# libraries, the BPF object inside), stripped, with its sha256: what a user copies to a machine
# with nothing installed. `make install` (PREFIX, DESTDIR), `make uninstall`, `make deb`
# (dist/rstwhy_*.deb, built by dpkg-buildpackage from debian/ in a copy of the tree).
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/rstwhy
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR ?= $(PREFIX)/lib/systemd/system
DIST_BIN := dist/rstwhy-$(VERSION)-$(shell uname -m)
.PHONY: dist install uninstall deb deps-deb

dist: $(DIST_BIN)

$(DIST_BIN): $(OUTPUT)/static/rstwhy
	$(call msg,DIST,$@)
	$(Q)mkdir -p dist
	$(Q)strip -o $@ $<
	$(Q)cd dist && sha256sum $(notdir $@) > $(notdir $@).sha256

install: deps
	$(MAKE) --no-print-directory rstwhy
	install -D -m 0755 rstwhy $(DESTDIR)$(SBINDIR)/rstwhy
	install -D -m 0644 man/rstwhy.8 $(DESTDIR)$(MANDIR)/man8/rstwhy.8
	install -D -m 0644 contrib/bash-completion/rstwhy.bash $(DESTDIR)$(BASHCOMPDIR)/rstwhy
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/sbin/rstwhy|$(SBINDIR)/rstwhy|' contrib/systemd/rstwhy.service \
		> $(DESTDIR)$(UNITDIR)/rstwhy.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rstwhy.service
	install -D -m 0644 contrib/prometheus/rstwhy-alerts.yml \
		$(DESTDIR)$(DATADIR)/rstwhy-alerts.yml

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rstwhy $(DESTDIR)$(MANDIR)/man8/rstwhy.8 \
		$(DESTDIR)$(BASHCOMPDIR)/rstwhy $(DESTDIR)$(UNITDIR)/rstwhy.service \
		$(DESTDIR)$(DATADIR)/rstwhy-alerts.yml
	-rmdir $(DESTDIR)$(DATADIR) 2>/dev/null

deps-deb:
	@tools/deps.sh $(DEB_BUILD) $(DEB_PKG)

# the package is built from a copy of the files git knows (committed or not) holding the
# version this tree reports, so that dpkg-buildpackage's output stays out of the tree
deb: deps-deb
	$(Q)rm -rf $(OUTPUT)/deb && mkdir -p $(OUTPUT)/deb/src dist
	$(Q)git ls-files -co --exclude-standard | grep -v '^dist/' | \
		tar -cf - -T - | tar -C $(OUTPUT)/deb/src -xf -
	$(Q)echo "$(VERSION)" > $(OUTPUT)/deb/src/VERSION
	$(Q)sed -i '1s/(.*)/($(subst -,+,$(VERSION)))/' $(OUTPUT)/deb/src/debian/changelog
	cd $(OUTPUT)/deb/src && dpkg-buildpackage -us -uc -b
	$(Q)cp $(OUTPUT)/deb/rstwhy_*.deb dist/
	lintian --fail-on error $(OUTPUT)/deb/*.changes

# a container image from scratch holding only the static binary (contrib/container/); no
# registry involved. podman (or IMAGE_BUILDER=buildah bud) tags it localhost/rstwhy:VERSION.
IMAGE ?= localhost/rstwhy:$(subst +,_,$(VERSION))
IMAGE_BUILDER ?= podman build
.PHONY: image
image: $(DIST_BIN)
	$(Q)rm -rf $(OUTPUT)/image && mkdir -p $(OUTPUT)/image
	$(Q)cp $(DIST_BIN) $(OUTPUT)/image/rstwhy
	$(IMAGE_BUILDER) -q -f contrib/container/Containerfile -t $(IMAGE) $(OUTPUT)/image
