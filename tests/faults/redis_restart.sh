#!/usr/bin/env bash
# Redis SIGKILLed and restarted (same port, AOF with fsync on every write) while one long-lived
# PHP process per API (native handler, RedisHandler, Session) runs session cycles in a loop:
# - cycles during the outage fail fast (within connect_timeout + a margin) and visibly
#   (a warning or an exception; never a silent false);
# - after the restart every cycle succeeds, without restarting PHP;
# - every write acknowledged before the kill is still there afterwards, and nothing read back is
#   half-written (each value carries its own checksum).
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init redis_restart

CONNECT_TIMEOUT=0.5
TIMEOUT=1
MARGIN_MS=300
RUN_BEFORE=2.0
OUTAGE=2.0
RUN_AFTER=3.0

port=$(free_port)
rdir="$FAULT_TMP/redis"
start_redis "$port" "$rdir" --appendonly yes --appendfsync always || { fail "private redis starts"; finish; }
echo "redis: pid $REDIS_PID port $port (AOF, appendfsync always)"

dsn="redis://127.0.0.1:$port/0?connect_timeout=$CONNECT_TIMEOUT&timeout=$TIMEOUT&prefix=fault:"
stop="$FAULT_TMP/stop"
apis=(native handler session)
pids=()
for api in "${apis[@]}"; do
    php_ext -d session.save_handler=cannon -d "session.save_path=\"$dsn\"" \
        "$FAULT_LIB/cycler.php" --api="$api" --dsn="$dsn" --out="$FAULT_TMP/$api" \
        --stop-file="$stop" --max-seconds=30 --slots=4 --payload=4096 --sleep-ms=1 \
        >"$FAULT_TMP/$api.out" 2>"$FAULT_TMP/$api.err" &
    pids+=($!)
    remember_pid "$!"
done

sleep "$RUN_BEFORE"
kill_at=$(date +%s.%N)
kill_pid_hard "$REDIS_PID"
echo "redis: SIGKILLed at +$(elapsed) s"
sleep "$OUTAGE"
start_redis "$port" "$rdir" --appendonly yes --appendfsync always || { fail "redis restarts on port $port"; finish; }
ready_at=$(date +%s.%N)
echo "redis: restarted (pid $REDIS_PID), answering at +$(elapsed) s"
sleep "$RUN_AFTER"
touch "$stop"
for p in "${pids[@]}"; do
    wait "$p" || true
done

for api in "${apis[@]}"; do
    s="$FAULT_TMP/$api.summary"
    if [[ ! -s "$s" ]]; then
        fail "$api: cycler finished (stderr: $(head -c 500 "$FAULT_TMP/$api.err"))"
        continue
    fi
    echo "$api: $(head -n 14 "$s" | tr '\n' ' ')"
    t0=$(get t0 "$s")
    cycles=$(get cycles "$s")
    nfail=$(get fail "$s")
    # Cycles that failed before the kill or after the restart settled (1 s: the AOF is loaded,
    # and on a loaded 2-core machine a cycle may start late) are failures.
    outside=$(awk -v t0="$t0" -v k="$kill_at" -v r="$ready_at" '$3 == "fail" && (t0 + $1 < k - 0.05 || t0 + $1 > r + 1.0) {n++} END {print n + 0}' "$FAULT_TMP/$api.cycles")
    during_ok=$(awk -v t0="$t0" -v k="$kill_at" -v r="$ready_at" '$3 == "ok" && t0 + $1 > k + 0.05 && t0 + $1 + $2 / 1000 < r - 0.5 {n++} END {print n + 0}' "$FAULT_TMP/$api.cycles")
    after_ok=$(awk -v t0="$t0" -v r="$ready_at" '$3 == "ok" && t0 + $1 > r {n++} END {print n + 0}' "$FAULT_TMP/$api.cycles")
    limit=$(awk -v c="$CONNECT_TIMEOUT" -v m="$MARGIN_MS" 'BEGIN {print c * 1000 + m}')
    check "$api: $cycles cycles, $nfail failed, all during the outage ($outside outside it)" -- test "$outside" -eq 0
    check "$api: the outage was seen ($nfail failed cycles)" -- test "$nfail" -gt 0
    check "$api: no cycle 'succeeded' while redis was down ($during_ok)" -- test "$during_ok" -eq 0
    check "$api: every failure was visible (silent_fail=$(get silent_fail "$s"))" -- test "$(get silent_fail "$s")" -eq 0
    check "$api: failures were fast (max $(get max_fail_ms "$s") ms <= $limit ms)" -- \
        awk -v a="$(get max_fail_ms "$s")" -v l="$limit" 'BEGIN {exit !(a <= l)}'
    check "$api: $after_ok cycles succeeded after the restart, same process" -- test "$after_ok" -gt 50
    check "$api: no acknowledged write lost (lost=$(get lost "$s"))" -- test "$(get lost "$s")" -eq 0
    check "$api: nothing half-written (corrupt=$(get corrupt "$s"))" -- test "$(get corrupt "$s")" -eq 0
    grep '^problem=' "$s" | head -n 5
    # A fresh process reads every slot back: the last acknowledged value (or a later attempt).
    if php_ext -d session.save_handler=cannon -d "session.save_path=\"$dsn\"" "$FAULT_LIB/cycler.php" \
        --verify --api="$api" --dsn="$dsn" --out="$FAULT_TMP/$api" >"$FAULT_TMP/$api.verify" 2>&1; then
        pass "$api: a new process reads every acknowledged value back ($(tr -d '\n' <"$FAULT_TMP/$api.verify"))"
    else
        fail "$api: verification: $(head -c 600 "$FAULT_TMP/$api.verify")"
    fi
done
# Redis closing idle clients (CONFIG SET timeout 1): cycles 1.5 s apart never fail.
echo "== redis closes idle connections after 1 s; cycles 1.5 s apart"
redis-cli -h 127.0.0.1 -p "$port" config set timeout 1 >/dev/null
pids=()
for api in "${apis[@]}"; do
    php_ext -d session.save_handler=cannon -d "session.save_path=\"$dsn\"" \
        "$FAULT_LIB/cycler.php" --api="$api" --dsn="$dsn" --out="$FAULT_TMP/idle-$api" \
        --max-seconds=5 --slots=2 --payload=512 --sleep-ms=1500 \
        >"$FAULT_TMP/idle-$api.out" 2>"$FAULT_TMP/idle-$api.err" &
    pids+=($!)
    remember_pid "$!"
done
for p in "${pids[@]}"; do
    wait "$p" || true
done
for api in "${apis[@]}"; do
    s="$FAULT_TMP/idle-$api.summary"
    check "$api: $(get cycles "$s") cycles 1.5 s apart after idle closes, $(get fail "$s") failed" -- \
        test -s "$s" -a "$(get fail "$s")" = 0 -a "$(get cycles "$s")" -ge 3
done

# Sample of the failures the application saw.
for api in "${apis[@]}"; do
    awk '$3 == "fail" {$1=$2=$3=$4=$5=""; print}' "$FAULT_TMP/$api.cycles" 2>/dev/null | sort | uniq -c | sort -rn | head -n 3 |
        sed "s/^/  $api saw: /" | cut -c 1-260
done
finish
