#!/usr/bin/env python3
"""results/metrics.json -> results/report.md (markdown tables)."""
import json, os, sys
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
M = json.load(open(os.path.join(ROOT, "results/metrics.json")))
out = []
P = lambda x: "-" if x is None else f"{100*x:.1f}"
for part in ("train", "heldout"):
    out.append(f"\n## {part.upper()} (host-weighted: each labelled source counts once)\n")
    for sname, bym in M[part].items():
        any_m = next(iter(bym.values()))
        out.append(f"\n### {part}: {sname} — {any_m.get('n_syn')} SYNs, {any_m.get('n_host')} hosts\n")
        out.append("| method | family right % | labelled % | right when labelled % | Windows version right % | Windows generic-only % | " +
                   " | ".join(f"{f} P/R" for f in ("windows", "linux", "android", "apple", "bsd", "embedded")) + " |")
        out.append("|---" * 12 + "|")
        for m, s in bym.items():
            pf = s.get("per_family", {})
            cells = []
            for f in ("windows", "linux", "android", "apple", "bsd", "embedded"):
                x = pf.get(f)
                cells.append("" if not x else f"{P(x['precision'])}/{P(x['recall'])}")
            out.append(f"| {m} | {P(s['family_acc'])} | {P(s['labelled'])} | {P(s['acc_when_labelled'])} | "
                       f"{P(s.get('windows_version_acc'))} | {P(s.get('windows_generic_share'))} | " + " | ".join(cells) + " |")
out.append("\n## Per OS label (fine class) precision / recall, held-out\n")
for sname, bym in M["heldout"].items():
    out.append(f"\n{sname}\n\n| method | " + " | ".join(M["classes"] + ["windows:generic"]) + " |\n|---" + "|---" * (len(M["classes"]) + 1) + "|")
    for m, s_ in bym.items():
        pl = s_.get("per_label", {})
        out.append(f"| {m} | " + " | ".join("" if c not in pl else f"{P(pl[c]['precision'])}/{P(pl[c]['recall'])}" for c in M["classes"] + ["windows:generic"]) + " |")
out.append("\n## Calibration (reliability) tables, per SYN\n")
for m, d in M["reliability"].items():
    for part, rows in d.items():
        out.append(f"\n{m} — {part}\n\n| bin of p(family) | SYNs | weight (hosts or SYNs) | mean p | accuracy |\n|---|---|---|---|---|")
        for r in rows:
            out.append(f"| {r['bin']} | {r['n_syn']} | {r['weight']} | {r['mean_p']:.3f} | {r['acc']:.3f} |")
out.append("\n## Confusion (held-out target-like mix, rows = truth, host-weighted)\n")
mixk = [k for k in M["heldout"] if k.startswith("TARGET")][0]
for m in ("osfp", "p0f", "logreg", "osfp+logreg"):
    c = M["heldout"][mixk][m]["confusion"]
    cols = ["windows", "linux", "android", "apple", "bsd", "embedded", "other", "unknown"]
    out.append(f"\n{m}\n\n| truth \\ verdict | " + " | ".join(cols) + " |\n|---" * 1 + "|---" * len(cols) + "|")
    for t, row in c.items():
        out.append(f"| {t} | " + " | ".join(str(round(row.get(k, 0))) for k in cols) + " |")
out.append(f"\nModel: classes {M['classes']}, C={M['C']}, temperatures {M['temperature']}, thresholds {M['thresholds']}, sizes {M['n']}")
out.append(f"\nMix composition (held-out hosts per family): {M['mix_composition']}")
open(os.path.join(ROOT, "results/report.md"), "w").write("\n".join(out) + "\n")
print("\n".join(out))
