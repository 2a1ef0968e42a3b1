#!/usr/bin/env bash
# A private mariadbd (temporary datadir, free port, a user with a password over TCP):
# 1. SIGKILLed and restarted on the same port while one long-lived PHP process per API runs
#    session cycles: cycles during the outage fail fast and visibly, every cycle after the
#    restart succeeds without restarting PHP, no acknowledged write is lost (InnoDB, one
#    flush per commit), nothing is half-written.
# 2. wait_timeout=2: the server closes idle connections; a long-lived process sleeping 3 s
#    between cycles never fails a cycle (the store reconnects and retries on its own).
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init mariadb_restart

CONNECT_TIMEOUT=0.5
TIMEOUT=1
MARGIN_MS=400
PW='fault_Pw-9x'
mdir="$FAULT_TMP/mariadb"

t_install=$(date +%s.%N)
if ! mariadb_install "$mdir"; then
    fail "mariadb-install-db on a temporary datadir: $(tail -n 5 "$mdir/install.log")"
    finish
fi
port=$(free_port)
mariadb_start "$mdir" "$port" || { fail "private mariadbd starts"; finish; }
mariadb_root "$mdir" -e "CREATE DATABASE fault;
    CREATE USER 'fault'@'127.0.0.1' IDENTIFIED BY '$PW';
    GRANT ALL ON fault.* TO 'fault'@'127.0.0.1';" || { fail "create the test user"; finish; }
echo "mariadb: pid $MARIADB_PID port $port, ready in $(echo "$(date +%s.%N) $t_install" | awk '{printf "%.1f", $1 - $2}') s (install + start)"

dsn="mysql://fault:$PW@127.0.0.1:$port/fault?table=sessions&auto_create=1&connect_timeout=$CONNECT_TIMEOUT&timeout=$TIMEOUT"
apis=(native handler session)

run_cyclers() { # TAG SLEEP_MS MAX_SECONDS [DSN]
    local tag="$1" sleep_ms="$2" max="$3" dsn="${4:-$dsn}" api
    CYCLER_PIDS=()
    for api in "${apis[@]}"; do
        php_ext -d session.save_handler=cannon -d "session.save_path=\"$dsn\"" \
            "$FAULT_LIB/cycler.php" --api="$api" --dsn="$dsn" --out="$FAULT_TMP/$tag-$api" \
            --stop-file="$FAULT_TMP/stop-$tag" --max-seconds="$max" --slots=4 --payload=4096 \
            --sleep-ms="$sleep_ms" >"$FAULT_TMP/$tag-$api.out" 2>"$FAULT_TMP/$tag-$api.err" &
        CYCLER_PIDS+=($!)
        remember_pid "$!"
    done
}
wait_cyclers() {
    local p
    for p in "${CYCLER_PIDS[@]}"; do wait "$p" || true; done
}
verify() { # TAG API
    php_ext -d session.save_handler=cannon -d "session.save_path=\"$dsn\"" "$FAULT_LIB/cycler.php" \
        --verify --api="$2" --dsn="$dsn" --out="$FAULT_TMP/$1-$2" >"$FAULT_TMP/$1-$2.verify" 2>&1
}

echo "== SIGKILL and restart"
run_cyclers kill 1 40
sleep 2.5
kill_at=$(date +%s.%N)
kill_pid_hard "$MARIADB_PID"
echo "mariadb: SIGKILLed at +$(elapsed) s"
sleep 2
mariadb_start "$mdir" "$port" || { fail "mariadbd restarts on port $port"; finish; }
ready_at=$(date +%s.%N)
echo "mariadb: restarted (pid $MARIADB_PID), answering at +$(elapsed) s"
sleep 3
touch "$FAULT_TMP/stop-kill"
wait_cyclers

