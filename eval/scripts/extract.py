#!/usr/bin/env python3
"""Extract every client SYN of a set of pcaps with the current osfp matcher's and p0f's
verdicts. osfp (`osfp pcap --json`) is the feature extractor: it is the decoder the Rust
side uses (tunnels, VLANs, IPv6 extension headers), so the features seen here are the ones
the classifier will see in the binary. p0f (`p0f -r FILE -o LOG`, /etc/p0f/p0f.fp) is joined
on (src, sport, dst, dport).

Usage: extract.py --list FILE_WITH_PCAP_PATHS --root DIR --out OUT.jsonl [--osfp BIN] [--jobs N]
Each output line: {"file": relpath, "rec": {...osfp record fields...}, "p0f": {...}|null}
"""
import argparse, concurrent.futures as cf, json, os, subprocess, tempfile

KEEP = ["ip_version", "src", "dst", "sport", "dport", "ttl", "tos", "df", "mf", "ip_id", "ip_len",
        "ip_opt_len", "flow_label", "seq", "ack", "flags", "flags_raw", "window", "urg_ptr",
        "payload_len", "doff", "mss", "wscale", "sack_ok", "tsval", "tsecr", "options", "eol_pad",
        "options_malformed", "options_hex", "signature", "os", "ts", "reasons"]

def p0f_verdicts(path):
    out = {}
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        try:
            subprocess.run(["p0f", "-r", path, "-o", log.name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=300)
        except subprocess.TimeoutExpired:
            return out
        for line in open(log.name, encoding="utf-8", errors="replace"):
            body = line.split("] ", 1)[-1].rstrip("\n")
            f = dict(kv.split("=", 1) for kv in body.split("|") if "=" in kv)
            if f.get("mod") != "syn":
                continue
            c, s = f["cli"].rsplit("/", 1), f["srv"].rsplit("/", 1)
            out.setdefault((c[0], int(c[1]), s[0], int(s[1])), []).append(
                {"os": f.get("os") or f.get("app"), "params": f.get("params"), "raw_sig": f.get("raw_sig"),
                 "app": "app" in f})
    return out

def one(osfp, root, rel):
    path = os.path.join(root, rel)
    p = subprocess.run([osfp, "pcap", "--json", path], capture_output=True, text=True, errors="replace", timeout=600)
    p0 = p0f_verdicts(path)
    used = {}
    rows = []
    for line in p.stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("kind") not in ("syn", "scan_probe") or "S" not in r.get("flags", "") or "A" in r.get("flags", ""):
            continue
        key = (r["src"], r["sport"], r["dst"], r["dport"])
        lst = p0.get(key) or []
        k = used.get(key, 0); used[key] = k + 1
        v = lst[k] if k < len(lst) else (lst[-1] if lst else None)
        rows.append({"file": rel, "rec": {x: r.get(x) for x in KEEP}, "p0f": v})
    return rows

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", required=True); ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--osfp", default=os.environ.get("OSFP_BIN", "/work/osfp-eval-bin/osfp"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--prefix", default="", help="prefix of the 'file' field (synth:, lab:, aug:)")
    a = ap.parse_args()
    files = [l.strip() for l in open(a.list) if l.strip()]
    with open(a.out, "w") as fo, cf.ThreadPoolExecutor(a.jobs) as ex:
        for rows in ex.map(lambda f: one(a.osfp, a.root, f), files):
            for r in rows:
                r["file"] = a.prefix + r["file"]
                fo.write(json.dumps(r) + "\n")

if __name__ == "__main__":
    main()
