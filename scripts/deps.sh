#!/usr/bin/env bash
# Install the Debian packages that building and testing cannon-session needs, but only those that
# are missing. Quiet and quick when everything is already there. Needs root or sudo to install.
#
# Rust is not installed here: Debian's cargo is too old for ext-php-rs, so cargo must come from
# rustup. This script only checks that it is there.
set -euo pipefail

PACKAGES=(
    php8.2-cli php8.2-dev php8.2-mbstring php8.2-xml php8.2-mysql php-redis phpunit
    libclang-dev pkg-config build-essential gcc make
    redis-server redis-tools mariadb-server mariadb-client
    curl openssl ca-certificates
    # php-tests/LaravelTest.php and SymfonyTest.php: Debian 12's Laravel 8.83 and Symfony 5.4, and
    # composer (LaravelTest installs integrations/laravel with it, as the README says)
    php-laravel-framework php-symfony-http-foundation php-symfony-framework-bundle php-symfony-yaml composer
)

is_installed() {
    # No pipe into `grep -q`: grep quits at the first match, dpkg can then die of SIGPIPE, and
    # pipefail turns that into "not installed" (it did for php-laravel-framework, whose status
    # is long).
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == 'install ok installed' ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
    sudo_cmd=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            echo "deps: missing packages: ${missing[*]}" >&2
            echo "deps: not root and no sudo: install them as root, then run this again." >&2
            exit 1
        fi
    fi
    echo "deps: installing ${missing[*]}"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
    still_missing=()
    for pkg in "${missing[@]}"; do
        is_installed "$pkg" || still_missing+=("$pkg")
    done
    if ((${#still_missing[@]} > 0)); then
        echo "deps: still not installed after apt-get: ${still_missing[*]}" >&2
        exit 1
    fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        echo "deps: cargo is in $HOME/.cargo/bin but not on PATH: run 'source \"\$HOME/.cargo/env\"' (or add it to PATH)." >&2
    else
        cat >&2 <<'MSG'
deps: cargo (Rust) was not found. Debian's cargo is too old for ext-php-rs; install Rust with rustup:
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    source "$HOME/.cargo/env"
then run this again.
MSG
    fi
    exit 1
fi
