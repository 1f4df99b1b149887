#!/usr/bin/env python3
"""Dataset composition: hosts and SYNs by family x source kind x split (markdown)."""
import collections, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate as E
rows = E.load()
kinds = ["corpus", "lab", "synth-facts", "synth-p0f", "aug-corpus", "aug-lab", "aug-synth"]
print("# Labelled set composition\n\nCells: hosts / SYNs. A host is one labelled (capture, source address); an augmented copy keeps its host's split.\n")
for split in ("train", "heldout"):
    print(f"\n## {split}\n\n| family | " + " | ".join(kinds) + " |\n|---" + "|---" * len(kinds) + "|")
    for f in E.FAMS:
        cells = []
        for k in kinds:
            rs = [r for r in rows if r["split"] == split and r["fam"] == f and r["kind"] == k]
            h = len({(r["file"], r["src"]) for r in rs})
            cells.append(f"{h} / {len(rs)}" if rs else "")
        print(f"| {f} | " + " | ".join(cells) + " |")
lab = collections.Counter((r["split"], r["label"]) for r in rows if r["kind"] in ("corpus", "lab"))
print("\n## Real-capture labels (corpus + lab), SYNs\n\n| split | label | SYNs |\n|---|---|---|")
for (s, l), n in sorted(lab.items()):
    print(f"| {s} | {l} | {n} |")
ev = collections.Counter((r["split"], r["evidence"].split("|")[0].split(";")[0].split(":")[0]) for r in rows
                         if r["kind"] == "corpus")
print("\n## Corpus label evidence, SYNs\n\n| split | evidence | SYNs |\n|---|---|---|")
for (s, e), n in sorted(ev.items()):
    print(f"| {s} | {e} | {n} |")
