#!/usr/bin/env bash
# Coverage-guided fuzzing of osfp's parsers of hostile input (cargo-fuzz: libFuzzer with
# AddressSanitizer, debug assertions and overflow checks), each target for a bounded
# time, from the seeds in fuzz/seeds/ (plus the shipped database and config, and every
# earlier crash in fuzz/regressions/). Fails if any target crashes, leaks, times out on
# one input or allocates past the memory limit; the input is kept in
# fuzz/artifacts/TARGET/ and printed (base64) for the CI log.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   default 60 s ($FUZZ_SECONDS), every target, $FUZZ_JOBS (default: cores) at a time.
# A crash: reproduce with `cargo fuzz run -a TARGET fuzz/artifacts/TARGET/crash-...`,
# fix it, add the input to fuzz/regressions/TARGET/ and a test of what the fix does.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

secs="${1:-${FUZZ_SECONDS:-60}}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(capture_file frame tcp_options p0f_db config api_query)
fi
jobs="${FUZZ_JOBS:-$(nproc)}"

# -Zsanitizer and the other flags cargo-fuzz passes are nightly features: the stable
# toolchain with RUSTC_BOOTSTRAP, as for the eBPF build. The targets need no eBPF object.
export RUSTC_BOOTSTRAP=1 AYA_BUILD_SKIP=1
# The release profile's thin LTO would re-optimise every dependency into each of the
# six binaries (minutes each on two cores); the targets do not need it.
export CARGO_PROFILE_RELEASE_LTO=false
FUZZ_FLAGS=(--debug-assertions --sanitizer address)

log() { printf '[fuzz] %s\n' "$*" >&2; }

command -v cargo-fuzz >/dev/null || { log "cargo-fuzz missing: run scripts/setup.sh"; exit 1; }

t0=$SECONDS
# cargo-fuzz has no --locked: check that Cargo.lock needs no change first.
cargo metadata --locked --format-version 1 >/dev/null
log "building ${targets[*]}"
if ((${#targets[@]} == 6)); then
    cargo fuzz build "${FUZZ_FLAGS[@]}"
else
    for t in "${targets[@]}"; do
        cargo fuzz build "${FUZZ_FLAGS[@]}" "$t"
    done
fi
log "built in $((SECONDS - t0)) s"

work="$(mktemp -d /tmp/osfp-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT

run_one() {
    local t="$1" dirs=()
    mkdir -p "$work/corpus/$t" "$work/extra/$t" "fuzz/artifacts/$t"
    # New inputs go to the first directory (a scratch one); the others are read only.
    dirs=("$work/corpus/$t" "fuzz/seeds/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    case "$t" in
        p0f_db) cp osfp-userspace/db/osfp.fp "$work/extra/$t/" ;;
        config) cp deploy/config/osfp.toml "$work/extra/$t/" ;;
    esac
    [ -n "$(ls -A "$work/extra/$t")" ] && dirs+=("$work/extra/$t")
    cargo fuzz run "${FUZZ_FLAGS[@]}" "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$work/$t.log" 2>&1
}

# Runs the targets, $jobs at a time.
declare -A rc
pending=("${targets[@]}")
while ((${#pending[@]})); do
    batch=("${pending[@]:0:$jobs}")
    pending=("${pending[@]:$jobs}")
    declare -A pid=()
    for t in "${batch[@]}"; do
        log "running $t for ${secs} s"
        run_one "$t" &
        pid[$t]=$!
    done
    for t in "${batch[@]}"; do
        if wait "${pid[$t]}"; then rc[$t]=0; else rc[$t]=$?; fi
    done
    unset pid
done

failed=0
printf '%-14s %12s %10s %8s %s\n' target execs execs/s corpus result >&2
for t in "${targets[@]}"; do
    l="$work/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$l" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$l" | tail -1)
    corp=$(sed -n 's/.*DONE .*corp: \([0-9]*\)\/.*/\1/p' "$l" | tail -1)
    if [ "${rc[$t]}" -eq 0 ]; then
        res=ok
    else
        res="FAILED (exit ${rc[$t]})"
        failed=1
    fi
    printf '%-14s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$res" >&2
done
for t in "${targets[@]}"; do
    [ "${rc[$t]}" -eq 0 ] && continue
    log "$t: last lines of its log:"
    tail -n 60 "$work/$t.log" >&2
    for a in fuzz/artifacts/"$t"/*; do
        [ -f "$a" ] || continue
        log "$t: input $a ($(stat -c %s "$a") bytes), base64:"
        head -c 65536 "$a" | base64 -w 0 >&2
        echo >&2
    done
done
log "done in $((SECONDS - t0)) s"
exit "$failed"
