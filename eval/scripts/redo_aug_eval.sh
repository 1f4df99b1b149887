#!/bin/bash
# The tail of run_all.sh: augmentation, extraction of the augmented captures, evaluation.
set -eu
cd "$(dirname "$0")/.."
rm -f work/aug/*
python3 scripts/augment.py --syns work/corpus_syns.jsonl --labels labels/corpus_labels.tsv --name aug_corpus --out work/aug --labels-out work/aug/aug_corpus_labels.tsv --k 3 --seed 11
python3 scripts/augment.py --syns work/lab_syns.jsonl --labels labels/lab_labels.tsv --name aug_lab --out work/aug --labels-out work/aug/aug_lab_labels.tsv --k 3 --seed 13 --max-per-host 3
python3 scripts/augment.py --syns work/synth_syns.jsonl --labels labels/synthetic_labels.tsv --name aug_synth --out work/aug --labels-out work/aug/aug_synth_labels.tsv --k 1 --seed 12 --max-per-host 3
(cd work/aug && ls *.pcap) > work/aug_files.txt
python3 scripts/extract.py --list work/aug_files.txt --root work/aug --prefix aug: --out work/aug_syns.jsonl
python3 scripts/evaluate.py "$@"
python3 scripts/report.py > /dev/null
