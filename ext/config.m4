dnl cannon_session: a PHP extension written in Rust, built by cargo.
dnl
dnl phpize runs in this directory (ext/) so that the Makefile configure writes here does not
dnl overwrite the project's own Makefile; the crate is the directory above. There are no C
dnl sources: Makefile.frag runs `cargo build --release` against the php-config phpize found and
dnl copies the library to modules/cannon_session.so, which `make install` puts in that PHP's
dnl extension directory.

PHP_ARG_ENABLE([cannon-session],
  [whether to enable cannon_session (Redis/MySQL sessions, built with cargo)],
  [AS_HELP_STRING([--enable-cannon-session],
    [Enable cannon_session (default: yes)])],
  [yes])

if test "$PHP_CANNON_SESSION" != "no"; then
  dnl The crate: the parent of this directory, as an absolute path.
  CANNON_CRATE_DIR=`cd "$srcdir/.." && pwd`
  if test ! -f "$CANNON_CRATE_DIR/Cargo.toml"; then
    AC_MSG_ERROR([cannot find the crate's Cargo.toml in $CANNON_CRATE_DIR: run phpize in the ext/ directory of a cannon-session checkout])
  fi

  dnl cargo: on PATH, else where rustup puts it.
  AC_PATH_PROG([CARGO], [cargo], [no], [$PATH$PATH_SEPARATOR$HOME/.cargo/bin])
  if test "$CARGO" = "no"; then
    AC_MSG_ERROR([cargo (Rust) was not found on PATH nor in $HOME/.cargo/bin.
    cannon_session is written in Rust and builds with cargo. Install Rust with rustup
    (distribution packages are usually too old):
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        . ~/.cargo/env
    then run ./configure again.])
  fi

  dnl The Rust version: the locked dependencies need 1.89 or later.
  AC_MSG_CHECKING([for Rust 1.89 or later])
  cannon_rustc_version=`"$CARGO" --version 2>/dev/null | sed -n 's/^cargo \([[0-9]]*\.[[0-9]]*\).*/\1/p'`
  cannon_rust_major=`echo "$cannon_rustc_version" | cut -d. -f1`
  cannon_rust_minor=`echo "$cannon_rustc_version" | cut -d. -f2`
  if test -z "$cannon_rustc_version"; then
    AC_MSG_ERROR([$CARGO --version failed: is a Rust toolchain installed (rustup default stable)?])
  elif test "$cannon_rust_major" -lt 1 || { test "$cannon_rust_major" -eq 1 && test "$cannon_rust_minor" -lt 89; }; then
    AC_MSG_RESULT([no, $cannon_rustc_version])
    AC_MSG_ERROR([cargo $cannon_rustc_version at $CARGO is too old: cannon_session needs Rust 1.89 or later (rustup update stable)])
  fi
  AC_MSG_RESULT([$cannon_rustc_version])

  dnl libclang: ext-php-rs generates its bindings to PHP's headers with bindgen, which loads
  dnl libclang at build time. Look where bindgen (clang-sys) looks.
  AC_MSG_CHECKING([for libclang (bindgen)])
  cannon_libclang=""
  cannon_llvm_libdir=`llvm-config --libdir 2>/dev/null`
  for cannon_dir in "$LIBCLANG_PATH" "$cannon_llvm_libdir" /usr/lib/llvm-*/lib /usr/lib64/llvm*/lib \
      /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib \
      /usr/local/opt/llvm/lib /opt/homebrew/opt/llvm/lib; do
    test -n "$cannon_dir" || continue
    test -f "$cannon_dir" && cannon_dir=`dirname "$cannon_dir"`
    for cannon_f in "$cannon_dir"/libclang.so "$cannon_dir"/libclang-*.so "$cannon_dir"/libclang.so.* "$cannon_dir"/libclang.dylib; do
      case "$cannon_f" in *libclang-cpp*) continue ;; esac
      if test -f "$cannon_f"; then
        cannon_libclang="$cannon_f"
        break 2
      fi
    done
  done
  if test -z "$cannon_libclang"; then
    AC_MSG_RESULT([no])
    AC_MSG_ERROR([libclang was not found. cannon_session's build (bindgen, through ext-php-rs)
    needs it to read PHP's headers. Install it:
        Debian/Ubuntu:  apt-get install libclang-dev
        Fedora/RHEL:    dnf install clang-devel
        Alpine:         apk add clang-dev
    or point LIBCLANG_PATH at the directory that holds libclang.so.])
  fi
  AC_MSG_RESULT([$cannon_libclang])

  dnl The PHP to build against: the php-config phpize's configure found (--with-php-config),
  dnl as an absolute path, and its PHP binary. ext-php-rs' build script reads both from the
  dnl environment: PHP_CONFIG for the headers, PHP (`php -i`) for the API version and ZTS.
  CANNON_PHP_CONFIG=`command -v "$PHP_CONFIG" 2>/dev/null`
  if test -z "$CANNON_PHP_CONFIG"; then
    AC_MSG_ERROR([cannot resolve php-config ($PHP_CONFIG)])
  fi
  AC_MSG_CHECKING([for the PHP binary of $CANNON_PHP_CONFIG])
  CANNON_PHP_BINARY="$PHP_EXECUTABLE"
  if test -z "$CANNON_PHP_BINARY" || test ! -x "$CANNON_PHP_BINARY"; then
    AC_MSG_RESULT([no])
    AC_MSG_ERROR([php-config --php-binary gave [$PHP_EXECUTABLE], which is not an executable: the build needs that PHP's CLI binary (on Debian/Ubuntu: the phpX.Y-cli package)])
  fi
  AC_MSG_RESULT([$CANNON_PHP_BINARY])

  if test "$PHP_THREAD_SAFETY" = "yes"; then
    AC_MSG_WARN([this PHP is thread-safe (ZTS): cannon_session builds for it, but is only tested on NTS])
  fi

  dnl cargo's own target directory, in this build directory (not the crate's target/, which
  dnl `make build` uses for the PHP on PATH).
  CANNON_CARGO_TARGET_DIR="`pwd`/cargo-target"

  dnl No C sources: the module is what Makefile.frag builds.
  PHP_MODULES='$(phplibdir)/cannon_session.so'
  dnl (Names a build directory, which configure creates; without one it runs `mkdir -p` with none.)
  PHP_ADD_BUILD_DIR([modules])

  PHP_SUBST(CARGO)
  PHP_SUBST(CANNON_CRATE_DIR)
  PHP_SUBST(CANNON_PHP_CONFIG)
  PHP_SUBST(CANNON_PHP_BINARY)
  PHP_SUBST(CANNON_CARGO_TARGET_DIR)
  PHP_ADD_MAKEFILE_FRAGMENT([$abs_srcdir/Makefile.frag], [$abs_srcdir], [$abs_builddir])
fi
