#!/usr/bin/env python3
"""Reference scorer for the exported model (results/model_lr.json), standard library only:
exactly what the Rust side has to compute. Given an osfp JSON record:
  1. features = featurize(record)                 (eval/scripts/features.py; strings "name=value")
  2. z[c] = intercept[c] + sum(coef[c][i] for each feature string i in vocab)   (binary one-hot)
  3. z[c] = (z[c] + prior_shift[c]) / temperature
  4. p = softmax(z) over the fine classes; p(family) = sum of p over the family's classes
  5. verdict: family = argmax p(family); if p(family) < threshold -> unknown;
     version label = argmax class within that family (Windows 10/11, 7/8, XP).
Usage: score_ref.py MODEL.json < records.jsonl   (osfp pcap --json output) -> one JSON verdict per SYN
"""
import json, math, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from features import featurize

def load(path):
    m = json.load(open(path))
    m["ix"] = {t: i for i, t in enumerate(m["vocab"])}
    return m

def score(m, rec):
    F = featurize(rec)
    idx = [m["ix"][t] for t in (f"{k}={v}" for k, v in F.items()) if t in m["ix"]]
    z = []
    for c in range(len(m["classes"])):
        row = m["coef"][c]
        z.append((m["intercept"][c] + sum(row[i] for i in idx) + m["prior_shift"][c]) / m["temperature"])
    mx = max(z); e = [math.exp(v - mx) for v in z]; s = sum(e); p = [v / s for v in e]
    fam = {}
    for c, name in enumerate(m["classes"]):
        f = name.split(":")[0]; fam[f] = fam.get(f, 0.0) + p[c]
    best = max(fam, key=fam.get)
    within = max((c for c, n in enumerate(m["classes"]) if n.split(":")[0] == best), key=lambda c: p[c])
    return {"family": best if fam[best] >= m["threshold"] else "unknown", "p": round(fam[best], 4),
            "label": m["classes"][within] if fam[best] >= m["threshold"] else None,
            "match": "inferred", "families": {k: round(v, 4) for k, v in sorted(fam.items(), key=lambda x: -x[1])}}

if __name__ == "__main__":
    m = load(sys.argv[1])
    for line in sys.stdin:
        if not line.startswith("{"): continue
        r = json.loads(line)
        if r.get("kind") not in ("syn",): continue
        print(json.dumps(dict(src=r["src"], sport=r["sport"], osfp=(r.get("os") or {}).get("label"), **score(m, r))))
