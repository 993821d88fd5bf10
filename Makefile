# anytls-c: AnyTLS proxy core, outbound connection pools, and the research suite.
#   make            build the binaries (build/anytls-server, build/anytls-client)
#   make test       install what is missing, then every test (unit, ASan/UBSan,
#                   TSan pool stress, integration, sing-box interop)
#   make bench      the quick benchmark suite (micro + end-to-end + figures)
#   make asan|tsan  sanitizer builds in build-asan/ and build-tsan/
BUILD ?= build
SAN ?=
CC ?= cc
CXX ?= c++
USE_JEMALLOC ?= yes
OPT ?= -O2
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

WARN = -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-sign-compare
CPPFLAGS += -Icore -Ipools -D_GNU_SOURCE -DANYTLS_VERSION='"$(VERSION)"'
CFLAGS ?= $(OPT) -g
CFLAGS += -std=gnu11 $(WARN) -pthread -fno-omit-frame-pointer
CXXFLAGS ?= $(OPT) -g
CXXFLAGS += -std=c++17 -Wall -pthread
LDLIBS = -lssl -lcrypto -lurcu-cds -lurcu -linih -lcares -pthread -lm

ifneq ($(SAN),)
  CFLAGS += -fsanitize=$(SAN) -fno-sanitize-recover=all
  CXXFLAGS += -fsanitize=$(SAN)
  LDFLAGS += -fsanitize=$(SAN)
  USE_JEMALLOC = no
endif
ifeq ($(USE_JEMALLOC),yes)
  CPPFLAGS += -DUSE_JEMALLOC
  LDLIBS += -ljemalloc
endif

