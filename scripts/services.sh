#!/usr/bin/env bash
# Make sure the services the tests need answer on loopback, starting them when they do not:
#   Redis   on 127.0.0.1:6379
#   MariaDB on 127.0.0.1:3306, database `test`, user cannon_test / cannon_test_pw (created here)
# Usage: scripts/services.sh [all|redis|mariadb]   (default: all)
# Prints one line per service. Every wait is bounded; exits non-zero when a service cannot be had.
set -euo pipefail

what="${1:-all}"
case "$what" in
    all | redis | mariadb | mysql) ;;
    *)
        echo "usage: $0 [all|redis|mariadb]" >&2
        exit 2
        ;;
esac

REDIS_HOST=127.0.0.1
REDIS_PORT=6379
REDIS_LOG=/tmp/cannon-redis.log
MYSQL_HOST=127.0.0.1
MYSQL_PORT=3306
MYSQL_DB="test"
MYSQL_USER=cannon_test
MYSQL_PASS=cannon_test_pw
MYSQL_START_LOG=/tmp/cannon-mariadb-start.log

sudo_cmd=()
if ((EUID != 0)) && command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
fi

die() {
    echo "services: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || die "'$1' not found: run scripts/deps.sh first"
}

# --- Redis -------------------------------------------------------------------------------------

redis_up() {
    [[ "$(timeout 3 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

ensure_redis() {
    need redis-cli
    if redis_up; then
        echo "redis: up at $REDIS_HOST:$REDIS_PORT (already running)"
        return
    fi
    need redis-server
    redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --dir /tmp --logfile "$REDIS_LOG" >/dev/null ||
        die "redis-server failed to start (see $REDIS_LOG)"
    local i
    for ((i = 0; i < 50; i++)); do # 50 x 0.2 s = 10 s
        if redis_up; then
            echo "redis: up at $REDIS_HOST:$REDIS_PORT (started, log $REDIS_LOG)"
            return
        fi
        sleep 0.2
    done
    tail -n 20 "$REDIS_LOG" >&2 2>/dev/null || true
    die "redis did not answer PING on $REDIS_HOST:$REDIS_PORT within 10 s"
}

# --- MariaDB -----------------------------------------------------------------------------------

mariadb_up() {
    # mariadb-admin ping exits 0 when the server answers, even if the login itself is refused.
    timeout 5 mariadb-admin --connect-timeout=2 --protocol=socket ping >/dev/null 2>&1 ||
        timeout 5 mariadb-admin --connect-timeout=2 --protocol=tcp \
            -h "$MYSQL_HOST" -P "$MYSQL_PORT" ping >/dev/null 2>&1
}

test_user_ok() {
    timeout 10 mariadb --connect-timeout=3 --protocol=tcp -h "$MYSQL_HOST" -P "$MYSQL_PORT" \
        -u"$MYSQL_USER" -p"$MYSQL_PASS" "$MYSQL_DB" -N -e 'SELECT 1' >/dev/null 2>&1
}

mariadb_datadir() {
    local dir=""
    if command -v my_print_defaults >/dev/null 2>&1; then
        dir="$(my_print_defaults mysqld server mariadb mariadbd 2>/dev/null |
            sed -n 's/^--datadir=//p' | tail -n 1)"
    fi
    echo "${dir:-/var/lib/mysql}"
}

start_mariadb() {
    local daemon
    daemon="$(command -v mariadbd || true)"
    [[ -n "$daemon" ]] || daemon=/usr/sbin/mariadbd
    [[ -x "$daemon" ]] || die "mariadbd not found: run scripts/deps.sh first"
    if ((EUID != 0)) && ((${#sudo_cmd[@]} == 0)); then
        die "MariaDB is not running and starting it needs root (or sudo)"
    fi

    local datadir
    datadir="$(mariadb_datadir)"
    if [[ ! -d "$datadir/mysql" ]]; then
        echo "mariadb: initialising empty datadir $datadir"
        "${sudo_cmd[@]}" mariadb-install-db --user=mysql --datadir="$datadir" \
            --auth-root-authentication-method=socket --skip-test-db >>"$MYSQL_START_LOG" 2>&1 ||
            die "mariadb-install-db failed (see $MYSQL_START_LOG)"
    fi
    # /run is often a tmpfs: the socket's directory has to be made again after a reboot.
    "${sudo_cmd[@]}" install -d -o mysql -g mysql -m 755 /run/mysqld

    if [[ "$(cat /proc/1/comm 2>/dev/null)" == systemd ]] && command -v systemctl >/dev/null 2>&1; then
        "${sudo_cmd[@]}" systemctl start mariadb >>"$MYSQL_START_LOG" 2>&1 || true
    elif command -v start-stop-daemon >/dev/null 2>&1; then
        "${sudo_cmd[@]}" start-stop-daemon --start --oknodo --background \
            --exec "$daemon" >>"$MYSQL_START_LOG" 2>&1 || true
    else
        "${sudo_cmd[@]}" service mariadb start >>"$MYSQL_START_LOG" 2>&1 || true
    fi
}

ensure_mariadb() {
    need mariadb
    need mariadb-admin
    local how="already running"
    if ! mariadb_up; then
        how="started"
        start_mariadb
        local i up=0
        for ((i = 0; i < 60; i++)); do # 60 x 0.5 s = 30 s
            if mariadb_up; then
                up=1
                break
            fi
            sleep 0.5
        done
        if ((up == 0)); then
            tail -n 20 "$MYSQL_START_LOG" >&2 2>/dev/null || true
            tail -n 20 /var/log/mysql/error.log >&2 2>/dev/null || true
            die "MariaDB did not answer within 30 s"
        fi
    fi

    if ! test_user_ok; then
        # Debian's root logs in through the unix socket only; create the test user that way.
        local sql
        sql="CREATE DATABASE IF NOT EXISTS \`$MYSQL_DB\`;
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASS';
CREATE USER IF NOT EXISTS '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASS';
ALTER USER '$MYSQL_USER'@'127.0.0.1' IDENTIFIED BY '$MYSQL_PASS';
ALTER USER '$MYSQL_USER'@'localhost' IDENTIFIED BY '$MYSQL_PASS';
GRANT ALL ON \`$MYSQL_DB\`.* TO '$MYSQL_USER'@'127.0.0.1', '$MYSQL_USER'@'localhost';
FLUSH PRIVILEGES;"
        if ! "${sudo_cmd[@]}" timeout 20 mariadb --protocol=socket -uroot <<<"$sql"; then
            die "could not create user $MYSQL_USER as root over the unix socket"
        fi
        test_user_ok ||
            die "user $MYSQL_USER still cannot log in over TCP to $MYSQL_HOST:$MYSQL_PORT/$MYSQL_DB"
    fi
    echo "mariadb: up at $MYSQL_HOST:$MYSQL_PORT ($how), $MYSQL_USER can use database $MYSQL_DB"
}

case "$what" in
    all)
        ensure_redis
        ensure_mariadb
        ;;
    redis) ensure_redis ;;
    mariadb | mysql) ensure_mariadb ;;
esac
