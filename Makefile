# QueueLink build. `make` builds the shared library, `make test` runs the
# Go, C, C++ and Python tests, `make demo` runs the main job on real input,
# `make bench` prints the benchmarks and `make install PREFIX=DIR` installs
# the library, the headers and a pkg-config file.

GO      ?= go
CC      ?= gcc
PYTHON  ?= python3
BUILD   := build
LIB     := $(BUILD)/libqueuelink.so
PYLIB   := python/queuelink/libqueuelink.so
ROOT    := $(abspath .)

CFLAGS  ?= -O2 -g
CWARN   := -std=c99 -Wall -Wextra -Werror -pedantic
CLINK   := -L$(ROOT)/$(BUILD) -lqueuelink -Wl,-rpath,$(ROOT)/$(BUILD) -lpthread

CXXFLAGS   ?= -O2 -g
WARN       := -Wall -Wextra -Werror -pedantic
CXXWARN    := -std=c++17 $(WARN)
CXXINCLUDE := -Iinclude -Ibindings/cpp
CPP_HEADERS := bindings/cpp/queuelink.hpp include/queuelink.h
# GoogleTest from Debian's libgtest-dev, a static library.
GTEST_LIBS ?= -lgtest
# The C++ tests build without optimization: GoogleTest's macros make -O1
# and -O2 builds take two to three times longer, and the examples and the
# C test cover optimized code.
TEST_CXXFLAGS ?= -O0 -g

# Installation directories of `make install`; DESTDIR is prepended to each.
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION      := $(shell awk '/^\#define QL_VERSION_(MAJOR|MINOR|PATCH) /{v=v sep $$3; sep="."} END{print v}' include/queuelink.h)

# The helper library that python/tests/test_cross_language.py loads.
CROSSLANG := $(BUILD)/libcrosslang_test.so

