# libautotls: a plain Makefile (STYLE.md "Tests and build").
#
#   make            libautotls.so and build/libautotls-core.a
#   make test       installs what is missing, builds, runs unit then integration tests
#   make bench      benchmarks (ratios against a baseline run in the same script)
#   make demo       a verified handshake with a certificate from a local test CA
#   SANITIZE=address,undefined | thread   builds everything with that sanitizer into build-<name>/
#   WERROR=1        turns warnings into errors (CI sets it)

CC      ?= gcc
# The one version number (the ACME User-Agent, a future package): the file VERSION.
VERSION := $(shell cat VERSION)
SANITIZE ?=
BUILD   ?= $(if $(SANITIZE),build-$(subst $(comma),-,$(SANITIZE)),build)
comma   := ,

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat-security \
           -Wformat=2 -Wpointer-arith -Wvla
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden -fno-strict-aliasing \
           -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(WARN) -I. -DAT_VERSION='"$(VERSION)"' $(shell pkg-config --cflags libcjson libcurl openssl 2>/dev/null)
ifneq ($(WERROR),)
CFLAGS_BASE += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -U_FORTIFY_SOURCE -O1
LDFLAGS_SAN := -fsanitize=$(SANITIZE)
endif
CFLAGS  += $(CFLAGS_BASE)
LIBS    := -lcjson -lcurl -lssl -lcrypto -lpthread -ldl
LDFLAGS += $(LDFLAGS_SAN)

# Every program's sources, listed: a file joins a binary by being named here, never by lying in a folder.
# The core archive (build/libautotls-core.a): what the manager, the tests and a command-line tool share.
UTIL_SRC   := util/b64.c util/buf.c util/clock.c util/command.c util/due_queue.c util/err.c util/id_slots.c util/key_type.c util/keys.c util/log.c util/name_index.c util/proc_stat.c util/wait_hooks.c util/x509.c
DNS_SRC    := dns/auth.c dns/auth_parse.c dns/query.c dns/transport.c dns/tsig.c dns/update.c dns/wire.c dns/zone.c
ACME_SRC   := acme/account.c acme/ari.c acme/authz.c acme/challenge_data.c acme/client.c acme/csr.c \
              acme/directory.c acme/http_curl.c acme/http_util.c acme/jwk.c acme/jws.c acme/jws_hmac.c acme/obtain.c \
              acme/ocsp.c acme/problem.c acme/request.c acme/revoke.c acme/san.c acme/solver.c
STORE_SRC  := store/certs.c store/etcd_client.c store/etcd_url.c store/fileio.c store/key.c store/lock_file.c \
              store/etcd_watch.c store/name.c store/punycode.c store/seal.c store/store_etcd.c store/store_file.c store/store_open.c
ENGINE_SRC := engine/ari_state.c engine/attempts.c engine/backoff.c engine/engine.c engine/pending.c engine/renew.c
CHALLENGE_SRC := challenge/dns01.c challenge/dns01_hook.c challenge/dns01_rfc2136.c challenge/dns01_wait.c \
              challenge/http01.c challenge/http01_request.c challenge/http01_responder.c challenge/http01_webroot.c \
              challenge/wait_hooks.c challenge/fleet_record.c
CORE_SRC   := $(UTIL_SRC) $(DNS_SRC) $(ACME_SRC) $(STORE_SRC) $(ENGINE_SRC) $(CHALLENGE_SRC)
# libautotls.so, the preload: the interposer, the handshake path, the cache and the configuration. It links
# nothing but libc: OpenSSL is resolved at run time from the host's own copy (shim/preload/real.h).
PRELOAD_SRC := shim/preload/cache.c shim/preload/clienthello.c shim/preload/hooks.c shim/preload/init.c \
              shim/preload/interpose.c shim/preload/ondemand.c shim/preload/real.c shim/preload/shm_map.c \
              shim/preload/spawn.c shim/channel.c shim/config.c shim/ondemand_policy.c util/log.c util/err.c \
              util/clock.c util/key_type.c util/b64.c store/name.c store/punycode.c store/key.c store/etcd_url.c
