#!/usr/bin/env bash
# Benchmark: nettool ndp against ndisc6, side by side in one run, in a
# private pair of network namespaces with IPv6 on (no frame leaves them).
#
#   sudo bench/ndp.sh            # prints a markdown table of times and ratios
#
# Measures whole processes with hyperfine:
#   1. a single resolution: nettool ndp --no-cache ADDR  vs  ndisc6 -1 -q ADDR eth0
#   2. a cached lookup:     nettool ndp ADDR (REACHABLE entry; no frame sent)
# and checks that both tools name the same MAC.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

bench_init ndp.sh iproute2 ndisc6 hyperfine python3
peer=fd00:6e74::2
bench_pair ntb6
# No DAD (bench_v6): the addresses are usable at once.
bench_v6 fd00:6e74::1 $peer
sleep 0.3

export NETTOOL_ARP_CACHE="$work/cache.json"
hf() { A hyperfine --style none --shell=none "$@"; }

# 1. single resolution: both stop at the first advertisement.
hf --warmup 5 --runs 200 --export-json "$work/single.json" \
  -n "nettool ndp --no-cache" "$bin ndp --no-cache $peer" \
  -n "ndisc6 -1" "ndisc6 -1 -q $peer eth0" >/dev/null
# 2. cached lookup (ReachableTime is 15-45 s: refreshed before the runs)
A "$bin" ndp "$peer" >/dev/null
hf --warmup 5 --runs 300 --export-json "$work/cached.json" \
  -n "nettool ndp (cached)" "$bin ndp $peer" >/dev/null
mac_n=$(A "$bin" ndp --no-cache -q "$peer")
mac_d=$(A ndisc6 -1 -q "$peer" eth0 | tr 'A-F' 'a-f')
same=$([ "$mac_n" = "$mac_d" ] && echo yes || echo "NO ($mac_n vs $mac_d)")

python3 - "$work" "$same" <<'PY'
import json, sys
work, same = sys.argv[1:]
def load(name):
    return {r["command"]: r for r in json.load(open(f"{work}/{name}.json"))["results"]}
ms = lambda r: r["mean"] * 1000
sd = lambda r: r["stddev"] * 1000
single, cached = load("single"), load("cached")
n, d = single["nettool ndp --no-cache"], single["ndisc6 -1"]
c = cached["nettool ndp (cached)"]
print("| what | nettool | reference | ratio (reference / nettool) |")
print("|---|---|---|---|")
print(f"| single resolution | {ms(n):.2f} ± {sd(n):.2f} ms | ndisc6 -1: {ms(d):.2f} ± {sd(d):.2f} ms | {ms(d)/ms(n):.2f}× |")
print(f"| cached lookup (whole process) | {ms(c):.2f} ± {sd(c):.2f} ms | target < 5 ms | — |")
print(f"\nsame MAC from both: {same}")
PY
