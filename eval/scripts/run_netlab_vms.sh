#!/bin/bash
# Boot each installed Debian kernel under QEMU (virtme-ng, TCG: never KVM) and run
# netlab.py inside it; then run it once on the host kernel. Output: OUT/<kernel>/*.pcap
# and OUT/<kernel>/manifest.jsonl. Usage: run_netlab_vms.sh OUT
set -eu
OUT=${1:?out dir}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
for k in /boot/vmlinuz-5.10.0-32-amd64 /boot/vmlinuz-6.1.0-57-amd64 /boot/vmlinuz-6.12.117+deb12-amd64; do
  rel=${k#/boot/vmlinuz-}
  rm -rf "$OUT/$rel"
  timeout 1500 vng --disable-kvm -r "$k" --memory 1G --rwdir "$OUT" \
    --exec "python3 $HERE/netlab.py $OUT/$rel" > "$OUT/$rel.log" 2>&1 || echo "vm $rel failed: $?"
done
rel=$(uname -r); rm -rf "$OUT/$rel"
python3 "$HERE/netlab.py" "$OUT/$rel" > "$OUT/$rel.log" 2>&1
