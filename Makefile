# SPDX-License-Identifier: MIT
# Thin wrapper around CMake: dependencies, build, test, demo, bench, eval.
BUILD ?= build
BUILD_ASAN ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# cmake --build runs make below this one: no "Entering directory" lines
MAKEFLAGS += --no-print-directory

# Debian packages the build, the test suite and the evaluation (gnuplot) need.
DEPS = cmake make gcc g++ pkg-config libinih-dev libglpk-dev libcmocka-dev \
	protobuf-c-compiler libprotobuf-c-dev libuv1-dev libsqlite3-dev libssl-dev libsystemd-dev uthash-dev \
	gnuplot-nox

.PHONY: all deps build build-asan test test-fast demo bench eval clean help

all: build

help:
	@echo "make demo   install dependencies, build, run hared + 25 emulated agents on loopback and compare with hare-sim"
	@echo "make test   install dependencies, build (plain and ASan+UBSan), run every test"
	@echo "make build  build into $(BUILD)/"
	@echo "make bench  run the benchmarks (tables on stdout)"
	@echo "make eval   run the evaluation study into results/<date>/ (EVAL_QUICK=1: a few minutes)"
	@echo "make deps   install missing Debian packages (apt-get)"

deps:
	@missing=""; \
	for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	@cmake -S . -B $(BUILD) -DHARE_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DHARE_WERROR=ON -DHARE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_ASAN) -j$(JOBS)

test: build build-asan
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)
	# Under the sanitizers the timing-based integration tests run 3-5x slower
	# than their deadlines allow; every other test runs in both builds.
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --test-dir $(BUILD_ASAN) --output-on-failure -j$(JOBS) -LE integration

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

demo: build
	@bash deploy/demo.sh $(BUILD)

bench: build
	@for b in $(BUILD)/tests/bench/*; do \
		[ -f "$$b" ] && [ -x "$$b" ] || continue; echo "== $$(basename $$b)"; "$$b" || exit 1; \
	done

eval: build
	@bash sim/eval.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
