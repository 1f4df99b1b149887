#!/bin/bash
# Capture this machine's own TCP stack (or a scanner) between two network
# namespaces and print p0f's raw signatures: the "netns:" evidence of osfp.fp.
#
#   scripts/sigdb-netns-capture.sh TAG MTU "client sysctls" "server sysctls" [TOOL...]
#
# Sysctls are ';'-separated (e.g. "net.ipv4.tcp_timestamps=0;net.ipv4.tcp_sack=0").
# Without TOOL, a Python client connects twice over IPv4 and twice over IPv6 to a
# listener in the other namespace; with TOOL, that command runs in the client
# namespace instead (e.g. nmap -n -Pn -sS -p 80 10.77.0.2). Needs root, dumpcap, p0f.
# The namespaces are removed on exit; the capture stays in ${OUT:-/tmp}/netns-TAG.pcap.
set -euo pipefail
TAG=$1; MTU=$2; CS=${3:-}; SS=${4:-}; shift 4 || true
OUT=${OUT:-/tmp}
A=osfpdbA$$; B=osfpdbB$$
ip netns add "$A"; ip netns add "$B"
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; ip netns del "$A"; ip netns del "$B"; }
PIDS=()
trap cleanup EXIT
ip link add sdbA$$ type veth peer name sdbB$$
ip link set sdbA$$ netns "$A"; ip link set sdbB$$ netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev sdbA$$; ip -n "$B" addr add 10.77.0.2/24 dev sdbB$$
ip -n "$A" addr add fd77::1/64 dev sdbA$$ nodad; ip -n "$B" addr add fd77::2/64 dev sdbB$$ nodad
ip -n "$A" link set sdbA$$ mtu "$MTU" up; ip -n "$B" link set sdbB$$ mtu "$MTU" up
ip -n "$A" link set lo up; ip -n "$B" link set lo up
IFS=';' read -ra CA <<< "$CS"; for s in "${CA[@]}"; do [ -n "$s" ] && ip netns exec "$A" sysctl -qw "$s"; done
IFS=';' read -ra SA <<< "$SS"; for s in "${SA[@]}"; do [ -n "$s" ] && ip netns exec "$B" sysctl -qw "$s"; done
ip netns exec "$B" python3 -c '
import socket, threading
def serve(fam, addr):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 80)); s.listen(64)
    while True:
        c, _ = s.accept(); c.close()
threading.Thread(target=serve, args=(socket.AF_INET, "10.77.0.2"), daemon=True).start()
serve(socket.AF_INET6, "fd77::2")' &
PIDS+=($!)
ip netns exec "$B" dumpcap -q -i sdbB$$ -P -w "$OUT/netns-$TAG.pcap" -f tcp 2>/dev/null &
PIDS+=($!)
sleep 2
if [ $# -gt 0 ]; then
    ip netns exec "$A" "$@" >/dev/null 2>&1 || true
else
    ip netns exec "$A" python3 -c '
import socket
for a in [("10.77.0.2", 80)] * 2 + [("fd77::2", 80)] * 2:
    socket.create_connection(a, timeout=2).close()'
fi
sleep 2
kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
p0f -r "$OUT/netns-$TAG.pcap" -o "$OUT/netns-$TAG.log" >/dev/null 2>&1 || true
grep -E 'mod=syn' "$OUT/netns-$TAG.log" \
    | sed -E 's/.*mod=([^|]*)\|.*raw_sig=(.*)/\1\t\2/' | sort | uniq -c