# What the manager thread (libautotls-manager.so) and the manager process (autotls-manager) both run.
MANAGER_COMMON_SRC := shim/manager/ca_list.c shim/manager/challenges.c shim/manager/events.c shim/manager/lead.c \
              shim/manager/publish.c shim/manager/quiesce.c shim/manager/ready.c shim/manager/refusal.c \
              shim/manager/region_write.c shim/manager/staple.c shim/manager/staple_many.c shim/manager/sync.c shim/manager/tlsalpn01_solver.c \
              shim/shm.c shim/shm_dir.c \
              shim/manager/control.c shim/manager/seen.c shim/control_path.c shim/manager/fleet.c \
              shim/manager/fleet_challenges.c shim/manager/fleet_watch.c \
              shim/manager/fleet_http01.c shim/manager/fleet_dns01.c shim/manager/fleet_takeover.c shim/manager/fleet_wrap.c \
              shim/manager/fleet_exit.c \
              shim/manager/fleet_issue.c
# libautotls-manager.so, loaded by the preload on a process's first server context: the thread's life.
MANAGER_SRC := $(MANAGER_COMMON_SRC) shim/manager/thread_life.c shim/manager/threadless.c
# autotls-manager, the manager process the preload starts for each server process tree (shim/preload/spawn.c):
# its main(), on-demand issuance and the watch on its tree.
HELPER_SRC  := $(MANAGER_COMMON_SRC) shim/manager/autotls_manager.c shim/manager/host_service.c shim/manager/ondemand.c \
              shim/manager/tree_watch.c shim/channel.c shim/config.c shim/ondemand_policy.c shim/preload/shm_map.c \
              shim/sites.c shim/manager/sites_pool.c shim/manager/ondemand_asked.c
# A source file no list names would silently never be built: say so instead.
# autotls, the operators' command (tools/autotls/): the core, the settings reader, one file per subcommand.
CLI_SRC     := tools/autotls/main.c tools/autotls/settings.c tools/autotls/inventory.c tools/autotls/status.c \
              tools/autotls/check.c tools/autotls/control.c tools/autotls/enable.c tools/autotls/renew.c tools/autotls/renew_local.c \
              tools/autotls/revoke.c tools/autotls/procs.c shim/control_path.c \
              tools/autotls/doctor.c tools/autotls/doctor_elf.c tools/autotls/doctor_reach.c tools/autotls/import.c shim/config.c shim/ondemand_policy.c
