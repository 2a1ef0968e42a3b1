#!/usr/bin/env bash
# Memory safety and leaks:
# - every API for a few thousand session cycles under valgrind (USE_ZEND_ALLOC=0, so PHP's own
#   allocations are visible too), plus a "mixed" run through the failure paths (hostile ids,
#   corrupt data, an unreachable backend, bad configuration, regenerate/destroy/gc, strict mode,
#   read_and_close, phpinfo): no invalid read/write/free or uninitialised use anywhere, no
#   definite leak with a frame in our .so;
# - RSS stays flat over 200,000 cycles of the native handler (growth after warm-up < 5 MB).
set -uo pipefail
# shellcheck source=tests/faults/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fault_init valgrind_rss

CYCLES="${VALGRIND_CYCLES:-2000}"
RSS_CYCLES="${RSS_CYCLES:-200000}"
RSS_LIMIT_KB=5120

if ! command -v valgrind >/dev/null; then
    echo "valgrind is missing: installing it"
    if ((EUID == 0)); then apt-get install -y -qq valgrind >/dev/null; else sudo apt-get install -y -qq valgrind >/dev/null; fi
fi
command -v valgrind >/dev/null || { fail "valgrind available"; finish; }

port=$(free_port)
start_redis "$port" "$FAULT_TMP/redis" || { fail "private redis starts"; finish; }
rdsn="redis://127.0.0.1:$port/0?prefix=vg:&timeout=5"

MYSQL_URL="${CANNON_MYSQL_DSN:-mysql://cannon_test:cannon_test_pw@127.0.0.1:3306/test}"
MYSQL_URL="${MYSQL_URL%%\?*}"
table="fault_vg_$$"
mdsn="$MYSQL_URL?table=$table&auto_create=1&timeout=5"
my_port=$(sed -E 's#^mysql://[^@]*@[^:/]+:([0-9]+)/.*#\1#' <<<"$MYSQL_URL")
my_auth=$(sed -E 's#^mysql://([^@]*)@.*#\1#' <<<"$MYSQL_URL")
my_db="${MYSQL_URL##*/}"
my() { timeout 10 mariadb -h 127.0.0.1 -P "$my_port" -u "${my_auth%%:*}" -p"${my_auth#*:}" "$my_db" "$@"; }
have_mysql=0
my -e 'SELECT 1' >/dev/null 2>&1 && have_mysql=1
trap '((have_mysql)) && my -e "DROP TABLE IF EXISTS $table" >/dev/null 2>&1; fault_cleanup' EXIT

# vg NAME DSN API CYCLES: one valgrind run in the background.
VG_PIDS=()
vg() {
    local name="$1" d="$2" api="$3" n="$4"
    USE_ZEND_ALLOC=0 ZEND_DONT_UNLOAD_MODULES=1 timeout 300 valgrind --error-exitcode=9 \
        --errors-for-leak-kinds=definite --leak-check=full --num-callers=30 \
        --log-file="$FAULT_TMP/vg-$name.log" \
        "$PHP_BIN" -n -d extension="$CANNON_EXT" -d session.save_handler=cannon \
        -d "session.save_path=\"$d\"" "$FAULT_LIB/loop.php" --api="$api" --dsn="$d" --cycles="$n" \
        >"$FAULT_TMP/vg-$name.out" 2>&1 &
    VG_PIDS+=($!)
}
vg_wait() {
    local p
    for p in "${VG_PIDS[@]}"; do wait "$p"; done
    VG_PIDS=()
}

t=$(date +%s)
runs=(redis-native redis-handler redis-session redis-adapter redis-mixed redis-mixed-native)
vg redis-native "$rdsn" native "$CYCLES"
vg redis-handler "$rdsn" handler "$CYCLES"
vg_wait
vg redis-session "$rdsn" session "$CYCLES"
vg redis-adapter "$rdsn" adapter "$CYCLES"
vg_wait
vg redis-mixed "$rdsn" mixed $((CYCLES / 3))
vg redis-mixed-native "$rdsn" mixed-native $((CYCLES / 3))
vg_wait
if ((have_mysql)); then
    vg mysql-handler "$mdsn" handler $((CYCLES / 3))
    vg mysql-session "$mdsn" session $((CYCLES / 3))
    runs+=(mysql-handler mysql-session)
else
    fail "MariaDB at $MYSQL_URL answers (make services): the mysql runs are skipped"
fi
vg_wait
echo "valgrind: $(($(date +%s) - t)) s for ${#runs[@]} runs"

for r in "${runs[@]}"; do
    out=$(tail -n 1 "$FAULT_TMP/vg-$r.out")
    if [[ "$out" =~ ^done\ ([0-9]+)\ ([0-9]+)\ ok\ ([0-9]+)\ failed ]]; then
        pass "$r: $out under valgrind"
    else
        fail "$r: the run did not finish: $(tail -c 400 "$FAULT_TMP/vg-$r.out")"
    fi
    if res=$("$PYTHON_BIN" "$FAULT_LIB/vgcheck.py" "libcannon_session,cannon_session::" "$FAULT_TMP/vg-$r.log"); then
        pass "$r: ${res#*: }"
    else
        fail "$r: $res"
    fi
done

echo "== RSS over $RSS_CYCLES native-handler cycles"
t=$(date +%s)
"$PHP_BIN" -n -d extension="$CANNON_EXT" -d session.save_handler=cannon -d "session.save_path=\"$rdsn\"" \
    "$FAULT_LIB/loop.php" --api=native --dsn="$rdsn" --cycles="$RSS_CYCLES" --rss-every=$((RSS_CYCLES / 10)) \
    >"$FAULT_TMP/rss.out" 2>&1
first=$(awk '$1 == "rss" {print $3; exit}' "$FAULT_TMP/rss.out")
warm=$(awk '$1 == "rss" {n++} $1 == "rss" && n == 2 {print $3}' "$FAULT_TMP/rss.out")
last=$(awk '$1 == "rss" {v = $3} END {print v}' "$FAULT_TMP/rss.out")
echo "rss (KB): $(awk '$1 == "rss" {printf "%s@%s ", $3, $2}' "$FAULT_TMP/rss.out")($(($(date +%s) - t)) s)"
check "$(tail -n 1 "$FAULT_TMP/rss.out")" -- grep -q "^done $RSS_CYCLES $RSS_CYCLES ok 0 failed" "$FAULT_TMP/rss.out"
check "RSS flat: ${first} KB at start, ${warm} KB after warm-up, ${last} KB at the end (growth $((last - warm)) KB < $RSS_LIMIT_KB KB)" -- \
    test -n "$last" -a $((last - warm)) -lt "$RSS_LIMIT_KB"
finish