for api in "${apis[@]}"; do
    s="$FAULT_TMP/kill-$api.summary"
    if [[ ! -s "$s" ]]; then
        fail "$api: cycler finished (stderr: $(head -c 500 "$FAULT_TMP/kill-$api.err"))"
        continue
    fi
    echo "$api: $(head -n 14 "$s" | tr '\n' ' ')"
    t0=$(get t0 "$s")
    nfail=$(get fail "$s")
    outside=$(awk -v t0="$t0" -v k="$kill_at" -v r="$ready_at" '$3 == "fail" && (t0 + $1 < k - 0.05 || t0 + $1 > r + 0.3) {n++} END {print n + 0}' "$FAULT_TMP/kill-$api.cycles")
    after_ok=$(awk -v t0="$t0" -v r="$ready_at" '$3 == "ok" && t0 + $1 > r {n++} END {print n + 0}' "$FAULT_TMP/kill-$api.cycles")
    limit=$(awk -v c="$CONNECT_TIMEOUT" -v m="$MARGIN_MS" 'BEGIN {print c * 1000 + m}')
    check "$api: $(get cycles "$s") cycles, $nfail failed, all during the outage ($outside outside it)" -- test "$outside" -eq 0
    check "$api: the outage was seen ($nfail failed cycles)" -- test "$nfail" -gt 0
    check "$api: every failure was visible (silent_fail=$(get silent_fail "$s"))" -- test "$(get silent_fail "$s")" -eq 0
    check "$api: failures were fast (max $(get max_fail_ms "$s") ms <= $limit ms)" -- \
        awk -v a="$(get max_fail_ms "$s")" -v l="$limit" 'BEGIN {exit !(a <= l)}'
    check "$api: $after_ok cycles succeeded after the restart, same process" -- test "$after_ok" -gt 20
    check "$api: no acknowledged write lost (lost=$(get lost "$s"))" -- test "$(get lost "$s")" -eq 0
    check "$api: nothing half-written (corrupt=$(get corrupt "$s"))" -- test "$(get corrupt "$s")" -eq 0
    grep '^problem=' "$s" | head -n 5
    if verify kill "$api"; then
        pass "$api: a new process reads every acknowledged value back ($(tr -d '\n' <"$FAULT_TMP/kill-$api.verify"))"
    else
        fail "$api: verification: $(head -c 600 "$FAULT_TMP/kill-$api.verify")"
    fi
    awk '$3 == "fail" {$1=$2=$3=$4=$5=""; print}' "$FAULT_TMP/kill-$api.cycles" | sort | uniq -c | sort -rn | head -n 3 |
        sed "s/^/    saw: /" | cut -c 1-240
done

echo "== wait_timeout=2, 3 s between cycles"
# The store sets its connections' own wait_timeout to lock_ttl (default 30 s), which overrides
# the server's global setting: lock_ttl=2 makes it 2 s, so the server does close them.
mariadb_root "$mdir" -e "SET GLOBAL wait_timeout = 2; SET GLOBAL interactive_timeout = 2"
aborted_before=$(mariadb_root "$mdir" -N -e "SHOW GLOBAL STATUS LIKE 'Aborted_clients'" | awk '{print $2}')
run_cyclers idle 3000 11 "$dsn&lock_ttl=2"
wait_cyclers
aborted_after=$(mariadb_root "$mdir" -N -e "SHOW GLOBAL STATUS LIKE 'Aborted_clients'" | awk '{print $2}')
echo "mariadb: Aborted_clients $aborted_before -> $aborted_after (idle connections the server closed)"
check "the server did close idle connections" -- test "$aborted_after" -gt "$aborted_before"
for api in "${apis[@]}"; do
    s="$FAULT_TMP/idle-$api.summary"
    if [[ ! -s "$s" ]]; then
        fail "$api: cycler finished (stderr: $(head -c 500 "$FAULT_TMP/idle-$api.err"))"
        continue
    fi
    echo "$api: $(head -n 8 "$s" | tr '\n' ' ')"
    check "$api: $(get cycles "$s") cycles 3 s apart, none failed (fail=$(get fail "$s"))" -- \
        test "$(get fail "$s")" -eq 0 -a "$(get cycles "$s")" -ge 3
    check "$api: none slow after an idle close (max $(get max_ok_ms "$s") ms)" -- \
        awk -v a="$(get max_ok_ms "$s")" 'BEGIN {exit !(a < 1000)}'
    awk '$3 == "fail" {$1=$2=$3=$4=$5=""; print}' "$FAULT_TMP/idle-$api.cycles" | sort | uniq -c | head -n 3 |
        sed "s/^/    saw: /" | cut -c 1-240
done
mariadb_root "$mdir" -e "SHUTDOWN" >/dev/null 2>&1 || true
finish
