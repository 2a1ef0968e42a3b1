#!/usr/bin/env bash
# Pack release builds of cannon-session as PIE's pre-packaged-binary assets, into dist/:
#   php_cannon_session-<version>_php<major.minor>-<arch>-linux-<libc>[-zts].zip  (+ .sha256)
# Each zip holds cannon_session.so at its root. <version> is Cargo.toml's.
#
# Built for the PHP whose php-config is on PATH (the host's), and for each version in
# DIST_CHROOT_PHP (default: 8.4) through scripts/chroot-php.sh, which builds or reuses a cached
# Debian chroot with that PHP. DIST_CHROOT_PHP="" packs the host's PHP only. Without root (or
# sudo) the chroot versions are skipped with a warning.
set -euo pipefail

# One brace group, read whole before it runs: editing this file during a run cannot change it.
{
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { echo "dist: $*"; }
die() {
    echo "dist: $*" >&2
    exit 1
}

command -v zip >/dev/null 2>&1 || die "zip not found (apt-get install zip)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"

version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -n 1)"
[[ -n "$version" ]] || die "no version in Cargo.toml's [package]"

arch="$(uname -m)"
libc=glibc
if ldd --version 2>&1 | grep -qi musl; then libc=musl; fi
os="$(uname -s | tr '[:upper:]' '[:lower:]')"

mkdir -p dist

# pack <so> <php major.minor> <zts: 0|1>
pack() {
    local so="$1" php_mm="$2" zts="$3"
    local name="php_cannon_session-${version}_php${php_mm}-${arch}-${os}-${libc}"
    ((zts)) && name+="-zts"
    local stage
    stage="$(mktemp -d)"
    cp "$so" "$stage/cannon_session.so"
    # Fixed timestamps and no extra attributes: the same .so gives the same zip.
    touch -d '1980-01-02 00:00:00 UTC' "$stage/cannon_session.so"
    rm -f "dist/$name.zip" "dist/$name.zip.sha256"
    (cd "$stage" && TZ=UTC zip -q -X -9 "$OLDPWD/dist/$name.zip" cannon_session.so)
    rm -rf "$stage"
    (cd dist && sha256sum "$name.zip" >"$name.zip.sha256")
    say "dist/$name.zip  $(cut -d' ' -f1 "dist/$name.zip.sha256")"
}

# --- the host's PHP ----------------------------------------------------------------------------
# The same build as `make build`: ext-php-rs builds against `php`/`php-config` on PATH, or the
# PHP/PHP_CONFIG environment variables when they are set.
php_bin="${PHP:-$(command -v php || true)}"
[[ -n "$php_bin" ]] || die "php not found; scripts/deps.sh installs it"
php_mm="$("$php_bin" -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;')"
zts="$("$php_bin" -r 'echo PHP_ZTS ? 1 : 0;')"
say "cargo build --release against PHP $("$php_bin" -r 'echo PHP_VERSION;')"
cargo build --release --locked --lib
so=target/release/libcannon_session.so
"$php_bin" -n -d extension="$PWD/$so" -r 'exit(extension_loaded("cannon_session") ? 0 : 1);' ||
    die "$so does not load into $php_bin"
pack "$so" "$php_mm" "$zts"

# --- other PHP versions, in chroots ------------------------------------------------------------
for v in ${DIST_CHROOT_PHP-8.4}; do
    if ((EUID != 0)) && ! command -v sudo >/dev/null 2>&1; then
        echo "dist: WARNING: PHP $v skipped: building it in a chroot needs root or sudo" >&2
        continue
    fi
    say "PHP $v: building in its chroot (scripts/chroot-php.sh --build-only $v)"
    bash scripts/chroot-php.sh --build-only "$v"
    so="$(bash scripts/chroot-php.sh --print-so "$v")"
    [[ -f "$so" ]] || die "the chroot build for PHP $v left no $so"
    pack "$so" "$v" 0
done

say "done: $(cd dist && ls -1 php_cannon_session-"$version"_*.zip | tr '\n' ' ')"
exit
}
