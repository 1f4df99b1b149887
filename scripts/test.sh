#!/usr/bin/env bash
# Runs every test of osfp on this machine: installs what the build and the tests need
# (scripts/setup.sh, idempotent), builds the workspace with the XDP program, then runs
# the whole suite. Root-only tests (XDP attach, network namespaces, BPF_PROG_TEST_RUN)
# run when this is run as root and skip loudly otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

if [ ! -d ../shared/corpus ] && [ -z "${OSFP_CORPUS:-}" ]; then
    echo "[test] the corpus is expected at ../shared/corpus (or set OSFP_CORPUS)" >&2
    exit 1
fi
[ "$(id -u)" -eq 0 ] || echo "[test] not root: privileged tests will be SKIPPED" >&2

# One profile for everything: each profile rebuilds the eBPF object (~1 min).
cargo build --locked --all-targets
cargo test --locked --no-fail-fast -- --test-threads=2
# JA4T/JA4TS are behind an opt-in feature (licence); test them with it on.
cargo test --locked --no-fail-fast -p osfp-userspace --features ja4t --lib --test ja4t_tshark -- ja4t
