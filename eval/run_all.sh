#!/bin/bash
# Rebuild the labelled set, the features and every figure in eval/results from the corpus,
# our lab captures (eval/data/lab, committed) and the generators. ~15 min on 2 cores.
# Needs: tshark, p0f (Debian), python3 with numpy, scipy, scikit-learn; an osfp binary
# (OSFP_BIN, default /work/osfp-eval-bin/osfp, built from the commit in results/README).
# The lab captures are NOT remade here (root + virtme-ng, ~1 h): scripts/run_netlab_vms.sh.
set -eu
cd "$(dirname "$0")"
CORPUS=${OSFP_CORPUS:-../../shared/corpus}
mkdir -p work work/aug results
python3 scripts/corpus_evidence.py --corpus "$CORPUS" --out work/evidence.jsonl
cut -f1 "$CORPUS/INDEX.tsv" | tail -n +2 > work/corpus_files.txt
python3 scripts/extract.py --list work/corpus_files.txt --root "$CORPUS" --out work/corpus_syns.jsonl
python3 scripts/corpus_labels.py
python3 scripts/synthetic.py work/synth
ls work/synth/*.pcap | xargs -n1 basename > work/synth_files.txt
python3 scripts/extract.py --list work/synth_files.txt --root work/synth --prefix synth: --out work/synth_syns.jsonl
python3 scripts/lab_labels.py data/lab > labels/lab_labels.tsv
(cd data/lab && ls */*.pcap) > work/lab_files.txt
python3 scripts/extract.py --list work/lab_files.txt --root data/lab --prefix lab: --out work/lab_syns.jsonl
rm -f work/aug/*
python3 scripts/augment.py --syns work/corpus_syns.jsonl --labels labels/corpus_labels.tsv --name aug_corpus --out work/aug --labels-out work/aug/aug_corpus_labels.tsv --k 3 --seed 11
python3 scripts/augment.py --syns work/lab_syns.jsonl --labels labels/lab_labels.tsv --name aug_lab --out work/aug --labels-out work/aug/aug_lab_labels.tsv --k 3 --seed 13 --max-per-host 3
python3 scripts/augment.py --syns work/synth_syns.jsonl --labels labels/synthetic_labels.tsv --name aug_synth --out work/aug --labels-out work/aug/aug_synth_labels.tsv --k 1 --seed 12 --max-per-host 3
(cd work/aug && ls *.pcap) > work/aug_files.txt
python3 scripts/extract.py --list work/aug_files.txt --root work/aug --prefix aug: --out work/aug_syns.jsonl
python3 scripts/evaluate.py
python3 scripts/report.py > /dev/null
python3 scripts/sig_analysis.py > /dev/null
python3 scripts/composition.py > results/composition.md
echo "results in eval/results/"
