#!/usr/bin/env bash
# Backends that misbehave, through lib/proxy.py, for both drivers and all three APIs:
# - one that accepts connections and never answers: each cycle fails within `timeout` (0.5 s)
#   plus a margin, visibly (warning + false, or ConnectionException "timed out"), no hang;
# - one that answers slowly: +200 ms per reply with timeout=0.5 works; +1 s per reply fails
#   within ~0.5 s;
# - one that drops the connection in the middle of a large reply (1 MB session, cut after
#   64 KB, with FIN and with RST): a clear failure at once, and the stored data is intact.
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init slow_backends

TIMEOUT=0.5
LIMIT_MS=850 # timeout + margin for PHP start-up and scheduling on a busy 2-core machine
MYSQL_URL="${CANNON_MYSQL_DSN:-mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test}"
MYSQL_URL="${MYSQL_URL%%\?*}"
my_hostport=$(sed -E 's#^mysql://[^@]*@([^/]+)/.*#\1#' <<<"$MYSQL_URL")
my_port="${my_hostport##*:}"
my_auth=$(sed -E 's#^mysql://([^@]*)@.*#\1#' <<<"$MYSQL_URL")
my_db="${MYSQL_URL##*/}"
table="fault_slow_$$"

rport=$(free_port)
start_redis "$rport" "$FAULT_TMP/redis" || { fail "private redis starts"; finish; }

mysql_ok=1
if ! timeout 5 mariadb -h 127.0.0.1 -P "$my_port" -u "${my_auth%%:*}" -p"${my_auth#*:}" "$my_db" -e 'SELECT 1' >/dev/null 2>&1; then
    mysql_ok=0
    fail "MariaDB at $MYSQL_URL answers (make services)"
fi
# shellcheck disable=SC2317 # called from the EXIT trap
drop_table() {
    timeout 10 mariadb -h 127.0.0.1 -P "$my_port" -u "${my_auth%%:*}" -p"${my_auth#*:}" "$my_db" \
        -e "DROP TABLE IF EXISTS $table" >/dev/null 2>&1 || true
}
trap 'drop_table; fault_cleanup' EXIT

# dsn DRIVER PORT [extra options]: a DSN for the backend behind PORT.
dsn() {
    local opts="timeout=$TIMEOUT&connect_timeout=$TIMEOUT${3:+&$3}"
    if [[ "$1" == redis ]]; then
        echo "redis://127.0.0.1:$2/0?prefix=fault:&$opts"
    else
        echo "mysql://$my_auth@127.0.0.1:$2/$my_db?table=$table&auto_create=1&$opts"
    fi
}

# once OUTFILE API DSN [once.php args...]: runs lib/once.php in the background (bounded by 30 s).
once() {
    local out="$1" api="$2" d="$3"
    shift 3
    timeout 30 "$PHP_BIN" -n -d extension="$CANNON_EXT" -d session.save_handler=cannon \
        -d "session.save_path=\"$d\"" "$FAULT_LIB/once.php" --api="$api" --dsn="$d" "$@" >"$out" 2>&1 &
    ONCE_PIDS+=($!)
}
ONCE_PIDS=()

# Waits for the once() runs (not for the servers and proxies, which run until the end).
wait_once() {
    local p
    for p in "${ONCE_PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    ONCE_PIDS=()
}

# expect_fail OUTFILE LABEL PATTERN: every cycle failed, within LIMIT_MS, visibly, saying PATTERN.
expect_fail() {
    local f="$1" label="$2" pat="$3"
    local s
    s=$(grep '^summary' "$f")
    if [[ -z "$s" ]]; then
        fail "$label: the process finished ($(tail -c 300 "$f"))"
        return
    fi
    local ok nf max
    ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<"$s")
    nf=$(sed -E 's/.* fail=([0-9]+).*/\1/' <<<"$s")
    max=$(sed -E 's/.* max_ms=([0-9.]+).*/\1/' <<<"$s")
    local vis
    vis=$(grep -c -E "^cycle [0-9]+ fail [0-9.]+ (Cannon\\\\Session\\\\ConnectionException|RuntimeException: session_start\(\) returned false \[warnings: session_start\(\): cannon_session)" "$f")
    if [[ "$ok" == 0 && "$nf" -gt 0 && "$vis" == "$nf" ]] && awk -v m="$max" -v l="$LIMIT_MS" 'BEGIN {exit !(m <= l)}' &&
        grep -q -i -E "$pat" "$f"; then
        pass "$label: $nf/$nf cycles failed visibly, slowest ${max} ms ($(grep -m1 -o -i -E "$pat" "$f"))"
    else
        fail "$label: ok=$ok fail=$nf visible=$vis max=${max} ms (limit $LIMIT_MS), want /$pat/: $(grep -m1 '^cycle' "$f" | cut -c 1-300)"
    fi
}

