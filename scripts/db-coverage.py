#!/usr/bin/env python3
"""Share of SYN / SYN-ACK signatures a p0f-format database labels over the corpus.

Runs the real p0f (`p0f -f DB -r FILE -o LOG`) over every file listed in the
corpus INDEX.tsv and counts, over all printed `syn` and `syn+ack` records, how
many got an `os` other than `???`. Run it once per database to compare, e.g.

    scripts/db-coverage.py --db osfp-userspace/db/osfp.fp --db /etc/p0f/p0f.fp

`--dump FILE` writes one TSV row per record (db, path, mod, subject address,
os, params, raw_sig, gt) for closer study. Standard library only.
"""
import argparse
import collections
import concurrent.futures
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CORPUS = os.environ.get(
    "OSFP_CORPUS", os.path.join(HERE, "..", "..", "shared", "corpus"))
if not os.path.isdir(DEFAULT_CORPUS):
    DEFAULT_CORPUS = "/work/shared/corpus"


# Ground-truth hosts: corpus file -> {address: expected family}. Families follow
# the label convention written at the top of osfp.fp.
GT_HOSTS = {
    "arkime/fbzero-android.pcap": {"192.168.1.111": "android"},
    "chrissanders-packets/activeosfingerprinting.pcapng": {
        "172.16.16.150": "windows", "172.16.16.128": "tool"},
    "chrissanders-packets/passiveosfingerprinting.pcapng": {"172.16.16.134": "windows|linux"},
    "chrissanders-packets/synscan.pcapng": {"172.16.0.8": "tool"},
    "esnet-curated/attacks__scanners__masscan__tcp_0_1000_20190821.pcap": {"172.31.15.102": "tool"},
    "esnet-curated/attacks__scanners__nmap__nmap_80_all.pcap": {"10.87.1.10": "linux|tool"},
    "esnet-curated/attacks__scanners__nmap__nmap_80_vanilla.pcap": {"10.87.1.10": "linux|tool"},
    "esnet-curated/attacks__scanners__nmap__nmap_80_w_service_detection.pcap": {
        "10.87.1.10": "linux|tool"},
    "esnet-curated/tcp__control__one_way_all_flags.pcap": {"10.0.0.10": "tool"},
    "huginn-net/macos_tcp_flags.pcap": {"172.16.5.16": "macos"},
    "ndpi/android.pcap": {"192.168.2.16": "android"},
    "ndpi/googledns_android10.pcap": {"192.168.1.159": "android"},
    "ndpi/synscan.pcap": {"172.16.0.8": "tool"},
    "ndpi/tcp_scan.pcapng": {"192.168.1.178": "tool|macos"},
    "ndpi/windowsupdate_over_http.pcap": {"10.0.2.15": "windows"},
    "pypi-pypacker/linuxcc.pcap": {"10.50.247.1": "linux"},
    "victorialugi-nmap/fin_scan.pcap": {"10.129.0.4": "tool|linux"},
    "victorialugi-nmap/syn_scan.pcap": {"10.129.0.4": "tool|linux"},
    "victorialugi-nmap/xmas_scan.pcap": {"10.129.0.4": "tool|linux"},
    "zeek/dce-rpc__cs_window7-join_stream092.pcap": {"192.168.122.145": "windows"},
    "zeek/ldap__ctu-sme-11-win7ad-1-ldap-tcp-50041.pcap": {
        "192.168.1.105": "windows", "192.168.1.107": "windows", "192.168.1.108": "windows"},
    "zeek/rfb__vnc-mac-to-linux.pcap": {"192.168.2.115": "macos", "192.168.2.125": "linux"},
}
IOT = {"Aria": "10.10.10.123", "D-LinkCam": "10.10.10.37", "D-LinkDoorSensor": "10.10.10.87",
       "D-LinkSiren": "10.10.10.39", "EdimaxPlug1101W": "10.10.10.186",
       "EdnetGateway": "10.10.10.149", "HueBridge": "10.10.10.6",
       "TP-LinkPlugHS100": "10.10.10.228", "WeMoInsightSwitch": "10.10.10.158",
       "WeMoLink": "10.10.10.144", "Withings": "10.10.10.21"}


def expected_hosts(path):
    if path in GT_HOSTS:
        return GT_HOSTS[path]
    parts = path.split("/")
    if parts[0] == "iot-sentinel" and parts[1] in IOT:
        return {IOT[parts[1]]: "embedded"}
    return None


def family(label, app):
    """Label text -> family, as documented at the top of osfp.fp."""
    if app:
        return "tool"
    name = label.split(" ")[0] if label else ""
    for prefix, fam in (("Android", "android"), ("Linux", "linux"), ("Windows", "windows"),
                        ("Mac", "macos"), ("macOS", "macos"), ("iOS", "ios"),
                        ("FreeBSD", "bsd"), ("OpenBSD", "bsd"), ("NetBSD", "bsd"),
                        ("Embedded", "embedded")):
        if label.startswith(prefix):
            return fam
    return "other" if label and label != "???" else None


