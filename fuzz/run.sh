#!/usr/bin/env bash
# `make fuzz`: fuzzes the DSN parser, the JSON session codec and the Redis reply parser (RESP)
# for a bounded time each.
#   FUZZ_SECONDS=60 (per target)   FUZZ_SEED=N (replay a run; default: from the clock)
# Failing inputs are kept under fuzz/artifacts/<target>/ (with a .txt saying why); replay one
# with: (cd fuzz && cargo run --release --bin <target> -- --replay artifacts/<target>/crash-...)
# and turn it into a regression test in src/ (config/dsn.rs, codec/json.rs or
# store/redis/resp_tests.rs).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$HOME/.cargo/bin:$PATH"
seconds="${FUZZ_SECONDS:-60}"
seed_args=()
[[ -n "${FUZZ_SEED:-}" ]] && seed_args=(--seed "$FUZZ_SEED")

cargo build --release --quiet
status=0
for target in fuzz_dsn fuzz_codec fuzz_resp; do
    echo "== $target for ${seconds} s"
    # A hard bound as well, in case an input hangs the code under test.
    if ! timeout $((seconds + 60)) "./target/release/$target" --seconds "$seconds" "${seed_args[@]}"; then
        status=1
        echo "$target: FAILED (inputs kept in fuzz/artifacts/$target/)" >&2
    fi
done
if ((status == 0)); then
    echo "fuzz: no failures"
fi
exit $status
