#!/usr/bin/env bash
# `make bench`: install what the benchmark needs, then run it (bench/run.php) and leave
#   bench/results/latest.md    the table (date, machine, medians, ratios, round trips, targets)
#   bench/results/latest.png   the chart (cycles/s per contender)
#   bench/results/latest.json  every measurement, for bench/lib/report.php to re-render
# The Makefile's bench target has already run scripts/deps.sh, scripts/services.sh (Redis on
# 6379 is not used: the benchmark starts its own private redis-server and MariaDB; the system
# MariaDB is measured once for reference) and the release build.
#
# Knobs (environment): BENCH_ROUNDS (default 5), BENCH_SECONDS per run (default 1.0), BENCH_PIN
# (same = PHP and the private redis-server on CPU 0, the default; split; none), BENCH_MYSQL
# (private = a MariaDB of the run's own, the default; system = the one scripts/services.sh starts),
# BENCH_ARGS (extra options for bench/run.php, e.g. "--skip-http" or "--only=cannon,phpredis").
set -euo pipefail

cd "$(dirname "$0")/.."

bash bench/deps.sh

ext="${CANNON_EXT:-$PWD/target/release/libcannon_session.so}"
if [[ ! -f "$ext" ]]; then
    echo "bench: $ext not found: run 'make build' (the cannon rows will be n/a)" >&2
fi

args=(--rounds="${BENCH_ROUNDS:-5}" --seconds="${BENCH_SECONDS:-1.0}")
# shellcheck disable=SC2206 # BENCH_ARGS is a list of options, split on purpose
[[ -n "${BENCH_ARGS:-}" ]] && args+=(${BENCH_ARGS})

start=$SECONDS
CANNON_EXT="$ext" php bench/run.php "${args[@]}"
# The targets of issue 5, as measured.
awk '/^## Targets/ {p = 1} /^## Round-trip/ {p = 0} p' bench/results/latest.md
echo "bench: done in $((SECONDS - start)) s: bench/results/latest.md, bench/results/latest.png"
