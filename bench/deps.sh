#!/usr/bin/env bash
# Install what `make bench` needs beyond scripts/deps.sh, but only what is missing:
#   php-redis, php-symfony-http-foundation (contenders), php-fpm + nginx + wrk (HTTP part),
#   redis-server/redis-tools (private server, redis-benchmark), php-mysql (PDO contenders),
#   strace (syscall counts), gnuplot-nox (chart).
# A package the distribution does not offer is reported and skipped: the part of the benchmark
# that needs it is then marked n/a in the results instead of failing the whole run.
set -euo pipefail

phpver="$(php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;' 2>/dev/null || echo 8.2)"
wanted=(
    php-redis php-symfony-http-foundation "php${phpver}-fpm" "php${phpver}-mysql" nginx wrk
    redis-server redis-tools strace gnuplot-nox
)

is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -qx 'Status: install ok installed'
}

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench/deps: not a Debian-like system: install by hand: ${wanted[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

sudo_cmd=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        sudo_cmd=(sudo)
    else
        echo "bench/deps: missing ${missing[*]}; not root and no sudo: those parts will be n/a" >&2
        exit 0
    fi
fi

apt_env=(env DEBIAN_FRONTEND=noninteractive)
# Only ask the package index when something is missing; refresh it once if a package is unknown.
candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'
}
unknown=0
for pkg in "${missing[@]}"; do
    c="$(candidate "$pkg")"
    [[ -z "$c" || "$c" == "(none)" ]] && unknown=1
done
if ((unknown)); then
    "${sudo_cmd[@]}" "${apt_env[@]}" apt-get update -qq || true
fi

installable=()
for pkg in "${missing[@]}"; do
    c="$(candidate "$pkg")"
    if [[ -z "$c" || "$c" == "(none)" ]]; then
        echo "bench/deps: $pkg is not available from apt: the part that needs it will be n/a" >&2
    else
        installable+=("$pkg")
    fi
done
((${#installable[@]} == 0)) && exit 0

echo "bench/deps: installing ${installable[*]}"
"${sudo_cmd[@]}" "${apt_env[@]}" apt-get install -y -qq --no-install-recommends "${installable[@]}" >/dev/null
for pkg in "${installable[@]}"; do
    is_installed "$pkg" || echo "bench/deps: $pkg still not installed: the part that needs it will be n/a" >&2
done
exit 0
