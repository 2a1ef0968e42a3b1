#!/usr/bin/env bash
# Redis at maxmemory (private redis-server, --maxmemory 2mb --maxmemory-policy noeviction):
# - a write that does not fit fails: session_write_close() false + a warning (native), an
#   exception (RedisHandler, Session), saying OOM;
# - the old data stays readable, at once (the failed write must not leave its lock behind),
#   and a later write that fits succeeds;
# - with Redis over the limit already, a locked start fails visibly (taking the lock is a
#   write) while a read without the lock still returns the data.
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init redis_oom

port=$(free_port)
start_redis "$port" "$FAULT_TMP/redis" --maxmemory 2mb --maxmemory-policy noeviction ||
    { fail "private redis starts"; finish; }
rcli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }
used() { rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
dsn="redis://127.0.0.1:$port/0?prefix=oom:&timeout=2&lock_wait_timeout=3"

once() {
    local api="$1" d="$2"
    shift 2
    timeout 30 "$PHP_BIN" -n -d extension="$CANNON_EXT" -d session.save_handler=cannon \
        -d "session.save_path=\"$d\"" "$FAULT_LIB/once.php" --api="$api" --dsn="$d" "$@" 2>&1
}
summary_field() { sed -nE "s/^summary .*[ ]$1=([^ ]*).*/\\1/p" <<<"$2"; }

apis=(native handler session)
declare -A ids
for api in "${apis[@]}"; do
    out=$(once "$api" "$dsn" --cycles=1 --payload=200)
    ids[$api]=$(summary_field id "$out")
    check "$api: a small session is written (${ids[$api]:0:8}…)" -- grep -q '^summary ok=1 fail=0' <<<"$out"
done

# Fill Redis to ~1.3 MB of its 2 MB: a 1 MB write no longer fits (its own request counts).
i=0
filler="$FAULT_TMP/filler"
head -c 50000 /dev/zero | tr '\0' x >"$filler"
while (($(used) < 1300000 && i < 100)); do
    rcli -x set "filler:$i" <"$filler" >/dev/null
    i=$((i + 1))
done
echo "redis: used_memory $(used) of 2097152 after $i filler keys"

for api in "${apis[@]}"; do
    id=${ids[$api]}
    t0=$(date +%s%N)
    out=$(once "$api" "$dsn" --cycles=1 --payload=1000000 --id="$id")
    ms=$((($(date +%s%N) - t0) / 1000000))
    line=$(grep -m1 '^cycle' <<<"$out")
    # PHP 8.2's session_write_close() returns true even when the handler's write failed
    # (ext/session ignores the result): the native handler's failure shows as its warning
    # plus PHP's own "Failed to write session data" warning. once.php reports a warning as a
    # failure ("warning without failure" when the return value was true).
    case $api in
        native) want='(session_write_close\(\) returned false|warning without failure) \[warnings: session_write_close\(\): cannon_session: writing the session failed .*OOM.*Failed to write session data' ;;
        *) want='Cannon\\Session\\SessionException: cannon_session: server error: OOM' ;;
    esac
    if grep -q -E "^cycle 0 fail .*$want" <<<"$line"; then
        pass "$api: the 1 MB write fails with OOM, visibly (${ms} ms)"
    else
        fail "$api: the 1 MB write: $(cut -c 1-300 <<<"$line")"
    fi
    check "$api: no lock left behind by the failed write" -- test "$(rcli exists "oom:$id:lock")" = 0
    t0=$(date +%s%N)
    out=$(once "$api" "$dsn" --cycles=1 --id="$id" --read-only)
    ms=$((($(date +%s%N) - t0) / 1000000))
    if grep -q '^summary ok=1 fail=0 .* n=1 ' <<<"$out" && ((ms < 1500)); then
        pass "$api: the old data reads back at once, with the lock (${ms} ms)"
    else
        fail "$api: old data after OOM (${ms} ms): $(head -c 300 <<<"$out")"
    fi
    out=$(once "$api" "$dsn" --cycles=1 --id="$id" --payload=300)
    check "$api: a write that fits succeeds afterwards" -- grep -q '^summary ok=1 fail=0 .* n=1 ' <<<"$out"
done

# Over the limit already (maxmemory lowered below what is used): every write is refused,
# taking a lock included.
rcli config set maxmemory $(($(used) - 200000)) >/dev/null
check "over the limit, redis refuses even a small SET" -- grep -q OOM <<<"$(rcli set probe x 2>&1)"
for api in "${apis[@]}"; do
    id=${ids[$api]}
    out=$(once "$api" "$dsn" --cycles=1 --id="$id" --read-only)
    check "$api: over the limit, a locked start fails visibly with OOM" -- grep -q -E '^cycle 0 fail .*(Exception|warnings).*OOM' <<<"$out"
    out=$(once "$api" "$dsn&lock=0" --cycles=1 --id="$id" --read-only)
    check "$api: over the limit, a read without the lock still returns the data" -- grep -q '^summary ok=1 fail=0 .* n=2 ' <<<"$out"
done
finish
