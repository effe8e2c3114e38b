#!/usr/bin/env bash
# Benchmark: nettool arp against arping (iputils) and arp-scan, side by side
# in one run, in a private pair of network namespaces (no frame leaves them).
#
#   sudo bench/arp.sh            # prints a markdown table of times and ratios
#
# Measures whole processes with hyperfine:
#   1. a single resolution: nettool arp --no-cache ADDR   vs  arping -c 1 ADDR
#   2. a cached lookup:     nettool arp ADDR (fresh entry; no frame sent)
#   3. a /24 sweep with 20 live hosts: nettool arp NET/24  vs  arp-scan NET/24
#      (and checks that both find exactly the same 20 hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

bench_init arp.sh iproute2 iputils-arping arp-scan hyperfine python3
net=10.203.0
bench_pair ntb
bench_v4 $net
for i in $(seq 0 18); do ip -n "$b" addr add $net.$((7 + i * 13))/24 dev eth0; done
sleep 0.3

export NETTOOL_ARP_CACHE="$work/cache.json"
hf() { A hyperfine --style none --shell=none "$@"; }

# 1. single resolution
hf --warmup 5 --runs 200 --export-json "$work/single.json" \
  -n "nettool arp --no-cache" "$bin arp --no-cache $net.2" \
  -n "arping -c 1" "arping -c 1 -I eth0 $net.2" >/dev/null
# 2. cached lookup (the entry is fresh for an hour)
A "$bin" arp --ttl 1h "$net.2" >/dev/null
hf --warmup 5 --runs 300 --export-json "$work/cached.json" \
  -n "nettool arp (cached)" "$bin arp --ttl 1h $net.2" >/dev/null
# 3. sweep, and the hosts each tool found
hf --warmup 1 --runs 10 --export-json "$work/sweep.json" \
  -n "nettool arp NET/24" "$bin arp --no-cache -q $net.0/24" \
  -n "arp-scan NET/24" "arp-scan -q -I eth0 $net.0/24" >/dev/null
# A sweep's --json prints one `reply` event per host that answered, with its `ip`.
A "$bin" arp --json "$net.0/24" | python3 -c 'import json,sys; print("\n".join(sorted(e["ip"] for e in map(json.loads, sys.stdin) if e["event"] == "reply")))' >"$work/nettool.hosts"
A arp-scan -q -I eth0 "$net.0/24" | awk '/^[0-9]+\./ {print $1}' | sort -u >"$work/arpscan.hosts"
nettool_n=$(wc -l <"$work/nettool.hosts"); arpscan_n=$(wc -l <"$work/arpscan.hosts")
same=$(cmp -s <(sort "$work/nettool.hosts") <(sort "$work/arpscan.hosts") && echo yes || echo NO)

python3 - "$work" "$nettool_n" "$arpscan_n" "$same" <<'PY'
import json, sys
work, n_n, n_a, same = sys.argv[1:]
def load(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
ms = lambda r: r["mean"] * 1000
sd = lambda r: r["stddev"] * 1000
single, cached, sweep = load("single"), load("cached"), load("sweep")
n, a = single["nettool arp --no-cache"], single["arping -c 1"]
c = cached["nettool arp (cached)"]
sn, sa = sweep["nettool arp NET/24"], sweep["arp-scan NET/24"]
print("| what | nettool | reference | ratio (reference / nettool) |")
print("|---|---|---|---|")
print(f"| single resolution | {ms(n):.2f} ± {sd(n):.2f} ms | arping -c 1: {ms(a):.2f} ± {sd(a):.2f} ms | {ms(a)/ms(n):.2f}× |")
print(f"| cached lookup (whole process) | {ms(c):.2f} ± {sd(c):.2f} ms | target < 5 ms | — |")
print(f"| /24 sweep, 20 live hosts | {ms(sn):.0f} ± {sd(sn):.0f} ms, {n_n} hosts | arp-scan: {ms(sa):.0f} ± {sd(sa):.0f} ms, {n_a} hosts | {ms(sa)/ms(sn):.2f}× |")
print(f"\nsame hosts found by both sweeps: {same}")
PY
