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


def coverage(db, corpus, rows, jobs, dump):
    totals = collections.Counter()
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
                if dump is not None:
                    subj = rec["cli"] if rec.get("subj") == "cli" else rec["srv"]
                    dump.write("\t".join([db, row["path"], mod, subj, label,
                                          rec.get("params", ""), rec.get("raw_sig", ""),
                                          row.get("gt", "")]) + "\n")
    return totals, errors


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", action="append", required=True, help="p0f-format database")
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="substring filter on corpus paths")
    ap.add_argument("--dump", help="write per-record TSV here")
    args = ap.parse_args()
    rows = read_index(args.corpus)
    if args.only:
        rows = [r for r in rows if args.only in r["path"]]
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None
    for db in args.db:
        totals, errors = coverage(db, args.corpus, rows, args.jobs, dump)
        n = sum(totals.values())
        k = totals[("syn", True)] + totals[("syn+ack", True)]
        print(f"{db}: {k}/{n} SYN+SYN-ACK signatures labelled ({100.0 * k / max(n, 1):.1f}%)")
        for mod in ("syn", "syn+ack"):
            mk, mu = totals[(mod, True)], totals[(mod, False)]
            print(f"  {mod:8} {mk}/{mk + mu} ({100.0 * mk / max(mk + mu, 1):.1f}%)")
        print(f"  files: {len(rows)}, p0f errors: {len(errors)}")
        for path, err in sorted(errors)[:20]:
            print(f"    {path}: {err.strip()}")
    if dump:
        dump.close()


if __name__ == "__main__":
    main()
