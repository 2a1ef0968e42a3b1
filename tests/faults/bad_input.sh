#!/usr/bin/env bash
# Bad input through every API and both drivers (lib/bad_input.php does the work):
# - hostile session ids (path traversal, NUL, 300 characters, *, {, CR/LF, SQL quotes, non-ASCII,
#   150 random byte strings): never crash, never adopted; afterwards every Redis key and every
#   table row is a well-formed id of ours;
# - corrupted or foreign stored data (random bytes, mutations of a serialized payload full of
#   canary objects, hand-made nasties) through Session and Adapter: CorruptDataException or an
#   array, never a crash; with cannon_session.allowed_classes=0 or a list without the class no
#   canary is ever constructed, woken or destroyed (with =1 it is: the check can see it);
# - payloads of exactly max_size are stored, max_size + 1 refused with a clear message and the
#   old data untouched, for all four APIs on both drivers;
# - bad DSNs for every field through every entry point: ConfigException (native: warning +
#   false) naming the field, never the password.
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init bad_input

MYSQL_URL="${CANNON_MYSQL_DSN:-mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test}"
MYSQL_URL="${MYSQL_URL%%\?*}"
my_port=$(sed -E 's#^mysql://[^@]*@[^:/]+:([0-9]+)/.*#\1#' <<<"$MYSQL_URL")
my_auth=$(sed -E 's#^mysql://([^@]*)@.*#\1#' <<<"$MYSQL_URL")
my_db="${MYSQL_URL##*/}"
my() { timeout 10 mariadb -h 127.0.0.1 -P "$my_port" -u "${my_auth%%:*}" -p"${my_auth#*:}" "$my_db" "$@"; }
tables=(fault_ids_$$ fault_corrupt_$$ fault_max_$$)
have_mysql=0
if my -e 'SELECT 1' >/dev/null 2>&1; then
    have_mysql=1
else
    fail "MariaDB at $MYSQL_URL answers (make services): the mysql checks are skipped"
fi
# shellcheck disable=SC2317 # called from the EXIT trap
drop_tables() {
    local t
    for t in "${tables[@]}"; do my -e "DROP TABLE IF EXISTS $t" >/dev/null 2>&1; done
}
trap '((have_mysql)) && drop_tables; fault_cleanup' EXIT

port=$(free_port)
start_redis "$port" "$FAULT_TMP/redis" || { fail "private redis starts"; finish; }
rcli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# run LABEL DSN [php -d settings...] -- bad_input.php args: counts its ok/FAIL lines as ours.
run() {
    local label="$1" d="$2"
    shift 2
    local ini=()
    while [[ $# -gt 0 && "$1" != -- ]]; do ini+=(-d "$1"); shift; done
    shift
    local out rc
    out=$(timeout 120 "$PHP_BIN" -n -d extension="$CANNON_EXT" -d display_errors=stderr -d session.save_handler=cannon \
        -d "session.save_path=\"$d\"" "${ini[@]}" "$FAULT_LIB/bad_input.php" --dsn="$d" "$@" 2>&1)
    rc=$?
    echo "$out" | grep -E '^  (ok|FAIL) ' | sed "s/^\(  [a-zA-Z]* *\)/\1[$label] /" | cut -c 1-400
    PASSED=$((PASSED + $(grep -c '^  ok ' <<<"$out")))
    FAILED=$((FAILED + $(grep -c '^  FAIL ' <<<"$out")))
    if ((rc != 0)) && ! grep -q '^  FAIL ' <<<"$out"; then
        fail "[$label] bad_input.php exited $rc: $(tail -c 600 <<<"$out")"
    fi
    grep '^canary_events=' <<<"$out" || true
}

rdsn() { echo "redis://127.0.0.1:$port/0?prefix=$1:${2:+&$2}"; }
mdsn() { echo "$MYSQL_URL?table=$1&auto_create=1${2:+&$2}"; }

echo "== hostile ids"
run "redis ids" "$(rdsn ids)" -- --mode=ids --seed=11
keys=$(rcli --scan --pattern '*' | sort)
nkeys=$(grep -c . <<<"$keys")
badkeys=$(grep -v -E '^ids:[A-Za-z0-9,-]{22,256}(:lock)?$' <<<"$keys" | head -n 3)
check "redis: all $nkeys keys are well-formed ids of ours (bad: ${badkeys:-none})" -- test -z "$badkeys"
check "redis: no lock left behind" -- test "$(grep -c ':lock$' <<<"$keys")" = 0
if ((have_mysql)); then
    run "mysql ids" "$(mdsn "${tables[0]}")" -- --mode=ids --seed=12
    rows=$(my -N -e "SELECT COUNT(*) FROM ${tables[0]}")
    badrows=$(my -N -e "SELECT HEX(session_id) FROM ${tables[0]} WHERE session_id NOT REGEXP BINARY '^[A-Za-z0-9,-]{22,256}\$' LIMIT 3")
    check "mysql: all $rows rows are well-formed ids of ours (bad: ${badrows:-none})" -- test -z "$badrows"
fi

echo "== corrupt and foreign stored data"
for ac in 0 stdClass,ArrayObject 1; do
    # (not through a pipe: run() must count in this shell)
    run "redis allowed_classes=$ac" "$(rdsn "c$ac")" cannon_session.allowed_classes="$ac" -- --mode=corrupt --seed=21 --count=300 \
        >"$FAULT_TMP/corrupt-$ac"
    cat "$FAULT_TMP/corrupt-$ac"
done
events=$(sed -n 's/^canary_events=//p' "$FAULT_TMP/corrupt-1")
check "control: with allowed_classes=1 the canaries are created ($events events), so the check sees them" -- test "${events:-0}" -gt 0
run "redis json" "$(rdsn cj)" cannon_session.serializer=json -- --mode=corrupt --seed=22 --count=200
if ((have_mysql)); then
    run "mysql allowed_classes=0" "$(mdsn "${tables[1]}")" cannon_session.allowed_classes=0 -- --mode=corrupt --seed=23 --count=60
fi

echo "== max_size"
run "redis" "$(rdsn max max_size=5000)" -- --mode=maxsize
((have_mysql)) && run "mysql" "$(mdsn "${tables[2]}" max_size=5000)" -- --mode=maxsize

echo "== bad DSNs"
run "dsn" "" -- --mode=dsn --secret=Hunter2Secret
finish
