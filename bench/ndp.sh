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

[ "$(id -u)" -eq 0 ] || { echo "bench/ndp.sh needs root (namespaces, raw sockets)" >&2; exit 2; }
need=()
for p in iproute2 ndisc6 hyperfine python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --quiet
bin="$PWD/target/release/nettool"
a="ntb6-$$-a"; b="ntb6-$$-b"; peer=fd00:6e74::2
work=$(mktemp -d)
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

ip netns add "$a"; ip netns add "$b"
for ns in "$a" "$b"; do
  # No DAD: the addresses are usable at once.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  ip -n "$ns" link set lo up
done
ip link add eth0 netns "$a" type veth peer name eth0 netns "$b"
ip -n "$a" addr add fd00:6e74::1/64 dev eth0 nodad
ip -n "$b" addr add $peer/64 dev eth0 nodad
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
sleep 0.3

export NETTOOL_ARP_CACHE="$work/cache.json"
inA() { ip netns exec "$a" "$@"; }
hf() { inA hyperfine --style none --shell=none "$@"; }

# 1. single resolution: both stop at the first advertisement.
hf --warmup 5 --runs 200 --export-json "$work/single.json" \
  -n "nettool ndp --no-cache" "$bin ndp --no-cache $peer" \
  -n "ndisc6 -1" "ndisc6 -1 -q $peer eth0" >/dev/null
# 2. cached lookup (ReachableTime is 15-45 s: refreshed before the runs)
inA "$bin" ndp "$peer" >/dev/null
hf --warmup 5 --runs 300 --export-json "$work/cached.json" \
  -n "nettool ndp (cached)" "$bin ndp $peer" >/dev/null
mac_n=$(inA "$bin" ndp --no-cache -q "$peer")
mac_d=$(inA ndisc6 -1 -q "$peer" eth0 | tr 'A-F' 'a-f')
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