expect_ok() {
    local f="$1" label="$2"
    local s
    s=$(grep '^summary' "$f")
    if [[ -n "$s" ]] && grep -q ' fail=0 ' <<<"$s"; then
        pass "$label: $(sed -E 's/.* ok=([0-9]+).*max_ms=([0-9.]+).*/\1 cycles ok, slowest \2 ms/' <<<"$s")"
    else
        fail "$label: $(grep -m1 'fail' "$f" | cut -c 1-300) ${s:-no summary}"
    fi
}

drivers=(redis)
((mysql_ok)) && drivers+=(mysql)
upstream_of() { if [[ "$1" == redis ]]; then echo "$rport"; else echo "$my_port"; fi; }

echo "== a backend that accepts and never answers"
bh=$(free_port)
start_proxy blackhole "$bh" 0
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        once "$FAULT_TMP/bh-$drv-$api" "$api" "$(dsn "$drv" "$bh")" --cycles=2
    done
done
wait_once
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        expect_fail "$FAULT_TMP/bh-$drv-$api" "silent $drv, $api" 'timed out'
    done
done

echo "== a slow backend: +200 ms per reply, timeout 0.5 s: works"
for drv in "${drivers[@]}"; do
    p=$(free_port)
    start_proxy delay "$p" "$(upstream_of "$drv")" --delay 0.2
    for api in native handler session; do
        once "$FAULT_TMP/d200-$drv-$api" "$api" "$(dsn "$drv" "$p")" --cycles=2
    done
done
wait_once
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        expect_ok "$FAULT_TMP/d200-$drv-$api" "+200 ms $drv, $api"
    done
done

echo "== a slower backend: +1 s per reply, timeout 0.5 s: fails within ~0.5 s"
for drv in "${drivers[@]}"; do
    p=$(free_port)
    start_proxy delay "$p" "$(upstream_of "$drv")" --delay 1.0
    for api in native handler session; do
        once "$FAULT_TMP/d1000-$drv-$api" "$api" "$(dsn "$drv" "$p")" --cycles=2
    done
done
wait_once
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        expect_fail "$FAULT_TMP/d1000-$drv-$api" "+1 s $drv, $api" 'timed out'
    done
done

echo "== the connection dropped in the middle of a 1 MB reply"
BIG=1000000
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        # Written straight to the backend, then read through the proxy.
        once "$FAULT_TMP/big-$drv-$api" "$api" "$(dsn "$drv" "$(upstream_of "$drv")")" --cycles=1 --payload=$BIG
    done
done
wait_once
# One mode after the other: a cut locked read leaves its lock behind until lock_ttl (Redis) in a
# process that has ended, and the next mode would wait for it.
for mode in fin rst; do
    for drv in "${drivers[@]}"; do
        p=$(free_port)
        if [[ $mode == rst ]]; then
            start_proxy cut "$p" "$(upstream_of "$drv")" --cut-after 65536 --rst
        else
            start_proxy cut "$p" "$(upstream_of "$drv")" --cut-after 65536
        fi
        for api in native handler session; do
            id=$(sed -nE 's/^summary .* id=(.*)$/\1/p' "$FAULT_TMP/big-$drv-$api")
            lock=lock=0
            [[ $mode == fin ]] && lock=lock_ttl=1
            once "$FAULT_TMP/cut-$mode-$drv-$api" "$api" "$(dsn "$drv" "$p" $lock)" --cycles=2 --id="$id" --read-only
        done
    done
    wait_once
    sleep 1.1 # lock_ttl
done
for drv in "${drivers[@]}"; do
    for api in native handler session; do
        expect_ok "$FAULT_TMP/big-$drv-$api" "1 MB session written ($drv, $api)"
        for mode in fin rst; do
            expect_fail "$FAULT_TMP/cut-$mode-$drv-$api" "cut mid-reply ($mode) $drv, $api" \
                'closed the connection|connection reset|broken pipe|lost the connection'
        done
        # The stored session is whole: read it back directly, without taking the lock.
        id=$(sed -nE 's/^summary .* id=(.*)$/\1/p' "$FAULT_TMP/big-$drv-$api")
        once "$FAULT_TMP/after-$drv-$api" "$api" "$(dsn "$drv" "$(upstream_of "$drv")" lock=0)" --cycles=1 --id="$id" --read-only
        wait_once
        if grep -q '^summary ok=1 fail=0 .* n=1 ' "$FAULT_TMP/after-$drv-$api"; then
            pass "after the cuts, the 1 MB session ($drv, $api) reads back whole"
        else
            fail "after the cuts ($drv, $api): $(head -c 300 "$FAULT_TMP/after-$drv-$api")"
        fi
    done
done
finish
