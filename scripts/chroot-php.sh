#!/usr/bin/env bash
# Build cannon-session against another PHP version in a cached Debian chroot and run the whole
# PHPUnit suite there, against the host's Redis and MariaDB on loopback (a chroot shares the
# host's network namespace).
#
# Usage: scripts/chroot-php.sh [--setup-only|--build-only|--shell|--print-so] <php-version> [phpunit args...]
#   8.4   Debian 13 (trixie), PHP 8.4
#   8.5   Debian unstable (sid) with PHP 8.5 from Debian's experimental suite
#
# The chroot is built once with debootstrap and cached outside the git tree, in
#   ${CANNON_CHROOT_CACHE:-/var/cache/cannon-session}/chroot-<suite>
# along with its own cargo home and target dir, so a second run only rebuilds what changed.
# The source tree is bind-mounted read-only; ~/.rustup and ~/.cargo/bin are bind-mounted
# read-only (the host's Rust toolchain is used), and so is /run/mysqld (the host MariaDB's
# socket). Every mount is undone on exit, whatever happens.
#
# Needs root (or sudo): debootstrap, chroot and mount do. The host's services must be up
# (scripts/services.sh), as for `make test`.
set -euo pipefail

# One brace group, read whole before it runs: editing this file during a run cannot change it.
{

usage() {
    echo "usage: $0 [--setup-only|--build-only|--shell|--print-so] <8.4|8.5>" >&2
    exit 2
}

mode=test
case "${1:-}" in
    --build-only) mode=build; shift ;;
    --shell) mode=shell; shift ;;
    --print-so) mode=print-so; shift ;;
    --setup-only) mode=setup; shift ;;
esac
[[ $# -ge 1 ]] || usage
php_ver="$1"
shift
phpunit_args=("$@") # anything after the version goes to PHPUnit (e.g. --filter NAME)

case "$php_ver" in
    8.4)
        suite=trixie
        extra_suite=""
        ;;
    8.5)
        suite=sid
        extra_suite=experimental
        ;;
    *)
        echo "chroot-php: no Debian suite known for PHP $php_ver (8.4: trixie, 8.5: sid + experimental)" >&2
        exit 2
        ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CANNON_CHROOT_CACHE:-/var/cache/cannon-session}"
root="$cache/chroot-$suite"
log_dir="$cache/logs"
# The built extension, as the host sees it.
so_in_chroot=/var/cache/cannon/target/release/libcannon_session.so
if [[ "$mode" == print-so ]]; then
    echo "$root$so_in_chroot"
    exit 0
fi
redis_dsn="${CANNON_REDIS_DSN:-redis://127.0.0.1:6379/0}"
mysql_dsn="${CANNON_MYSQL_DSN:-mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test}"

# What the chroot needs: PHP and what the suite uses (mbstring, xml, mysqli/PDO, phpredis for
# the probes), clang for ext-php-rs' bindgen, a C toolchain, and MariaDB's and Redis' binaries
# (never started as services in the chroot; the suite starts private servers of its own).
packages=(
    "php$php_ver-cli" "php$php_ver-dev" "php$php_ver-mbstring" "php$php_ver-xml" "php$php_ver-mysql"
    clang libclang-dev build-essential pkg-config ca-certificates
    mariadb-server mariadb-client redis-server openssl procps
)
case "$php_ver" in
    # Debian 13 packages Laravel 10 and Symfony 6.4: the framework tests run on those there.
    8.4) packages+=(php8.4-redis php-laravel-framework php-symfony-http-foundation
                    php-symfony-framework-bundle php-symfony-yaml composer) ;;
    8.5) ;; # no phpredis is built for 8.5 yet
esac

sudo_cmd=()
if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || {
        echo "chroot-php: needs root (debootstrap, chroot, mount) and there is no sudo" >&2
        exit 1
    }
    sudo_cmd=(sudo)
fi
as_root() { "${sudo_cmd[@]}" "$@"; }

say() { echo "chroot-php[$php_ver]: $*"; }
die() {
    echo "chroot-php[$php_ver]: $*" >&2
    exit 1
}

# The Debian mirror the host already uses (sources.list or deb822 .sources), else deb.debian.org.
debian_mirror() {
    if [[ -n "${CANNON_DEBIAN_MIRROR:-}" ]]; then
        echo "$CANNON_DEBIAN_MIRROR"
        return
    fi
    local m
    m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -oE '(https?|file)://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ' || true)"
    echo "${m:-http://deb.debian.org/debian}"
}

