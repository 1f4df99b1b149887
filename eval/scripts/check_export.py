#!/usr/bin/env python3
"""Check that the exported model (results/model_lr.json) scored by the standard-library reference
scorer (score_ref.py, the Rust spec) gives the figures evaluate.py reported: recompute family
accuracy and share labelled on the held-out sets from the JSON alone."""
import collections, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate as E, score_ref as S
m = S.load(os.path.join(E.ROOT, "results/model_lr.json"))
rows = [r for r in E.load() if r["split"] == "heldout"]
acc = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
for r in rows:
    v = S.score(m, r["rec"])
    a = acc[r["kind"]]
    a[0] += r["w_host"]; a[1] += r["w_host"] * (v["family"] == r["fam"]); a[2] += r["w_host"] * (v["family"] != "unknown")
for k, (n, ok, lab) in sorted(acc.items()):
    print(f"{k:12s} hosts {n:7.1f}  family right {100*ok/n:5.1f} %  labelled {100*lab/n:5.1f} %")
