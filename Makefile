# QueueLink build. `make` builds the shared library, `make test` runs the
# Go, C and Python tests, `make demo` runs the main job on real input and
# `make bench` prints the benchmarks.

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

GO_SOURCES := go.mod $(wildcard go.sum) $(wildcard core/*.go) $(wildcard capi/*.go)
SANITIZE   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

.PHONY: all lib test test-go test-c test-python demo bench clean

all: lib

lib: $(LIB) $(PYLIB)

$(LIB): $(GO_SOURCES)
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -o $@ ./capi
	@rm -f $(BUILD)/libqueuelink.h

$(PYLIB): $(LIB)
	cp $(LIB) $@

$(BUILD)/%: bindings/c/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) $(CFLAGS) -Iinclude -o $@ $< $(CLINK)

# The same program built with AddressSanitizer and UndefinedBehaviorSanitizer.
# The Go runtime inside the library runs under them without reports.
$(BUILD)/%-sanitized: bindings/c/%.c include/queuelink.h $(LIB)
	$(CC) $(CWARN) -O1 -g $(SANITIZE) -Iinclude -o $@ $< $(CLINK)

test: test-go test-c test-python

test-go:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

test-c: $(BUILD)/test_queuelink $(BUILD)/test_queuelink-sanitized
	$(BUILD)/test_queuelink
	$(BUILD)/test_queuelink-sanitized

test-python: $(PYLIB)
	cd python && $(PYTHON) -m pytest -q tests

demo: $(PYLIB) $(BUILD)/demo
	PYTHONPATH=$(ROOT)/python $(PYTHON) python/examples/demo.py
	$(BUILD)/demo

bench: $(PYLIB) $(BUILD)/bench
	PYTHONPATH=$(ROOT)/python $(PYTHON) python/bench/bench_link.py
	$(BUILD)/bench

clean:
	rm -rf $(BUILD) $(PYLIB)