# --- mounts, always undone -------------------------------------------------------------------

mounted=()
mount_in() { # mount_in <target under root> <mount args...>
    local target="$root$1"
    shift
    as_root mkdir -p "$target"
    as_root mount "$@" "$target"
    mounted+=("$target")
}
bind_ro() { # bind_ro <host path> <path in chroot>
    local target="$root$2"
    if [[ -d "$1" ]]; then as_root mkdir -p "$target"; else as_root mkdir -p "$(dirname "$target")"; as_root touch "$target"; fi
    as_root mount --bind "$1" "$target"
    mounted+=("$target")
    # A read-only bind needs a remount of the bind itself.
    as_root mount -o remount,bind,ro "$target"
}
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        as_root umount "${mounted[i]}" 2>/dev/null || as_root umount -l "${mounted[i]}" 2>/dev/null || true
    done
    mounted=()
    # Anything left under the chroot (debootstrap killed half-way, say): lazily unmount it too.
    if [[ -d "$root" ]]; then
        local m
        while read -r m; do
            [[ -n "$m" ]] && as_root umount -l "$m" 2>/dev/null || true
        done < <(findmnt -rn -o TARGET | grep -F "$root/" | sort -r || true)
    fi
}
trap unmount_all EXIT
trap 'exit 130' INT TERM

mount_system() {
    mount_in /proc -t proc proc
    mount_in /dev --bind /dev
    mount_in /dev/pts --bind /dev/pts
    as_root cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    # The host's name must resolve in the chroot too (mariadb-install-db checks it).
    as_root cp -L /etc/hosts "$root/etc/hosts"
    # The suite's `mariadb -uroot` reaches the host's MariaDB over its socket. A MariaDB 11.4+
    # client (Debian 13's) insists on TLS by default, which Debian 12's server (10.11) does not
    # offer there.
    # (Written before mariadb-client is installed, on a first run.)
    as_root mkdir -p "$root/etc/mysql/mariadb.conf.d"
    printf '# written by scripts/chroot-php.sh\n[client]\nskip-ssl\n' |
        as_root tee "$root/etc/mysql/mariadb.conf.d/99-cannon-client.cnf" >/dev/null
    # cargo in the chroot fetches crates over the host's network, so it trusts what the host
    # trusts (where egress goes through a TLS proxy, the host's bundle holds the proxy's CA).
    local bundle="${CARGO_HTTP_CAINFO:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
    if [[ -f "$bundle" ]]; then
        as_root install -D -m 644 "$bundle" "$root/etc/cannon/host-ca-certificates.crt"
    fi
}

in_chroot() { # in_chroot <command...>   (a login-free, clean environment)
    as_root chroot "$root" /usr/bin/env -i \
        HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
        PATH=/opt/cargo-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        RUSTUP_HOME=/opt/rustup CARGO_HOME=/var/cache/cannon/cargo-home \
        CARGO_TARGET_DIR=/var/cache/cannon/target \
        CARGO_HTTP_CAINFO=/etc/cannon/host-ca-certificates.crt \
        CANNON_REDIS_DSN="$redis_dsn" CANNON_MYSQL_DSN="$mysql_dsn" \
        CANNON_EXT="$so_in_chroot" \
        DEBIAN_FRONTEND=noninteractive \
        "$@"
}

# --- the chroot ------------------------------------------------------------------------------

