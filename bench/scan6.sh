#!/usr/bin/env bash
# Benchmark: a SYN scan of 1-65535 over IPv6, `nettool scan` against
# `nmap -6 -sS -n -Pn -T4`, side by side in one run, in a private pair of
# network namespaces (fd00:6e73::1 in A, fd00:6e73::2 in B, DAD off; no
# frame leaves them). B listens on 5 ports (python3, IPv6 sockets) and
# drops SYNs to 3 (nftables); every other port is closed (B's kernel
# RSTs). Each tool's result must be exactly that: the table says whether
# it was. Prints a markdown table.
#
#   sudo bench/scan6.sh            # nettool adaptive, nettool at a fixed
#                                  # --rate 100000, then nmap
#   sudo RUNS=3 bench/scan6.sh     # each tool three times, the median time
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

RUNS=${RUNS:-1}
bench_init scan6.sh iproute2 nftables nmap python3
ula_a=fd00:6e73::1; ula_b=fd00:6e73::2
bench_pair nts6
bench_v6 $ula_a $ula_b
export NETTOOL_ARP_CACHE="$work/cache.json"

open_ports="22 80 443 8443 31337"
filtered_ports="82 3000 60000"
# Not through B() (see bench/lib.sh): python3 would outlive the kill.
ip netns exec "$b" python3 - "$work/ready" "$ula_b" $open_ports <<'PY' &
import socket, sys, time
ss = []
for p in sys.argv[3:]:
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[2], int(p))); s.listen(4096); ss.append(s)
open(sys.argv[1], "w").close()
time.sleep(3600)
PY
pids+=($!)
bench_ready "$work/ready"
B nft add table inet fw
B nft add chain inet fw in '{ type filter hook input priority 0; }'
B nft add rule inet fw in tcp dport "{ ${filtered_ports// /, } }" drop
# The first run pays B's neighbour resolution alike for every tool: done
# before the clock starts.
A ping -6 -c 1 -W 2 $ula_b >/dev/null

# Runs "$@" RUNS times; prints each run's seconds; the last run's output
# stays in $out.
timed() {
  local out=$1; shift
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >"$out"
    t1=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t0:.3f}')"
  done
}
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }

# nettool exits 0 when a port is open; anything else is a failure here.
nt_adaptive=$(timed "$work/adaptive.json" A "$bin" scan --json -i eth0 $ula_b 1-65535)
nt_fixed=$(timed "$work/fixed.json" A "$bin" scan --json --rate 100000 -i eth0 $ula_b 1-65535)
nm=$(timed "$work/nmap.txt" A nmap -6 -sS -n -Pn -T4 -p 1-65535 -e eth0 -oG - $ula_b)

verdicts=$(python3 - "$work/adaptive.json" "$work/fixed.json" "$work/nmap.txt" "$open_ports" "$filtered_ports" <<'PY'
import json, re, sys
want_open = set(map(int, sys.argv[4].split()))
want_filt = set(map(int, sys.argv[5].split()))
def mine(path):
    r = {"open": set(), "filtered": set(), "closed": 0, "pace": "?"}
    for l in open(path):
        e = json.loads(l)
        if e["event"] == "port":
            if e["outcome"] == "closed":
                r["closed"] += 1
            else:
                r[e["outcome"]].add(e["port"])
        elif e["event"] == "result":
            r["pace"] = f"peak {e['rate_peak']:.0f}/s, {e['drops']} drop(s)"
    return r
def theirs(path):
    text = open(path).read()
    ports = re.findall(r"(\d+)/(open|filtered|closed)/tcp", text)
    r = {"open": {int(p) for p, s in ports if s == "open"},
         "filtered": {int(p) for p, s in ports if s == "filtered"}, "pace": ""}
    # -oG names the closed ones only by their count.
    m = re.search(r"Ignored State: closed \((\d+)\)", text)
    r["closed"] = int(m.group(1)) if m else len([1 for _, s in ports if s == "closed"])
    return r
fmt = lambda s: ",".join(map(str, sorted(s))) or "none"
for r in (mine(sys.argv[1]), mine(sys.argv[2]), theirs(sys.argv[3])):
    exact = (r["open"] == want_open and r["filtered"] == want_filt
             and r["closed"] == 65535 - len(want_open) - len(want_filt))
    print(f"open {fmt(r['open'])}, filtered {fmt(r['filtered'])}, closed {r['closed']}"
          f"|{'exact' if exact else 'NOT EXACT'}|{r['pace']}")
PY
)
mapfile -t v <<<"$verdicts"
t_ad=$(median $nt_adaptive); t_fx=$(median $nt_fixed); t_nm=$(median $nm)
IFS='|' read -r ad_ports ad_exact ad_pace <<<"${v[0]}"
IFS='|' read -r fx_ports fx_exact _ <<<"${v[1]}"
IFS='|' read -r nm_ports nm_exact _ <<<"${v[2]}"
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }

cat <<EOF
| SYN scan of 1-65535 over IPv6 ($RUNS run(s), median) | time | result | exact |
|---|---|---|---|
| \`nettool scan\` (adaptive, $ad_pace) | $t_ad s | $ad_ports | $ad_exact |
| \`nettool scan --rate 100000\` | $t_fx s | $fx_ports | $fx_exact |
| \`nmap -6 -sS -n -Pn -T4\` | $t_nm s | $nm_ports | $nm_exact |

nmap's time over nettool's: $(ratio "$t_nm" "$t_ad")× (adaptive), $(ratio "$t_nm" "$t_fx")× (fixed rate)
truth: open ${open_ports// /,}; filtered ${filtered_ports// /,}; the other $((65535 - 8)) closed
EOF
[ "$ad_exact" = exact ] && [ "$fx_exact" = exact ] && [ "$nm_exact" = exact ]