GO_SOURCES := go.mod $(wildcard go.sum) $(wildcard core/*.go) $(wildcard capi/*.go) $(wildcard capi/*.c) $(wildcard capi/*.h) capi/exports.map
# The library's SONAME carries the major version: programs linked against
# it load libqueuelink.so.MAJOR, which the build and `make install` provide
# as a symbolic link.
SONAME := libqueuelink.so.$(firstword $(subst ., ,$(VERSION)))
# Export only the ql_ functions (see capi/exports.map), and set the SONAME.
GO_LDFLAGS := -extldflags=-Wl,--version-script=$(ROOT)/capi/exports.map,-soname,$(SONAME)
SANITIZE   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all lib test test-go fuzz test-header test-c test-cpp test-examples \
        check-memory test-install test-python demo bench bench-baselines \
        install uninstall clean

all: lib

lib: $(LIB) $(PYLIB)

$(LIB): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -ldflags="$(GO_LDFLAGS)" -o $@ ./capi
	@rm -f $(BUILD)/libqueuelink.h
	ln -sf libqueuelink.so $(BUILD)/$(SONAME)

# Copy, then rename: a test run that has the library loaded keeps its
# file, instead of seeing it change under it.
$(PYLIB): $(LIB)
	cp $(LIB) $@.tmp
	mv -f $@.tmp $@

$(BUILD)/%: bindings/c/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) $(CFLAGS) -Iinclude -o $@ $< $(CLINK)

# The same program built with AddressSanitizer and UndefinedBehaviorSanitizer.
# The Go runtime inside the library runs under them without reports.
$(BUILD)/%-sanitized: bindings/c/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) -O1 -g $(SANITIZE) -Iinclude -o $@ $< $(CLINK)

# Example programs, plain and sanitized.
$(BUILD)/%: bindings/c/examples/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) $(CFLAGS) -Iinclude -o $@ $< $(CLINK)

$(BUILD)/%-sanitized: bindings/c/examples/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) -O1 -g $(SANITIZE) -Iinclude -o $@ $< $(CLINK)

$(BUILD)/%: bindings/cpp/examples/%.cpp $(CPP_HEADERS) $(LIB)
	$(CXX) $(CXXWARN) $(CXXFLAGS) $(CXXINCLUDE) -o $@ $< $(CLINK)

$(BUILD)/%-sanitized: bindings/cpp/examples/%.cpp $(CPP_HEADERS) $(LIB)
	$(CXX) $(CXXWARN) -O1 -g $(SANITIZE) $(CXXINCLUDE) -o $@ $< $(CLINK)

# The GoogleTest tests of the C++ layer, plain and sanitized.
# They compile to objects first, so a rebuilt library only relinks them.
$(BUILD)/test_queuelink_cpp.o: bindings/cpp/test_queuelink.cpp $(CPP_HEADERS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXWARN) $(TEST_CXXFLAGS) $(CXXINCLUDE) -c -o $@ $<

$(BUILD)/test_queuelink_cpp: $(BUILD)/test_queuelink_cpp.o $(LIB)
	$(CXX) -o $@ $< $(GTEST_LIBS) $(CLINK)

$(BUILD)/test_queuelink_cpp-sanitized.o: bindings/cpp/test_queuelink.cpp $(CPP_HEADERS)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXWARN) $(TEST_CXXFLAGS) $(SANITIZE) $(CXXINCLUDE) -c -o $@ $<

$(BUILD)/test_queuelink_cpp-sanitized: $(BUILD)/test_queuelink_cpp-sanitized.o $(LIB)
	$(CXX) $(SANITIZE) -o $@ $< $(GTEST_LIBS) $(CLINK)

# Linked to the package's copy of the library, so that it shares the
# package's Go runtime in one process; see bindings/c/crosslang_helper.c.
$(CROSSLANG): bindings/c/crosslang_helper.c include/queuelink.h $(PYLIB)
	$(CC) $(CWARN) $(CFLAGS) -fPIC -shared -Iinclude -o $@ $< \
	    -L$(dir $(PYLIB)) -lqueuelink -Wl,-rpath,'$$ORIGIN/../$(dir $(PYLIB))'

test: test-go test-header test-c test-cpp test-examples check-memory test-install test-python

# The Go tests under the race detector, then the load tests (build tag
# !race: a 100 MB line, a million lines, the full-size stress test), which
# the race detector would slow tenfold.
test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'Stress|HundredMegabyte|MillionTiny' ./core
	$(MAKE) --no-print-directory fuzz FUZZTIME=10s

# Each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLineFraming$$' -fuzztime $(FUZZTIME) ./core
	$(GO) test -run '^$$' -fuzz '^FuzzConnectionFraming$$' -fuzztime $(FUZZTIME) ./core

# The headers on their own: queuelink.h as C99 and as C++17, queuelink.hpp
# as C++17 and C++20, every warning an error. Then the functions that the
# library exports against those that queuelink.h declares.
test-header: $(LIB)
	$(CC) $(CWARN) -Wstrict-prototypes -Wmissing-prototypes -Iinclude -fsyntax-only bindings/c/header_only.c
	$(CXX) -x c++ $(CXXWARN) -Wold-style-cast -Iinclude -fsyntax-only bindings/c/header_only.c
	$(CXX) $(CXXWARN) $(CXXINCLUDE) -fsyntax-only bindings/cpp/header_only.cpp
	$(CXX) -std=c++20 $(WARN) $(CXXINCLUDE) -fsyntax-only bindings/cpp/header_only.cpp
	sh bindings/check_exports.sh $(LIB) include/queuelink.h $(CC)
	readelf -d $(LIB) | grep -q 'SONAME.*\[$(SONAME)\]' || \
	    { echo "error: $(LIB) lacks the SONAME $(SONAME)" >&2; exit 1; }

test-c: $(BUILD)/test_queuelink $(BUILD)/test_queuelink-sanitized
	$(BUILD)/test_queuelink
	$(BUILD)/test_queuelink-sanitized

test-cpp: $(BUILD)/test_queuelink_cpp
	$(BUILD)/test_queuelink_cpp

test-examples: $(BUILD)/fanout $(BUILD)/fanin
	$(BUILD)/fanout
	$(BUILD)/fanin

# The C++ tests and the examples under AddressSanitizer and
# UndefinedBehaviorSanitizer; test-c runs the sanitized C test.
check-memory: $(BUILD)/test_queuelink_cpp-sanitized $(BUILD)/fanout-sanitized $(BUILD)/fanin-sanitized
	$(BUILD)/test_queuelink_cpp-sanitized
	$(BUILD)/fanout-sanitized
	$(BUILD)/fanin-sanitized

# Installs into a temporary prefix and builds the examples against the
# installed copy with the flags from pkg-config.
test-install: $(LIB)
	MAKE="$(MAKE)" CC="$(CC)" CXX="$(CXX)" sh bindings/test_install.sh

test-python: $(PYLIB) $(CROSSLANG)
	cd python && $(PYTHON) -m pytest -q tests

install: $(LIB)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libqueuelink.so.$(VERSION)
	ln -sf libqueuelink.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libqueuelink.so
	install -m 644 include/queuelink.h bindings/cpp/queuelink.hpp $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    bindings/pkgconfig/queuelink.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/queuelink.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libqueuelink.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libqueuelink.so.$(VERSION) $(DESTDIR)$(PKGCONFIGDIR)/queuelink.pc \
	      $(DESTDIR)$(INCLUDEDIR)/queuelink.h $(DESTDIR)$(INCLUDEDIR)/queuelink.hpp

demo: $(PYLIB) $(BUILD)/demo
	PYTHONPATH=$(ROOT)/python $(PYTHON) python/examples/demo.py
	$(BUILD)/demo

# The baselines of `make bench`, installed only when missing: libzmq's
# headers and library from Debian's libzmq3-dev (apt-get needs root; the
# package lists are fetched only when the first install attempt fails) and
# pyzmq from PyPI.
bench-baselines:
	@if ! echo '#include <zmq.h>' | $(CC) -E -x c - >/dev/null 2>&1; then \
	    echo "installing libzmq3-dev"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y libzmq3-dev || \
	    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y libzmq3-dev; }; \
	fi
	@if ! $(PYTHON) -c 'import zmq' 2>/dev/null; then \
	    echo "installing pyzmq"; \
	    $(PYTHON) -m pip install pyzmq; \
	fi

$(BUILD)/bench $(BUILD)/bench_zmq: bindings/c/bench_util.h

$(BUILD)/bench_zmq: bindings/c/bench_zmq.c | bench-baselines
	@mkdir -p $(BUILD)
	$(CC) $(CWARN) $(CFLAGS) -o $@ $< -lzmq -lpthread

# Every benchmark against its baseline, in one table; BENCHMARKS.md
# explains it.
bench: bench-baselines $(PYLIB) $(BUILD)/bench $(BUILD)/bench_zmq
	PYTHONPATH=$(ROOT)/python $(PYTHON) python/bench/run_all.py --build $(ROOT)/$(BUILD) --go $(GO)

clean:
	rm -rf $(BUILD) $(PYLIB)
