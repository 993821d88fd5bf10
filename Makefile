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
LDLIBS = -lssl -lcrypto -lurcu-cds -lurcu -pthread -lm

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
BENCH_TOOLS := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
BENCH_CXX := $(patsubst bench/%.cc,$(BUILD)/bench/%,$(wildcard bench/*.cc))

.PHONY: all deps test unit asan tsan bench experiments figures paper clean tools
all: $(BINS) tools
tools: $(BENCH_TOOLS)

$(BUILD)/%.o: %.c $(wildcard core/*.h pools/*.h) | $(BUILD)/core $(BUILD)/pools
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
$(BUILD)/core $(BUILD)/pools $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@
$(LIB): $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/anytls-%: core/%_main.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS)
$(BUILD)/tests/%: tests/%.c $(LIB) $(wildcard tests/*.h) | $(BUILD)/tests
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS) -lcmocka
$(BUILD)/bench/%: bench/%.c $(LIB) | $(BUILD)/bench
	$(CC) $(CPPFLAGS) $(CFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS)
$(BUILD)/bench/%: bench/%.cc $(LIB) | $(BUILD)/bench
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) $< -o $@ $(LDFLAGS) $(LIB) $(LDLIBS) -lbenchmark

deps:
	@scripts/deps.sh

unit: $(TESTS)

asan:
	$(MAKE) BUILD=build-asan SAN=address,undefined OPT=-O1 all unit
tsan:
	$(MAKE) BUILD=build-tsan SAN=thread OPT=-O1 all unit

# The README's test command. Everything it needs is installed first.
test: deps
	$(MAKE) all unit
	$(MAKE) asan
	$(MAKE) tsan
	scripts/run_tests.sh

bench: deps
	$(MAKE) all $(BENCH_CXX)
	scripts/bench.sh

experiments: deps
	$(MAKE) all $(BENCH_CXX)
	experiments/run.sh full

figures:
	experiments/figures.sh

paper: figures
	$(MAKE) -C paper

clean:
	rm -rf build build-asan build-tsan