ensure_base() {
    [[ -f "$root/.cannon-base" ]] && return
    if ! command -v debootstrap >/dev/null 2>&1; then
        say "installing debootstrap"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
            { as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; } ||
            die "could not install debootstrap"
    fi
    local mirror
    mirror="$(debian_mirror)"
    if [[ -e "$root" ]]; then
        say "removing the unfinished chroot $root"
        unmount_all
        findmnt -rn -o TARGET | grep -qF "$root/" && die "something is still mounted under $root; not removing it"
        as_root rm -rf --one-file-system "$root"
    fi
    as_root mkdir -p "$cache" "$log_dir"
    say "debootstrap --variant=minbase $suite $root $mirror (log: $log_dir/debootstrap-$suite.log)"
    if ! as_root debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$log_dir/debootstrap-$suite.log" 2>&1; then
        tail -n 20 "$log_dir/debootstrap-$suite.log" >&2
        die "debootstrap failed"
    fi
    # Never start services inside the chroot (mariadb-server's postinst would try): the host's
    # MariaDB owns port 3306.
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$root/usr/sbin/policy-rc.d" >/dev/null
    as_root chmod 755 "$root/usr/sbin/policy-rc.d"
    if [[ -n "$extra_suite" ]]; then
        echo "deb $mirror $extra_suite main" | as_root tee "$root/etc/apt/sources.list.d/$extra_suite.list" >/dev/null
        printf 'Package: php%s*\nPin: release a=%s\nPin-Priority: 500\n' "$php_ver" "$extra_suite" |
            as_root tee "$root/etc/apt/preferences.d/php$php_ver" >/dev/null
    fi
    as_root touch "$root/.cannon-base"
}

ensure_packages() {
    local want
    want="$(printf '%s\n' "${packages[@]}" | sort)"
    if [[ -f "$root/.cannon-packages" ]] && [[ "$(cat "$root/.cannon-packages")" == "$want" ]]; then
        return
    fi
    if [[ "$suite" == sid ]]; then
        # Unstable's Release files are valid for a week only; a mirror that lags behind (as
        # a snapshot does) serves expired ones, which apt refuses.
        echo 'Acquire::Check-Valid-Until "false";' | as_root tee "$root/etc/apt/apt.conf.d/99cannon-valid-until" >/dev/null
    fi
    say "apt-get install ${packages[*]} (log: $log_dir/apt-$suite.log)"
    if ! in_chroot sh -c 'apt-get update -qq && apt-get install -y -q --no-install-recommends "$@"' \
        sh "${packages[@]}" >"$log_dir/apt-$suite.log" 2>&1; then
        tail -n 30 "$log_dir/apt-$suite.log" >&2
        die "apt-get install failed in the chroot"
    fi
    in_chroot apt-get clean
    echo "$want" | as_root tee "$root/.cannon-packages" >/dev/null
}

# PHPUnit 9.6, the version `make test` runs (Debian 12's) and php-tests/phpunit.xml.dist is
# written for: Debian 13 ships PHPUnit 11, which refuses the suite (TestCase::output() became
# final, 9.6's configuration attributes are gone). Debian 12's PHPUnit packages are PHP code only
# (Architecture: all); they are fetched with a separate apt configuration, so the chroot's own
# sources stay as they are, and unpacked into /opt/phpunit9. 9.6.7 predates PHP 8.4, which
# deprecates implicitly nullable parameters and E_STRICT, and the suite turns deprecations into
# errors: scripts/chroot/phpunit9-compat.php makes the changes upstream made in later 9.6
# releases (in that private copy only).
phpunit9_packages=(
    phpunit phpunit-cli-parser phpunit-code-unit phpunit-code-unit-reverse-lookup phpunit-comparator
    phpunit-complexity phpunit-diff phpunit-environment phpunit-exporter phpunit-global-state
    phpunit-lines-of-code phpunit-object-enumerator phpunit-object-reflector
    phpunit-recursion-context phpunit-resource-operations phpunit-type phpunit-version
    php-codecoverage php-deepcopy php-doctrine-instantiator php-file-iterator php-invoker
    php-parser php-phar-io-manifest php-phar-io-version php-text-template php-timer
    php-tokenizer # theseer/tokenizer (in Debian 12 this name is that library, not the PHP extension)
)
phpunit9=/opt/phpunit9