UNLISTED := $(filter-out $(CORE_SRC) $(PRELOAD_SRC) $(MANAGER_SRC) $(HELPER_SRC) $(CLI_SRC),\
              $(wildcard util/*.c dns/*.c acme/*.c store/*.c engine/*.c challenge/*.c shim/*.c shim/*/*.c \
              tools/*/*.c))
ifneq ($(UNLISTED),)
$(error $(UNLISTED): in no source list of the Makefile; add each to the list of the binary it belongs to)
endif
HARN_SRC  := $(wildcard tests/harness/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integ/test_*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(BUILD)/%.o)
MANAGER_OBJ := $(MANAGER_SRC:%.c=$(BUILD)/%.o)
HELPER_OBJ  := $(HELPER_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/%.o)
HARN_OBJ  := $(HARN_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%)
INTEG_BIN := $(INTEG_SRC:%.c=$(BUILD)/%)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)
# Test helpers an integration test loads into the server under test, beside libautotls.so (LD_PRELOAD).
PROBE_SRC := $(wildcard tests/integ/*_preload.c)
PROBE_SO  := $(PROBE_SRC:%.c=$(BUILD)/%.so)

CORE_LIB  := $(BUILD)/libautotls-core.a
SHIM_LIB  := $(BUILD)/libautotls.so
MANAGER_LIB := $(BUILD)/libautotls-manager.so
HELPER_EXE  := $(BUILD)/autotls-manager
CLI_EXE     := $(BUILD)/autotls

.PHONY: all deps test unit integ bench demo clean tests fuzz install uninstall deb
# Keep every object (the harness objects are otherwise "intermediate" and deleted after each link).
.SECONDARY:

# Quiet by default; V=1 prints the commands.
ifeq ($(V),)
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2);
endif
all: $(CORE_LIB) $(SHIM_LIB) $(MANAGER_LIB) $(HELPER_EXE) $(CLI_EXE) tests

tests: $(UNIT_BIN) $(INTEG_BIN) $(BENCH_BIN) $(PROBE_SO)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(call msg,AR,$@)ar rcs $@ $^

# -z defs: a direct call into libssl from the preload would fail to link here instead of at run time.
$(SHIM_LIB): $(PRELOAD_OBJ)
	$(call msg,LD,$@)$(CC) -shared -o $@ $(PRELOAD_OBJ) $(LDFLAGS) -Wl,-z,defs -Wl,--as-needed -lpthread -ldl

$(HELPER_EXE): $(HELPER_OBJ) $(CORE_LIB)
	$(call msg,LD,$@)$(CC) -o $@ $(HELPER_OBJ) $(CORE_LIB) $(LDFLAGS) $(LIBS)

# enable finds an installed preload in ../lib/MULTIARCH beside an installed autotls.
$(BUILD)/tools/autotls/enable.o: CFLAGS += -DAT_MULTIARCH='"$(MULTIARCH)"'
$(CLI_EXE): $(CLI_OBJ) $(CORE_LIB)
	$(call msg,LD,$@)$(CC) -o $@ $(CLI_OBJ) $(CORE_LIB) $(LDFLAGS) $(LIBS)

$(MANAGER_LIB): $(MANAGER_OBJ) $(CORE_LIB)
	$(call msg,LD,$@)$(CC) -shared -o $@ $(MANAGER_OBJ) $(CORE_LIB) $(LDFLAGS) -Wl,-z,defs -Wl,--as-needed $(LIBS)

# Every test and bench binary: its one source, the harness and the core archive.
$(BUILD)/tests/%: tests/%.c $(HARN_OBJ) $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(call msg,CCLD,$@)$(CC) $(CFLAGS) -fvisibility=default -MMD -MP $< $(HARN_OBJ) $(CORE_LIB) -o $@ $(LDFLAGS) $(LIBS)

$(BUILD)/tests/integ/%_preload.so: tests/integ/%_preload.c
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)$(CC) $(CFLAGS) -fvisibility=default -shared -MMD -MP $< -o $@ $(LDFLAGS) -ldl

deps:
	@scripts/deps.sh

unit: $(UNIT_BIN) $(CLI_EXE)
	@BUILD=$(BUILD) tests/run.sh unit

integ: $(UNIT_BIN) $(INTEG_BIN) $(CLI_EXE) $(PROBE_SO)
	@BUILD=$(BUILD) tests/run.sh integ

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) tests/run.sh unit integ

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/bench.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/demo.sh

clean:
	rm -rf build build-*

# --- make install / make uninstall (README "Installing"; the list is INSTALLED below and in test_700).
# The preload finds libautotls-manager.so and autotls-manager beside itself (shim/preload/init.c, beside_me), so
# the three go into one folder: the multiarch library folder, which `make install PREFIX=/usr` makes the README's
# /usr/lib/x86_64-linux-gnu. DESTDIR is prepended to every path (staged installs, packages).
PREFIX   ?= /usr/local
# Recursive (=): asked only when install or uninstall runs, not on every make.
MULTIARCH = $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || $(CC) -print-multiarch)
LIBDIR   ?= $(PREFIX)/lib/$(MULTIARCH)
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
# systemd reads units from /usr/lib/systemd/system and /usr/local/lib/systemd/system alike.
UNITDIR  ?= $(PREFIX)/lib/systemd/system
INSTALLED = $(LIBDIR)/libautotls.so $(LIBDIR)/libautotls-manager.so $(LIBDIR)/autotls-manager \
             $(BINDIR)/autotls $(BINDIR)/autotls-run $(UNITDIR)/autotls.service \
             $(MANDIR)/man1/autotls.1 $(MANDIR)/man1/autotls-run.1 $(MANDIR)/man7/libautotls.7

install: $(SHIM_LIB) $(MANAGER_LIB) $(HELPER_EXE) $(CLI_EXE)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(UNITDIR)
	install -m 0644 $(SHIM_LIB) $(MANAGER_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(HELPER_EXE) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(CLI_EXE) $(DESTDIR)$(BINDIR)/
	sed 's|^installed_libdir=.*|installed_libdir=$(LIBDIR)|' scripts/autotls-run >$(DESTDIR)$(BINDIR)/autotls-run
	chmod 0755 $(DESTDIR)$(BINDIR)/autotls-run
	sed 's|@LIBDIR@|$(LIBDIR)|g' scripts/autotls.service >$(DESTDIR)$(UNITDIR)/autotls.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/autotls.service
	sed 's|@VERSION@|$(VERSION)|g; s|@LIBDIR@|$(LIBDIR)|g' man/autotls.1 >$(DESTDIR)$(MANDIR)/man1/autotls.1
	sed 's|@VERSION@|$(VERSION)|g; s|@LIBDIR@|$(LIBDIR)|g' man/autotls-run.1 >$(DESTDIR)$(MANDIR)/man1/autotls-run.1
	sed 's|@VERSION@|$(VERSION)|g; s|@LIBDIR@|$(LIBDIR)|g' man/libautotls.7 >$(DESTDIR)$(MANDIR)/man7/libautotls.7
	chmod 0644 $(DESTDIR)$(MANDIR)/man1/autotls.1 $(DESTDIR)$(MANDIR)/man1/autotls-run.1 \
		$(DESTDIR)$(MANDIR)/man7/libautotls.7

# Removes exactly what install wrote; folders stay (they may be shared: /usr/local/bin).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

# --- make deb: the Debian package (debian/), built by dpkg-buildpackage from a copy of the tree in
# $(BUILD)/deb/src, so that its outputs (autotls_<version>_<arch>.deb, .buildinfo, .changes) land in $(BUILD)/deb
# and not beside the tree (this make's variables, BUILD included, are not handed down to the package's own
# build); then lintian on the .changes (README "Debian package" explains what it still says).
DEB_DIR := $(BUILD)/deb
LINTIAN ?= lintian
deb:
	@test "$$(dpkg-parsechangelog -S Version)" = "$(VERSION)" || \
		{ echo "debian/changelog's version is not VERSION ($(VERSION)): add a changelog entry" >&2; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar --exclude=./build --exclude='./build-*' --exclude=./.git -cf - . | tar -xf - -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL dpkg-buildpackage -us -uc -b
	$(if $(LINTIAN),$(LINTIAN) $(DEB_DIR)/*.changes)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- libFuzzer targets (STYLE.md "Tests and build"): one per parser of outside bytes, tests/fuzz/fuzz_*.c, each
# with a seed corpus in tests/fuzz/corpus/<target>/, an optional dictionary tests/fuzz/<target>.dict and optional
# extra libFuzzer flags in tests/fuzz/<target>.options.
# The core's sources (and the few shim and harness files the targets reach) are compiled again with clang and
# the fuzzer's instrumentation into build-fuzz/, not taken from the gcc archive. `make fuzz` builds every target
# and runs each for FUZZ_SECONDS on a copy of its corpus (the seeds stay as committed); a crash, a leak or a
# broken property fails the rule, the input is kept as build-fuzz/artifacts/<target>/crash-* and the log as
# build-fuzz/logs/<target>.log.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer $(WARN) -I. -DAT_VERSION='"$(VERSION)"' $(shell pkg-config --cflags libcjson libcurl openssl 2>/dev/null)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)
FUZZ_LIB_SRC := $(CORE_SRC) shim/config.c shim/sites.c shim/preload/clienthello.c shim/shm.c shim/shm_dir.c tests/harness/scripted_http.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call msg,FUZZLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP $< $(FUZZ_LIB_OBJ) -o $@ $(LIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

.PHONY: fuzz-build
-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
