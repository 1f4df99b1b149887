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
    p0f prads nmap tshark tcpreplay prometheus masscan zmap python3-scapy hping3
    # the kernel matrix: Debian's kernels booted under QEMU with virtme-ng
    qemu-system-x86 busybox-static kmod procps
)
# The kernel matrix's guests, by series: Debian 11 (bullseye), Debian 12 (bookworm), and
# bookworm's 6.12 (backports / security; trixie's kernel). The newest ABI of each.
KERNEL_SERIES=('5\.10\.0-[0-9]+' '6\.1\.0-[0-9]+' '6\.12\.[0-9]+\+deb12')
VIRTME_NG_VERSION=1.42

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
# Debian 11's kernel is in bullseye: add that suite, on the mirror already in use.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! ls /boot/vmlinuz-5.10.* >/dev/null 2>&1 && ! grep -rqs "bullseye" /etc/apt/sources.list.d/; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    log "apt suite bullseye (Debian 11's kernel for the kernel matrix)"
    printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "${uri:-http://deb.debian.org/debian}" | $SUDO tee /etc/apt/sources.list.d/bullseye.sources >/dev/null
    $SUDO apt-get update -qq
fi
need_kernels=()
for series in "${KERNEL_SERIES[@]}"; do
    if ! ls /boot | grep -Eq "^vmlinuz-${series}-amd64\$"; then
        pkg=$(apt-cache search --names-only "^linux-image-${series}-amd64\$" | awk '{print $1}' | sort -V | tail -n 1)
        [ -n "$pkg" ] || { log "no Debian package for a kernel matching ${series}"; exit 1; }
        need_kernels+=("$pkg")
    fi
done
if ((${#need_kernels[@]})); then
    log "kernels for the matrix: ${need_kernels[*]}"
    # No initramfs: virtme-ng boots the image with its own (saves ~30 s a kernel).
    $SUDO env INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_kernels[@]}"
fi
if ! vng --version 2>/dev/null | grep -q "$VIRTME_NG_VERSION"; then
    log "virtme-ng $VIRTME_NG_VERSION"
    python3 -m pip install -q --root-user-action=ignore "virtme-ng==$VIRTME_NG_VERSION"
    # A pyenv Python puts new commands on PATH through its shims.
    command -v pyenv >/dev/null && pyenv rehash
fi

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    log "cargo-fuzz $CARGO_FUZZ_VERSION, about 1 minute"
    cargo install --locked "cargo-fuzz@${CARGO_FUZZ_VERSION}"
fi
log "ready"
