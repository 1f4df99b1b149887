#!/usr/bin/env bash
# Writes what `osfp pcap` prints over the whole corpus, in the three forms that are an
# interface (--json records, text records, --summary --json), into DIR: one file per
# form plus its stderr. Run it with two builds and `diff -r` the folders to show that a
# change kept the output byte-identical.
#   scripts/output-snapshot.sh target/release/osfp /tmp/snap-after
set -euo pipefail
bin=$1 out=$2
# Which flows share a slot of the bounded tables depends on the hash key: fix it (older
# builds, without a keyed hash, ignore this).
export OSFP_HASH_SEED=${OSFP_HASH_SEED:-1}
corpus=${OSFP_CORPUS:-$(dirname "$0")/../../shared/corpus}
mkdir -p "$out"
mapfile -t files < <(tail -n +2 "$corpus/INDEX.tsv" | cut -f1 | sed "s|^|$corpus/|")
"$bin" pcap --json "${files[@]}" >"$out/json" 2>"$out/json.stderr" || true
"$bin" pcap "${files[@]}" >"$out/text" 2>"$out/text.stderr" || true
"$bin" pcap --summary --json "${files[@]}" >"$out/summary.json" 2>"$out/summary.stderr" || true
( cd "$out" && sha256sum json text summary.json ./*.stderr )
