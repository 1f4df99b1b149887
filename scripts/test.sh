#!/usr/bin/env bash
# Runs every test of osfp on this machine: installs what the build and the tests need
# (scripts/setup.sh, idempotent), builds the workspace with the XDP program, checks the
# supply chain (advisories, licences), runs the whole suite, then fuzzes every parser
# of hostile input. Root-only tests (XDP attach, network namespaces,
# BPF_PROG_TEST_RUN) run when this is run as root and skip loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

if [ ! -d ../shared/corpus ] && [ -z "${OSFP_CORPUS:-}" ]; then
    echo "[test] the corpus is expected at ../shared/corpus (or set OSFP_CORPUS)" >&2
    exit 1
fi
[ "$(id -u)" -eq 0 ] || echo "[test] not root: privileged tests will be SKIPPED" >&2
# Tests that cannot run here append a line each (under CI=true they fail instead).
mkdir -p target && : > target/osfp-skipped.txt

# One hash key for every test process: the bounded tables' collisions, and with them
# a few selected records, depend on it (osfp run and osfp pcap draw a random one).
export OSFP_HASH_SEED=1
# Disk: CI machines may have little of it (a run once ran out in the fuzz build). No
# incremental caches (1.4 GB, useless on a clean clone) and line tables instead of full
# debug info in the test profile (the eBPF object keeps its BTF: a package override).
export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=line-tables-only
disk() { echo "[test] disk $1: $(df -h --output=avail . | tail -1 | tr -d ' ') free, target $(du -sh target 2>/dev/null | cut -f1)" >&2; }
disk "at start"

status=0
# One profile for everything: each profile rebuilds the eBPF object (~1 min).
cargo build --locked --all-targets

# Supply chain, offline: RustSec advisories from the snapshot in ../shared/advisory-db
# (a vulnerable or unsound crate in Cargo.lock fails), then every crate's licence
# against supply-chain.toml. The audit must also fail on a lock with lru 0.12.5.
xtask() { cargo run --locked --quiet -p xtask -- "$@"; }
xtask audit || status=1
if out=$(xtask audit --lock xtask/fixtures/lru-0.12.5.Cargo.lock 2>&1) ||
    ! grep -q "FAIL RUSTSEC-2026-0002" <<<"$out" || ! grep -q "FAIL RUSTSEC-2026-0253" <<<"$out"; then
    printf '%s\n[test] the advisory check did not fail a lock with lru 0.12.5\n' "$out" >&2
    status=1
fi
xtask licenses || status=1
# The embedded classifier is what its training script makes of eval/ (about 75 s).
xtask train-model --check || status=1

# The kernel matrix boots guests under emulation (both cores each): on its own, after.
cargo test --locked --no-fail-fast -- --test-threads=2 --skip kernel_matrix_ || status=1
# JA4T/JA4TS are behind an opt-in feature (licence); test them with it on.
cargo test --locked --no-fail-fast -p osfp-userspace --features ja4t --lib --test ja4t_tshark -- ja4t || status=1
cargo test --locked --no-fail-fast -p osfp-tests --test kernel_matrix -- --test-threads=1 --nocapture || status=1

# Coverage-guided fuzzing of the parsers of hostile input, 60 s a target, two at a
# time: any crash fails (scripts/fuzz.sh). The test profile's build is not needed any
# more: its space goes to the sanitizer build.
disk "after the tests"
rm -rf target/debug
bash scripts/fuzz.sh 60 || status=1
disk "after fuzzing"

skipped=$(wc -l < target/osfp-skipped.txt)
if [ "$skipped" -gt 0 ]; then
    echo "[test] $skipped tests SKIPPED (could not run here):" >&2
    sed 's/^/[test]   /' target/osfp-skipped.txt >&2
fi
exit $status
