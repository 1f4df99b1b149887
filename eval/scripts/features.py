"""SYN -> categorical features (strings "name=value"), the exact encoding proposed for the Rust
classifier. Every feature is computed from one SYN's IP and TCP headers; nothing depends on
other packets. See eval/README.md "Classifier spec" for the table.
"""
import os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synlib import parse_opts

COMMON_WIN = {65535, 64240, 65280, 29200, 14600, 5840, 8192, 16384, 32768, 4128, 1024, 512, 65160,
              64800, 28960, 26883, 5720, 14480, 43690, 42340, 62727, 17520, 16616, 4096, 2048, 63443}
LOOPBACK_MSS = {16344, 16384, 16396, 16376, 65495, 65476, 3884, 3924, 16436}

def ittl(t):
    for v in (32, 64, 128):
        if t <= v: return v
    return 255

def mss_bucket(m):
    if m is None: return "none"
    if m in LOOPBACK_MSS: return "loop"
    for lo, hi, name in ((0, 535, "<536"), (536, 536, "536"), (537, 1219, "537-1219"), (1220, 1359, "1220-1359"),
                         (1360, 1399, "1360-1399"), (1400, 1439, "1400-1439"), (1440, 1440, "1440"),
                         (1441, 1459, "1441-1459"), (1460, 1460, "1460"), (1461, 8999, "1461-8999")):
        if lo <= m <= hi: return name
    return ">=9000"

def layout_tokens(opts):
    """p0f-style layout with runs of >= 4 NOPs collapsed to 'nopN' (N = 4..) and EOL padding kept."""
    out, run = [], 0
    def flush():
        nonlocal run
        if run: out.extend(["nop"] * run if run < 4 else ["nop*%d" % run])
        run = 0
    for o in opts:
        if o[0] == "nop": run += 1; continue
        flush()
        if o[0] == "pad": out[-1] = "eol+%d" % o[1] if out and out[-1] == "eol+0" else out[-1]; continue
        out.append({"eol": "eol+0", "raw": "?"}.get(o[0], o[0]))
    flush()
    return out

def featurize(r):
    opts = parse_opts(r.get("options_hex"))
    kinds = [o[0] for o in opts]
    real = [k for k in kinds if k not in ("nop", "eol", "pad")]
    lay = layout_tokens(opts)
    longest, cur = 0, 0
    for k in kinds:
        cur = cur + 1 if k == "nop" else 0; longest = max(longest, cur)
    mss = r.get("mss"); win = r["window"]; ws = r.get("wscale")
    v6 = r["ip_version"] == 6
    t = ittl(r["ttl"])
    F = {}
    F["layout"] = ",".join(lay) or "none"
    F["canon"] = ",".join(real) or "none"
    F["noprun"] = str(min(longest, 4)) if longest < 4 else ">=4"
    F["eol"] = next((x for x in lay if x.startswith("eol")), "none")
    F["ittl"] = str(t)
    F["ipv"] = "6" if v6 else "4"
    F["df"] = "v6" if v6 else str(bool(r["df"]))
    F["ipid"] = "v6" if v6 else ("zero" if not r.get("ip_id") else "nonzero")
    F["ecn"] = ("ece+cwr" if (r["flags_raw"] & 0xC0) == 0xC0 else "ece" if r["flags_raw"] & 0x40 else
                "cwr" if r["flags_raw"] & 0x80 else "none") + ("/ect" if (r.get("tos") or 0) & 3 else "")
    F["flow"] = ("nonzero" if r.get("flow_label") else "zero") if v6 else "v4"
    F["ws"] = "none" if ws is None else (str(ws) if ws <= 14 else "exws")
    F["mss"] = mss_bucket(mss)
    F["win"] = str(win) if win in COMMON_WIN else "other"
    F["win_log2"] = str(win.bit_length())
    if mss and win and win % mss == 0: F["win_mss"] = "mss*%d" % (win // mss) if win // mss <= 64 else "mss*big"
    elif mss and mss > 12 and win and win % (mss - 12) == 0: F["win_mss"] = "mss12*%d" % (win // (mss - 12))
    else: F["win_mss"] = "no"
    # a multiple of an Ethernet MSS survives an MSS clamp downstream
    F["win_1460"] = next(("%d*%d" % (b, win // b) for b in (1460, 1448, 1440) if win and win % b == 0 and win // b <= 64), "no")
    F["win_rule"] = str(bool(mss) and win == (65535 // mss) * mss)  # 64K rounded down to MSS multiple
    tsv = next((o[1] for o in opts if o[0] == "ts"), None)
    F["ts"] = "none" if tsv is None else ("val0" if tsv[0] == 0 else "ok") + ("/ecr+" if tsv and tsv[1] else "")
    # the rest of p0f's quirks, from the signature the matcher computed (field 7)
    sq = (r.get("signature") or "::::::").split(":")[6].split(",")
    q = sorted(x for x in sq if x and x not in ("df", "id+", "id-", "ecn", "flow"))
    if r.get("payload_len"): q.append("payload")
    F["quirks"] = ",".join(q) or "none"
    # crosses (the linear model needs them; a tree model finds them itself)
    F["x_canon_ittl"] = F["canon"] + "|" + F["ittl"]
    F["x_layout_ittl"] = F["layout"] + "|" + F["ittl"]
    F["x_win_ws"] = F["win"] + "|" + F["ws"]
    F["x_winmss_canon"] = F["win_mss"] + "|" + F["canon"]
    F["x_win1460_canon"] = F["win_1460"] + "|" + F["canon"]
    F["x_ipid_df_ittl"] = F["ipid"] + "|" + F["df"] + "|" + F["ittl"]
    F["x_win_canon"] = F["win"] + "|" + F["canon"]
    return F
