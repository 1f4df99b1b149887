#!/usr/bin/env bash
# Installs everything osfp's build and tests need on a fresh Debian machine of our kind.
# Idempotent: each step is skipped when its result is already present.
set -euo pipefail

LLVM_MAJOR=22
BPF_LINKER_VERSION=0.13.0
CARGO_FUZZ_VERSION=0.13.2
APT_PACKAGES=(
    "llvm-${LLVM_MAJOR}-dev" bpftool iproute2 libpcap-dev
    # libfuzzer-sys compiles libFuzzer (C++) for the fuzz targets
    g++
    # peers and real parts for the tests
    p0f prads nmap tshark tcpreplay prometheus masscan zmap python3-scapy
)

log() { printf '[setup] %s\n' "$*" >&2; }

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    log "apt packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # wireshark-common asks whether non-root users may capture; answer no, non-interactively.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if ! rustup component list --installed --toolchain stable 2>/dev/null | grep -q '^rust-src'; then
    log "rustup component rust-src"
    rustup component add rust-src --toolchain stable
fi

if ! bpf-linker --version 2>/dev/null | grep -q "$BPF_LINKER_VERSION"; then
    log "bpf-linker $BPF_LINKER_VERSION (llvm-$LLVM_MAJOR), about 3 minutes"
    LLVM_PREFIX="/usr/lib/llvm-${LLVM_MAJOR}" cargo install --locked "bpf-linker@${BPF_LINKER_VERSION}" \
        --no-default-features --features "llvm-${LLVM_MAJOR}"
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    log "cargo-fuzz $CARGO_FUZZ_VERSION, about 1 minute"
    cargo install --locked "cargo-fuzz@${CARGO_FUZZ_VERSION}"
fi
log "ready"