CORE_SRCS := $(filter-out core/%_main.c,$(wildcard core/*.c))
POOL_SRCS := $(wildcard pools/*.c)
LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRCS) $(POOL_SRCS))
LIB := $(BUILD)/libanytls.a
BINS := $(BUILD)/anytls-server $(BUILD)/anytls-client
TEST_SRCS := $(wildcard tests/test_*.c)
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
# Every bench tool is built from its one bench/NAME.c, but for loadgen: from
# the files in bench/loadgen/ (objects in $(BUILD)/bench/loadgen-objs/).
LOADGEN_OBJS := $(patsubst bench/loadgen/%.c,$(BUILD)/bench/loadgen-objs/%.o,$(wildcard bench/loadgen/*.c))
BENCH_TOOLS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c)) $(BUILD)/bench/loadgen
BENCH_CXX := $(patsubst bench/%.cc,$(BUILD)/bench/%,$(wildcard bench/*.cc))

.PHONY: all deps test unit asan tsan bench experiments figures paper clean tools reliability
all: $(BINS) tools
tools: $(BENCH_TOOLS)

$(BUILD)/%.o: %.c $(wildcard core/*.h pools/*.h) | $(BUILD)/core $(BUILD)/pools
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/core $(BUILD)/pools $(BUILD)/tests $(BUILD)/bench $(BUILD)/bench/loadgen-objs:
	mkdir -p $@
$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
# The binaries print the commit they were built from (--version): relinked when
# it changes, so experiments/provenance.py can tell a stale build from a fresh one.
VERSION_STAMP := $(BUILD)/.version
.PHONY: FORCE
$(VERSION_STAMP): FORCE | $(BUILD)/core
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
# Objects that embed the commit (the client's name in its Settings frame, the
# start-up line) are rebuilt with it, or a binary would announce an old commit.
VERSIONED_SRCS := $(shell grep -lE 'ANYTLS_VERSION|PADW_CLIENT' $(CORE_SRCS) tests/*.c)
$(patsubst %.c,$(BUILD)/%.o,$(filter core/%,$(VERSIONED_SRCS))): $(VERSION_STAMP)
$(patsubst tests/%.c,$(BUILD)/tests/%,$(filter tests/%,$(VERSIONED_SRCS))): $(VERSION_STAMP)
$(BUILD)/anytls-%: core/%_main.c $(LIB) $(VERSION_STAMP)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS)
$(BUILD)/tests/%: tests/%.c $(LIB) $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS) -lcmocka
$(BUILD)/bench/%: bench/%.c $(LIB) $(wildcard bench/*.h) | $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS)
$(BUILD)/bench/%: bench/%.cc $(LIB) | $(BUILD)/bench
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS) -lbenchmark
$(BUILD)/bench/loadgen-objs/%.o: bench/loadgen/%.c $(wildcard bench/*.h bench/loadgen/*.h core/*.h) | $(BUILD)/bench/loadgen-objs
	$(CC) $(CPPFLAGS) -Ibench $(CFLAGS) -c $< -o $@
$(BUILD)/bench/loadgen: $(LOADGEN_OBJS) $(LIB) | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LOADGEN_OBJS) -o $@ $(LDFLAGS) $(LIB) $(LDLIBS)

deps:
	@scripts/deps.sh

unit: $(TESTS)

asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT=-O1 all unit
tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 all unit

# The README's test command. Everything it needs is installed first.
test: deps
	$(MAKE) -j2 all unit
	$(MAKE) -j2 asan
	$(MAKE) -j2 tsan
	scripts/run_tests.sh

bench: deps
	$(MAKE) all $(BENCH_CXX)
	scripts/bench.sh

# The full sweep (~1 h), then the contention regime (experiments/saturation.py full,
# <= 12 min: knee and closed-loop rate per pool type at 1 and 2 workers + one
# oversubscribed run) and the many-core projection (experiments/usl.py).
experiments: deps
	$(MAKE) all $(BENCH_CXX)
	experiments/run.sh full
	python3 experiments/saturation.py full
	python3 experiments/usl.py

# Idle sessions, the two 10-minute soaks (server: 10,000 streams over 100
# sessions; through anytls-client) and the fault scenarios, written up in
# results/reliability.md (~25 min; scripts/reliability.sh says what is checked).
reliability: deps
	$(MAKE) -j2 all tools
	scripts/reliability.sh

figures:
	experiments/figures.sh

paper: figures
	$(MAKE) -C paper

clean:
	rm -rf build build-asan build-tsan

# ---- fuzzing (fuzz/) ----
# libFuzzer targets (clang, ASan+UBSan), one per parser of peer bytes, each built
# from its fuzz/fuzz_X.c and the core/*.c files it needs (no libanytls); and two
# stateful ones, server_session and client_session, that run whole sessions.
#   make fuzz          build, then run each target in turn for FUZZ_SECONDS (600)
#                      or FUZZ_RUNS executions; appends to results/fuzz.csv
#                      (make fuzz FUZZ_TARGETS="frame uri" for some of them)
#   make fuzz-regress  every target over its committed corpus + 2000 mutations
#   fuzz/make_corpus.py writes the seed corpora (fuzz/corpus/<target>/)
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 600
FUZZ_RUNS ?=
FUZZ_TARGETS ?= $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
# The parsers get libFuzzer's coverage instrumentation; the harness (fuzz/*.c)
# only the sanitizers, so its own checks neither steer the fuzzer nor slow it.
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS = -g -O1 -std=gnu11 $(FUZZ_SAN) -fno-omit-frame-pointer -Wall -Wextra \
	-Wno-unused-parameter -Wno-sign-compare -Icore -Ipools -Ifuzz -D_GNU_SOURCE
FUZZ_SRCS_frame := core/frame.c
FUZZ_SRCS_auth := core/frame.c core/auth.c
FUZZ_SRCS_padding := core/padding.c
FUZZ_LIBS_padding := -lcrypto
FUZZ_LIBS_auth := -lcrypto
FUZZ_SRCS_kv := core/kv.c
FUZZ_SRCS_addr := core/addr.c
FUZZ_SRCS_inbound := core/inbound_parse.c core/addr.c
FUZZ_SRCS_uot := core/uot.c core/addr.c
FUZZ_SRCS_uri := core/uri.c
FUZZ_SRCS_http := core/http_msg.c
# The stateful targets run whole sessions: the real loop, tconn (but for its
# handshake and read), a real pool; around them the fakes of fuzz/fake_*.c
# (harness code, no coverage), which replace at link time (-Wl,--wrap) the
# socket calls (FUZZ_WRAP_NET), the TLS handshake and read (FUZZ_WRAP_TLS),
# the clock, the log and the random bytes (FUZZ_WRAP_ENV). See fuzz/fake_net.h.
comma := ,
FUZZ_WRAP_NET := tcp_connect_start socket connect bind sendto recvfrom getsockname getpeername \
	getsockopt close
FUZZ_WRAP_TLS := tconn_handshake tconn_read
FUZZ_WRAP_ENV := now_ms now_us log_msg RAND_bytes getrandom
FUZZ_WRAPS := $(patsubst %,-Wl$(comma)--wrap=%,$(FUZZ_WRAP_NET) $(FUZZ_WRAP_TLS) $(FUZZ_WRAP_ENV))
FUZZ_SESSION_COMMON := core/frame.c core/kv.c core/padding.c core/addr.c core/uot.c core/util.c \
	core/loop.c core/tconn.c core/tls.c core/log.c
FUZZ_SRCS_server_session := $(FUZZ_SESSION_COMMON) core/server_session.c core/server_stream.c \
	core/server_uot.c core/outbound.c core/auth.c core/admission.c core/metrics.c core/refill_gate.c \
	core/target_policy.c core/users.c core/server_users.c core/fallback.c core/proxy_proto.c $(wildcard pools/*.c)
FUZZ_FAKES_server_session := fuzz/fake_net.c fuzz/fake_tls.c fuzz/fake_env.c fuzz/fake_dns.c
FUZZ_LDFLAGS_server_session := $(FUZZ_WRAPS)
FUZZ_LIBS_server_session := -lssl -lcrypto -lurcu-cds -lurcu -pthread -lm
FUZZ_SRCS_client_session := $(FUZZ_SESSION_COMMON) core/client_session.c core/client_conn.c \
	core/client_inbound.c core/client_http.c core/client_udp.c core/client_scheme.c core/padwriter.c \
	core/inbound_parse.c core/http_msg.c
FUZZ_FAKES_client_session := fuzz/fake_net.c fuzz/fake_tls.c fuzz/fake_env.c
FUZZ_LDFLAGS_client_session := $(FUZZ_WRAPS) -Wl,--wrap=cs_new
FUZZ_LIBS_client_session := -lssl -lcrypto -pthread
FUZZ_HDRS := $(wildcard fuzz/*.h core/*.h pools/*.h)

.PHONY: fuzz fuzz-build fuzz-regress
fuzz-build: $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_BUILD)/obj/core/%.o: core/%.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/obj/pools/%.o: pools/%.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(FUZZ_BUILD)/obj/fuzz_%.o: fuzz/fuzz_%.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_BUILD)/obj/fake_%.o: fuzz/fake_%.c $(FUZZ_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
define FUZZ_RULE
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/obj/fuzz_$(1).o $(patsubst fuzz/%.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_FAKES_$(1))) \
		$(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRCS_$(1)))
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(FUZZ_LDFLAGS_$(1)) $$^ -o $$@ $(FUZZ_LIBS_$(1))
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_RULE,$(t))))

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) \
		fuzz/run.sh $(FUZZ_TARGETS)

fuzz-regress:
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz_regress.sh
# ---- end fuzzing ----

# ---- install (PREFIX, DESTDIR) and the Debian package ----
#   make install [PREFIX=/usr/local] [DESTDIR=/tmp/stage]   binaries, man pages,
#       systemd units (the paths in their settings rewritten to BINDIR and
#       SYSCONFDIR; comments keep the defaults), example configs in DATADIR
#   make uninstall [PREFIX=...] [DESTDIR=...]               removes exactly those files
#   make deb      build/anytls-c_VERSION_ARCH.deb from a tree staged with PREFIX=/usr
#                 (scripts/make_deb.sh; dpkg-deb, no root needed)
# SYSCONFDIR stays /etc whatever the prefix: the units read /etc/anytls/*.ini.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/anytls-c
DOCDIR ?= $(PREFIX)/share/doc/anytls-c
SYSCONFDIR ?= /etc
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL ?= install
INSTALLED_BINS := anytls-server anytls-client
INSTALLED_MAN := anytls-server.1 anytls-client.1
INSTALLED_UNITS := anytls-server.service anytls-client.service
INSTALLED_EXAMPLES := server.ini.example client.ini.example users.txt.example
INSTALLED_DOCS := README.md SECURITY.md

.PHONY: install uninstall deb
install: $(BINS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(addprefix $(BUILD)/,$(INSTALLED_BINS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(addprefix man/,$(INSTALLED_MAN)) $(DESTDIR)$(MANDIR)/man1/
	for u in $(INSTALLED_UNITS); do \
		sed -e '/^#/!s|/usr/local/bin/|$(BINDIR)/|g' -e '/^#/!s|/etc/anytls|$(SYSCONFDIR)/anytls|g' \
			contrib/$$u > $(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 0644 $(addprefix contrib/,$(INSTALLED_EXAMPLES)) $(DESTDIR)$(DATADIR)/
	$(INSTALL) -m 0644 $(INSTALLED_DOCS) $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALLED_BINS)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(INSTALLED_MAN)) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(INSTALLED_UNITS)) \
		$(addprefix $(DESTDIR)$(DATADIR)/,$(INSTALLED_EXAMPLES)) \
		$(addprefix $(DESTDIR)$(DOCDIR)/,$(INSTALLED_DOCS))
	-rmdir $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR) 2>/dev/null

deb: $(BINS)
	BUILD=$(BUILD) MAKE="$(MAKE)" scripts/make_deb.sh
# ---- end install ----
