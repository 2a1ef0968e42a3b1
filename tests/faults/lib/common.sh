# shellcheck shell=bash
# Shared helpers for the fault scripts in tests/faults/. Sourced, never run.
#
# Every script: sources this file, calls `fault_init NAME`, starts what it needs with the
# start_* helpers (each process is remembered by PID and stopped by PID at exit), counts its
# checks with pass/fail, and ends with `finish`, which prints "N passed, M failed" and exits
# non-zero when anything failed.

FAULT_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FAULT_ROOT="$(cd "$FAULT_LIB/../../.." && pwd)"
CANNON_EXT="${CANNON_EXT:-$FAULT_ROOT/target/release/libcannon_session.so}"
PHP_BIN="${PHP_BIN:-php}"
PYTHON_BIN="${PYTHON_BIN:-python3}"

PASSED=0
FAILED=0
FAULT_PIDS=()
FAULT_TMP=""
FAULT_NAME=""

fault_init() {
    FAULT_NAME="$1"
    FAULT_TMP="$(mktemp -d "/tmp/cannon-fault-$1-XXXXXX")"
    trap fault_cleanup EXIT
    trap 'exit 130' INT TERM
    if [[ ! -f "$CANNON_EXT" ]]; then
        echo "$FAULT_NAME: extension $CANNON_EXT not built (make build)" >&2
        exit 2
    fi
    FAULT_T0=$(date +%s.%N)
}

# Stops every process we started, by PID (SIGTERM, then SIGKILL), and removes the temp dir.
fault_cleanup() {
    local pid
    for pid in "${FAULT_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${FAULT_PIDS[@]}"; do
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$FAULT_TMP" && -d "$FAULT_TMP" && -z "${FAULT_KEEP:-}" ]]; then
        rm -rf "$FAULT_TMP"
    fi
}

remember_pid() {
    FAULT_PIDS+=("$1")
}

pass() {
    PASSED=$((PASSED + 1))
    echo "  ok   $*"
}

fail() {
    FAILED=$((FAILED + 1))
    echo "  FAIL $*"
}

# check DESCRIPTION -- COMMAND...: pass when the command succeeds.
check() {
    local desc="$1"
    shift
    [[ "${1:-}" == "--" ]] && shift
    if "$@"; then pass "$desc"; else fail "$desc"; fi
}

elapsed() {
    echo "$(date +%s.%N) $FAULT_T0" | awk '{printf "%.1f", $1 - $2}'
}

finish() {
    echo "$FAULT_NAME: $(elapsed) s"
    echo "$PASSED passed, $FAILED failed"
    if ((FAILED > 0)); then
        FAULT_KEEP=1
        echo "(files kept in $FAULT_TMP)"
        exit 1
    fi
    exit 0
}

# A TCP port nobody listens on right now (the kernel's choice; a small race is acceptable).
free_port() {
    "$PYTHON_BIN" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for SECONDS COMMAND...: polls every 0.05 s.
wait_for() {
    local secs="$1"
    shift
    local deadline
    deadline=$(($(date +%s%N) + ${secs%.*} * 1000000000))
    until "$@" >/dev/null 2>&1; do
        if (($(date +%s%N) > deadline)); then
            return 1
        fi
        sleep 0.05
    done
}

redis_ping() { # PORT: answers (a server with requirepass answers NOAUTH)
    [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping 2>&1)" =~ ^(PONG|NOAUTH) ]]
}

# start_redis PORT DIR [extra redis-server args...]: a private redis-server in the foreground
# (so we hold its PID), logging to DIR/redis.log. Sets REDIS_PID.
start_redis() {
    local port="$1" dir="$2"
    shift 2
    mkdir -p "$dir"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --daemonize no \
        --logfile "$dir/redis.log" "$@" >/dev/null 2>&1 &
    REDIS_PID=$!
    disown "$REDIS_PID" # we SIGKILL it on purpose: no "Killed" job report
    remember_pid "$REDIS_PID"
    if ! wait_for 10 redis_ping "$port"; then
        echo "redis-server on port $port did not start:" >&2
        tail -n 20 "$dir/redis.log" >&2 || true
        return 1
    fi
}

# kill_pid_hard PID: SIGKILL and wait until it is gone.
kill_pid_hard() {
    kill -KILL "$1" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}

# start_proxy MODE LISTEN_PORT UPSTREAM_PORT [args...]: lib/proxy.py in the background. Sets PROXY_PID.
start_proxy() {
    local mode="$1" port="$2" up="$3"
    shift 3
    "$PYTHON_BIN" "$FAULT_LIB/proxy.py" --mode "$mode" --listen "$port" --upstream "$up" "$@" \
        >"$FAULT_TMP/proxy-$port.log" 2>&1 &
    PROXY_PID=$!
    remember_pid "$PROXY_PID"
    wait_for 5 "$PYTHON_BIN" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1).close()"
}

# php_ext ARGS...: php with our extension and errors on stderr.
php_ext() {
    "$PHP_BIN" -n -d extension="$CANNON_EXT" -d display_errors=stderr -d error_reporting=-1 \
        -d log_errors=0 -d html_errors=0 "$@"
}

# Awk over a JSON-lines-free "key=value" summary: get KEY FILE.
get() {
    sed -n "s/^$1=//p" "$2" | tail -n 1
}

# --- a private MariaDB ----------------------------------------------------------------------

# mariadb_install DIR: a fresh datadir (root over the socket, no password). ~2 s.
mariadb_install() {
    local dir="$1"
    mkdir -p "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db --user="$(id -un)" >"$dir/install.log" 2>&1
}

mariadb_root() {
    local dir="$1"
    shift
    timeout 10 mariadb --no-defaults -S "$dir/sock" -uroot "$@"
}

mariadb_ping() {
    timeout 3 mariadb-admin --no-defaults -S "$1/sock" -uroot ping >/dev/null 2>&1
}

# mariadb_start DIR PORT [extra mariadbd args...]: in the foreground of a background job (its
# PID is ours: MARIADB_PID). Small buffers: it only holds a few sessions.
mariadb_start() {
    local dir="$1" port="$2"
    shift 2
    mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
        --bind-address=127.0.0.1 --pid-file="$dir/pid" --user="$(id -un)" --skip-log-bin \
        --innodb-buffer-pool-size=16M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=1 \
        --skip-name-resolve --log-error="$dir/error.log" "$@" >/dev/null 2>&1 &
    MARIADB_PID=$!
    disown "$MARIADB_PID"
    remember_pid "$MARIADB_PID"
    if ! wait_for 30 mariadb_ping "$dir"; then
        echo "mariadbd on port $port did not start:" >&2
        tail -n 20 "$dir/error.log" >&2 || true
        return 1
    fi
}
