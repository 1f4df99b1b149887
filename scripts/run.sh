#!/usr/bin/env bash
# Brings up the sensor: installs what the build needs, builds osfp in release mode and
# runs it as root on the interface of the default route (or the interfaces you pass
# with --iface), with the embedded signature database and metrics on localhost.
# Extra arguments go to `osfp run`.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# As the calling user: setup.sh uses sudo for apt itself and installs rust-src and
# bpf-linker into this user's toolchain, which is the one that builds.
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --locked --release -p osfp-userspace
exec $SUDO target/release/osfp run "$@"