ensure_phpunit9() {
    # The stamp holds the patch script's checksum: a changed script redoes the copy.
    local patch="$repo/scripts/chroot/phpunit9-compat.php" stamp
    stamp="$(sha256sum "$patch" | cut -d' ' -f1)"
    if [[ -f "$root$phpunit9/.complete" ]] && [[ "$(cat "$root$phpunit9/.complete")" == "$stamp" ]]; then
        return
    fi
    say "PHPUnit 9.6 from Debian 12 into $phpunit9, patched for PHP 8.4+ (log: $log_dir/phpunit9-$suite.log)"
    local mirror
    mirror="$(debian_mirror)"
    as_root install -D -m 644 "$patch" "$root/var/cache/cannon/phpunit9-compat.php"
    if ! in_chroot bash -euc '
        d=/var/cache/cannon/phpunit9-apt
        rm -rf "$d" && mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/debs"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] '"$mirror"' bookworm main" >"$d/sources.list"
        apt_opts=(-o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/nonexistent
                  -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d" -o Dir::Cache::pkgcache=""
                  -o Dir::Cache::srcpkgcache="" -o APT::Default-Release=bookworm
                  -o APT::Sandbox::User=root)
        apt-get "${apt_opts[@]}" update -qq
        cd "$d/debs"
        apt-get "${apt_opts[@]}" download "$@"
        rm -rf '"$phpunit9"' && mkdir -p '"$phpunit9"'
        for deb in *.deb; do dpkg-deb -x "$deb" '"$phpunit9"'; done
        cd / && rm -rf "$d"
        php /var/cache/cannon/phpunit9-compat.php '"$phpunit9"'/usr/share/php
        php -d include_path='"$phpunit9"'/usr/share/php '"$phpunit9"'/usr/bin/phpunit --version
    ' bash "${phpunit9_packages[@]/%//bookworm}" >"$log_dir/phpunit9-$suite.log" 2>&1; then
        tail -n 20 "$log_dir/phpunit9-$suite.log" >&2
        die "could not set up PHPUnit 9.6 from Debian 12"
    fi
    echo "$stamp" | as_root tee "$root$phpunit9/.complete" >/dev/null
}

# --- main ------------------------------------------------------------------------------------

start=$SECONDS
ensure_base
mount_system
ensure_packages
ensure_phpunit9
say "chroot ready after $((SECONDS - start)) s: $(in_chroot php -r 'echo PHP_VERSION, " ", PHP_ZTS ? "ZTS" : "NTS";')"

[[ "$mode" == setup ]] && exit 0

rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
[[ -x "$cargo_bin/cargo" ]] || die "no cargo in $cargo_bin: install Rust with rustup first"
[[ -d "$rustup_home/toolchains" ]] || die "no rustup toolchains in $rustup_home"
bind_ro "$rustup_home" /opt/rustup
bind_ro "$cargo_bin" /opt/cargo-bin
bind_ro "$repo" /src
# The host's MariaDB socket: the suite connects through it too, and KILLs connections as root
# over it (a read-only bind still lets clients connect).
mysql_socket_dir="${CANNON_MYSQL_SOCKET_DIR:-/run/mysqld}"
if [[ -d "$mysql_socket_dir" ]]; then
    bind_ro "$mysql_socket_dir" /run/mysqld
fi
as_root mkdir -p "$root/var/cache/cannon/cargo-home" "$root/var/cache/cannon/target"

if [[ "$mode" == shell ]]; then
    in_chroot bash -c 'cd /src && exec bash -i'
    exit
fi

t0=$SECONDS
say "cargo build --release against $(in_chroot php-config --version) (target dir in the chroot)"
in_chroot nice -n 10 bash -c 'cd /src && cargo build --release --locked' ||
    die "cargo build failed against PHP $php_ver"
say "build took $((SECONDS - t0)) s"
in_chroot php -d extension="$so_in_chroot" -r '
    if (!extension_loaded("cannon_session")) { fwrite(STDERR, "not loaded\n"); exit(1); }
    echo "loaded on PHP ", PHP_VERSION, "\n";' || die "the extension does not load on PHP $php_ver"
[[ "$mode" == build ]] && exit 0

t0=$SECONDS
say "PHPUnit $(in_chroot php -d include_path="$phpunit9/usr/share/php" "$phpunit9/usr/bin/phpunit" --version | grep -o '[0-9][0-9.]*' | head -n 1) (php-tests/phpunit.xml.dist) on PHP $php_ver"
rc=0
in_chroot bash -c 'pu="$1"; shift; cd /src && php -d include_path=".:$pu/usr/share/php:/usr/share/php" -d extension="$CANNON_EXT" "$pu/usr/bin/phpunit" -c php-tests/phpunit.xml.dist "$@"' \
    bash "$phpunit9" ${phpunit_args[@]+"${phpunit_args[@]}"} || rc=$?
say "PHPUnit took $((SECONDS - t0)) s, exit $rc; whole run $((SECONDS - start)) s"
exit "$rc"
exit
}
