#!/usr/bin/env python3
"""Which osfp.fp signatures hit which true families (every labelled SYN: corpus, lab, synthetic,
augmented), and why Windows SYNs end on the generic 'Windows NT kernel' entry.
Writes results/signature_hits.md."""
import collections, json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate as E
ROOT = E.ROOT
rows = E.load()
out = ["# osfp.fp signature hits by true family\n",
       "Counted per SYN over every labelled set (kind = corpus / lab / synth-facts / synth-p0f / aug-*).",
       "A line is over-broad when it labels SYNs of families other than its own.\n"]
by_line = collections.defaultdict(lambda: collections.Counter())
lab_of = {}
kinds = collections.defaultdict(lambda: collections.Counter())
for r in rows:
    o = r["rec"]["os"] or {}
    if o.get("line") is None: continue
    key = o["line"]; lab_of[key] = (o.get("label"), E.osfp_family(o), o.get("match"))
    by_line[key][r["fam"]] += 1
    kinds[key][r["kind"]] += 1
out.append("| line | label | family | SYNs | wrong-family SYNs | true families (SYNs) | by data kind |")
out.append("|---|---|---|---|---|---|---|")
ranked = sorted(by_line, key=lambda k: -sum(v for f, v in by_line[k].items() if f != lab_of[k][1]))
for k in ranked:
    c = by_line[k]; own = lab_of[k][1]
    wrong = sum(v for f, v in c.items() if f != own)
    if not wrong: continue
    out.append(f"| {k} | {lab_of[k][0]} | {own} | {sum(c.values())} | {wrong} | " +
               ", ".join(f"{f} {v}" for f, v in c.most_common()) + " | " +
               ", ".join(f"{x} {v}" for x, v in kinds[k].most_common()) + " |")
# matches by match type for wrong hits
mt = collections.Counter()
for r in rows:
    o = r["rec"]["os"] or {}
    f = E.osfp_family(o)
    if f and f != r["fam"]:
        mt[(o.get("match"), o.get("label"))] += 1
out.append("\n## Wrong-family verdicts by match kind and label (all kinds of data)\n")
out.append("| match | label | SYNs |\n|---|---|---|")
for (m, l), v in mt.most_common(25):
    out.append(f"| {m} | {l} | {v} |")
# Windows generic
out.append("\n## True-Windows SYNs that get only the generic 'Windows NT kernel' entry\n")
g = collections.Counter(); tot = collections.Counter()
for r in rows:
    if r["fam"] != "windows": continue
    o = r["rec"]["os"] or {}
    rec = r["rec"]
    tot[r["kind"]] += 1
    if "NT kernel" in (o.get("label") or ""):
        mss, win = rec.get("mss"), rec["window"]
        lay = rec.get("options")
        if mss and win == 64240 and mss != 1460:
            why = "window 64240 (= 44*1460) but MSS %s: clamped downstream, so not mss*44" % ("1360-1452" if 1360 <= mss <= 1452 else mss)
        elif mss and win % mss == 0 and 45 <= win // mss <= 48:
            why = "window mss*45..48 = 64K rounded down to a local MSS below 1460 (IPv6 1440 -> 64800, PPPoE 1452 -> 65340): only mss*44 is specific"
        elif mss and win == 44 * mss:
            why = "window mss*44 with scale %s / layout %s: no specific entry" % (rec.get("wscale"), lay)
        elif win in (8192, 16384, 65535):
            why = "window %d (7/8 or XP style) with scale %s / layout %s: no specific entry" % (win, rec.get("wscale"), lay)
        elif mss and win % mss:
            why = "window not a multiple of the MSS (window or MSS rewritten)"
        else:
            why = "other: window %d MSS %s" % (win, mss)
        why = [why]
        g[("real" if r["kind"] in ("corpus", "aug-corpus") else "synthetic", r["kind"].startswith("aug"), why[0])] += 1
out.append("| data | rewritten (aug) | reason | SYNs |\n|---|---|---|---|")
for (k, v, w), n in g.most_common():
    out.append(f"| {k} | {v} | {w} | {n} |")
out.append("\nTrue-Windows SYNs per kind: " + ", ".join(f"{k} {v}" for k, v in tot.items()))
open(os.path.join(ROOT, "results/signature_hits.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
