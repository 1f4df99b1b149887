#!/usr/bin/env bash
# The run behind README's "A real run": a sensor on two veth links of a server namespace,
# a real Prometheus with the shipped rules (`for:` cut to 5 s), Linux connections, crafted
# unknown SYNs (scapy) and an nmap scan. Outputs land in /tmp/osfp-ex. Needs root and a
# built osfp (cargo build). Not a test: the tests assert the same things.
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/target/debug/osfp
[ -x "$B" ] || { echo "build osfp first: cargo build" >&2; exit 1; }
D=/tmp/osfp-ex; rm -rf $D; mkdir -p $D
cleanup() {
  pkill -f "prometheus --config.file=$D" || true
  pkill -INT -f "osfp run --config $D" || true
  pkill -f "http.server 80 --bind 192.0.2.1" || true
  sleep 1
  for n in exs exc exn; do ip netns del $n 2>/dev/null || true; done
}
trap cleanup EXIT
ip netns del exs 2>/dev/null || true; ip netns del exc 2>/dev/null || true; ip netns del exn 2>/dev/null || true
ip netns add exs; ip netns add exc; ip netns add exn
ip link add c0 netns exs type veth peer name c1 netns exc
ip link add n0 netns exs type veth peer name n1 netns exn
ip -n exs addr add 192.0.2.1/25 dev c0; ip -n exc addr add 192.0.2.10/25 dev c1
ip -n exs addr add 198.51.100.1/25 dev n0; ip -n exn addr add 198.51.100.66/25 dev n1
for n in exs exc exn; do ip -n $n link set lo up; done
ip -n exs link set c0 up; ip -n exc link set c1 up; ip -n exs link set n0 up; ip -n exn link set n1 up
ip -n exc route add default dev c1; ip -n exn route add default dev n1
cat > $D/osfp.toml <<T
iface = ["c0", "n0"]
records = "off"
event-log = "events.ndjson"
T
ip netns exec exs $B run --config $D/osfp.toml 2> $D/sensor.err &
sleep 2
sed -E 's/for: [0-9]+m/for: 5s/' $ROOT/deploy/prometheus/osfp-alerts.yml > $D/rules.yml
cat > $D/prom.yml <<T
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: [rules.yml]
scrape_configs:
  - job_name: osfp
    static_configs: [{targets: ["127.0.0.1:9184"]}]
T
ip netns exec exs prometheus --config.file=$D/prom.yml --storage.tsdb.path=$D/tsdb --web.listen-address=127.0.0.1:9090 > $D/prom.log 2>&1 &
ip netns exec exs python3 -m http.server 80 --bind 192.0.2.1 >/dev/null 2>&1 &
sleep 8
for i in 1 2 3; do ip netns exec exc curl -s -o /dev/null http://192.0.2.1/; done
ip netns exec exc /usr/bin/python3 -c "
from scapy.all import *
conf.verb=0
for p in range(3):
    send(IP(src='192.0.2.10',dst='192.0.2.1',ttl=64)/TCP(sport=50000+p,dport=80,flags='S',window=1234,options=[('MSS',1400),('NOP',None),('WScale',3)]))
"
ip netns exec exn nmap -sS -T4 -p 1-200 198.51.100.1 > /dev/null
sleep 25
ip netns exec exs curl -s '127.0.0.1:9090/api/v1/alerts' > $D/alerts.json
ip netns exec exs curl -s '127.0.0.1:9184/api/v1/sources?scanning=true' > $D/scanning.json
ip netns exec exs curl -s '127.0.0.1:9184/api/v1/sources?unknown=true' > $D/unknown.json
ip netns exec exs curl -s '127.0.0.1:9184/api/v1/sources/192.0.2.10' > $D/one.json
ip netns exec exs curl -s '127.0.0.1:9184/api/v1/sources?family=beos' > $D/bad.json
ip netns exec exs curl -s '127.0.0.1:9184/metrics' > $D/metrics.txt
ip netns exec exs curl -s '127.0.0.1:9184/readyz' > $D/readyz.json
ls $D
