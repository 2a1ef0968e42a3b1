# cannon-session: build, test and demo.
#   make test    install what is missing, start Redis + MariaDB, build, run every test suite
#   make demo    run the CannonPHP-style demo app against Redis
#   make build   cargo build --release  ->  $(EXT)
#   make dist    release zips for PIE (dist/), for the host's PHP and PHP 8.4 (in a chroot)
#   make test-php84 / test-php85   build + the PHPUnit suite on PHP 8.4 / 8.5 in a Debian chroot
# Rust comes from rustup (Debian's cargo is too old); scripts/deps.sh installs everything else.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
.DELETE_ON_ERROR:

# rustup puts cargo here; CI and fresh shells may not have it on PATH yet.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO   := cargo
PHP     := php
PHPUNIT := /usr/bin/phpunit
EXT     := $(CURDIR)/target/release/libcannon_session.so

CANNON_REDIS_DSN ?= redis://127.0.0.1:6379/0
CANNON_MYSQL_DSN ?= mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test
CANNON_EXT       := $(EXT)
export CANNON_REDIS_DSN CANNON_MYSQL_DSN CANNON_EXT

.PHONY: all deps services build test test-rust test-php test-faults demo bench fuzz clean lint-scripts \
	dist test-php84 test-php85

all: test

deps:
	bash scripts/deps.sh

services: deps
	bash scripts/services.sh

build: deps
	$(CARGO) build --release
	test -f "$(EXT)" || { echo "build: $(EXT) was not produced" >&2; exit 1; }

# One recipe, in order: Rust unit tests, then PHPUnit, then the fault scripts.
# TEST_PHP84=1 adds `make test-php84` at the end (off by default: see README, PHP versions).
TEST_PHP84 ?=
test: deps services build
	$(MAKE) --no-print-directory test-rust
	$(MAKE) --no-print-directory test-php
	$(MAKE) --no-print-directory test-faults
	if [ -n "$(TEST_PHP84)" ]; then $(MAKE) --no-print-directory test-php84; fi

# The three steps below assume deps, services and build have been done (use `make test`).
test-rust:
	$(CARGO) test --no-default-features

test-php:
	test -f "$(PHPUNIT)" || { echo "test-php: $(PHPUNIT) not found (scripts/deps.sh installs phpunit)" >&2; exit 1; }
	$(PHP) -d extension="$(EXT)" "$(PHPUNIT)" -c php-tests/phpunit.xml.dist

test-faults:
	if [ -d tests/faults ]; then \
	  shopt -s nullglob; \
	  for t in tests/faults/*.sh; do \
	    echo "== fault test $$t"; \
	    bash "$$t" || { echo "fault test FAILED: $$t" >&2; exit 1; }; \
	  done; \
	fi

# Other PHP versions, each in a Debian chroot cached under /var/cache/cannon-session (needs root
# or sudo; the first run builds the chroot, ~2.3 GB, and takes 9-13 min). Not part of `make test`
# unless TEST_PHP84=1: see README. Arguments for PHPUnit: scripts/chroot-php.sh 8.4 --filter X
test-php84: deps services
	bash scripts/chroot-php.sh 8.4

test-php85: deps services
	bash scripts/chroot-php.sh 8.5

# PIE pre-packaged-binary zips + .sha256 in dist/. DIST_CHROOT_PHP="" packs the host's PHP only.
dist: deps
	bash scripts/dist.sh

demo: deps build
	bash scripts/services.sh redis
	$(PHP) demo/run.php "$(EXT)"

bench: deps services build
	if [ -f bench/run.sh ]; then bash bench/run.sh; else echo "bench: no bench/run.sh yet"; fi

fuzz:
	if [ -f fuzz/run.sh ]; then bash fuzz/run.sh; else echo "fuzz: no fuzz/run.sh yet"; fi

clean:
	$(CARGO) clean

lint-scripts:
	for f in scripts/*.sh .ci/run; do bash -n "$$f"; done
	if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh .ci/run; fi