def read_index(corpus):
    rows = []
    with open(os.path.join(corpus, "INDEX.tsv"), encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


def run_p0f(db, corpus, path):
    """Return (records, error) for one file; a record is a dict of the log fields."""
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        try:
            proc = subprocess.run(
                ["p0f", "-f", db, "-r", os.path.join(corpus, path), "-o", log.name],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        except subprocess.TimeoutExpired:
            return [], "timeout"
        err = None
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["rc"]
            err = err[0]
        recs = []
        with open(log.name, encoding="utf-8", errors="replace") as f:
            for line in f:
                body = line.split("] ", 1)[-1].rstrip("\n")
                fields = dict(kv.split("=", 1) for kv in body.split("|") if "=" in kv)
                if fields.get("mod") in ("syn", "syn+ack"):
                    recs.append(fields)
        return recs, err


def check_loads(db, corpus, rows):
    """Load the database into p0f once; p0f aborts with the offending line number."""
    sample = next((r["path"] for r in rows if r["path"].endswith(".pcap")), rows[0]["path"])
    proc = subprocess.run(["p0f", "-f", db, "-r", os.path.join(corpus, sample)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    out = proc.stdout.decode(errors="replace")
    if "PROGRAM ABORT" in out or "Loaded" not in out:
        bad = [l for l in out.splitlines() if "ABORT" in l or "line" in l.lower()]
        return " / ".join(bad) or out.strip()[-300:]
    return None


def coverage(db, corpus, rows, jobs, dump):
    totals = collections.Counter()
    gt = collections.defaultdict(collections.Counter)
    errors = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(run_p0f, db, corpus, r["path"]): r for r in rows}
        for fut in concurrent.futures.as_completed(futs):
            row = futs[fut]
            recs, err = fut.result()
            if err:
                errors.append((row["path"], err))
            for rec in recs:
                mod = rec["mod"]
                # Tool signatures (class `!`) are printed as `app=` instead of `os=`.
                label = rec.get("os") or rec.get("app") or "???"
                known = label != "???"
                totals[(mod, known)] += 1
                subj = rec["cli"] if rec.get("subj") == "cli" else rec["srv"]
                want = expected_hosts(row["path"])
                addr = subj.rsplit("/", 1)[0]
                if want and addr in want:
                    fam = family(rec.get("os") or rec.get("app"), rec.get("app"))
                    gt[(row["path"], addr, want[addr])][fam if fam else "unknown"] += 1
                if dump is not None:
                    dump.write("\t".join([db, row["path"], mod, subj, label,
                                          rec.get("params", ""), rec.get("raw_sig", ""),
                                          row.get("gt", "")]) + "\n")
    return totals, errors, gt


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", action="append", required=True, help="p0f-format database")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="substring filter on corpus paths")
    ap.add_argument("--dump", help="write per-record TSV here")
    ap.add_argument("--gt", action="store_true", help="print per-file ground-truth results")
    args = ap.parse_args()
    rows = read_index(args.corpus)
    if args.only:
        rows = [r for r in rows if args.only in r["path"]]
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None
    results = []
    for db in args.db:
        problem = check_loads(db, args.corpus, rows)
        if problem:
            print(f"{db}: p0f cannot load it: {problem}", file=sys.stderr)
            sys.exit(2)
        totals, errors, gt = coverage(db, args.corpus, rows, args.jobs, dump)
        n = sum(totals.values())
        k = totals[("syn", True)] + totals[("syn+ack", True)]
        print(f"{db}: {k}/{n} SYN+SYN-ACK signatures labelled ({100.0 * k / max(n, 1):.1f}%)")
        for mod in ("syn", "syn+ack"):
            mk, mu = totals[(mod, True)], totals[(mod, False)]
            print(f"  {mod:8} {mk}/{mk + mu} ({100.0 * mk / max(mk + mu, 1):.1f}%)")
        print(f"  files: {len(rows)}, p0f errors: {len(errors)}")
        results.append((db, k, n))
        for path, err in sorted(errors)[:20]:
            print(f"    {path}: {err.strip()}")
        if args.gt:
            print("  ground truth (file, host, expected: families of its SYN/SYN-ACK records)")
            for (path, addr, want), fams in sorted(gt.items()):
                good = sum(n for f, n in fams.items() if f in want.split("|"))
                verdict = "OK" if good and not set(fams) - set(want.split("|")) - {"unknown"} \
                    else "PARTIAL" if good else "WRONG"
                print(f"    {verdict:7} {path} {addr} want={want} got={dict(fams)}")
    if len(results) > 1:
        # p0f stops fingerprinting the SYN+ACK of a flow whose SYN matched a tool
        # (`!`) signature, so record counts differ between databases. Dividing by the
        # largest count treats every record missing in one run as unlabelled.
        most = max(n for _, _, n in results)
        for db, k, _ in results:
            print(f"{db}: {k}/{most} over the largest record count ({100.0 * k / most:.1f}%)")
    if dump:
        dump.close()


if __name__ == "__main__":
    main()
