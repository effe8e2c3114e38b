#!/usr/bin/env bash
# Benchmark: nettool probe and nettool scan against hping3 and nmap, side
# by side in one run, in a private pair of network namespaces (no frame
# leaves them). Prints a markdown table.
#
#   sudo bench/probe.sh                 # SECS=3 of flood per tool, N=50 RTT samples
#   sudo ONLY=flood bench/probe.sh      # the floods only
#
# (1) Flood: `nettool probe --flood` and `hping3 --flood` send the same
#     40-byte SYN (fixed source port 40000, destination port 81) for a
#     while each; the rate is read from B's receive side, an nftables
#     netdev ingress counter on B's eth0 (which also drops the SYNs, so B's
#     TCP does no work that could slow the wire down). The counter is read
#     1 s into the run and SECS s later: a steady-state rate, start-up excluded.
# (1b) Flood against a peer that answers: the same, to port 83, where
#     B's counter only counts the SYNs and B's kernel answers each with a
#     RST (no listener). nettool reads and counts every answer (its
#     summary says how many); hping3 in flood mode counts none. nettool
#     runs three times: reading through its receive ring, with its RST
#     guard's output rule only (NETTOOL_INGRESS_DROP=0: A's kernel then
#     sees every answer too, as nettool did before its guard dropped
#     them at A's ingress), and frame by frame (NETTOOL_RX_RING=0), for
#     paired comparisons.
#     For both floods, the CPU time each tool spent per probe over the
#     same window (from /proc/PID/stat): its own work, and the kernel's
#     inside its system calls. On veth that includes B's: the SYN crosses
#     into B, and B's TCP answers it, inside the sender's send call
#     (softirq), for either tool; a tool that spends nothing of its own
#     still pays that, which bounds the ratio of the rates.
# (2) RTT accuracy: N SYNs to a listening port, 20 ms apart, while tcpdump
#     captures A's eth0 with nanosecond timestamps. For every probe,
#     nettool's reported RTT is compared with the capture's (SYN frame to
#     SYN-ACK frame, matched by ack = seq + 1).
# (3) Scan of 1-65535: `nettool scan` (default: adaptive rate, up to
#     --max-rate 100000; then fixed at that ceiling, to show what the ramp
#     costs) and `nmap -sS -n -Pn -T4` against B, which listens on 5 ports
#     and drops SYNs to 3 (nftables); all must report exactly those.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SECS=${SECS:-3}
N=${N:-50}
ONLY=${ONLY:-}
bench_init probe.sh iproute2 nftables hping3 nmap tcpdump python3
net=10.206.0
bench_pair ntp
bench_v4 $net
export NETTOOL_ARP_CACHE="$work/arp.json"

# ---------------------------------------------------------------- (1) flood
B nft -f - <<EOF
table netdev flood {
  counter syns { }
  counter answered { }
  chain in {
    type filter hook ingress device eth0 priority 0;
    ip saddr $net.1 tcp dport 81 tcp flags & (syn|ack) == syn counter name syns drop
    ip saddr $net.1 tcp dport 83 tcp flags & (syn|ack) == syn counter name answered
  }
}
EOF
COUNTER=syns
syns() { B nft list counter netdev flood "$COUNTER" | awk '/packets/ { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'; }
# Runs "$@" in A for 1 + SECS + 0.5 s; prints the packets B counted per second over SECS s.
flood_rate() {
  # Not through the A function: $! must be the tool (timeout forwards the
  # TERM, and bounds the run should anything go wrong).
  timeout -s TERM $((SECS + 5)) ip netns exec "$a" "$@" >"$work/flood.out" 2>&1 &
  local pid=$!
  sleep 1
  # `ip netns exec` execs the tool: it is timeout's child.
  local tool; tool=$(pgrep -P "$pid" | head -1)
  local c0; c0=$(syns)
  local u0; u0=$(cpu_ticks "$tool")
  local t0; t0=$(date +%s.%N)
  sleep "$SECS"
  local c1; c1=$(syns)
  local u1; u1=$(cpu_ticks "$tool")
  local t1; t1=$(date +%s.%N)
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # CPU time per probe, over the same window as the count: the tool's own
  # work, and the kernel's that runs inside its system calls (on veth,
  # B's answer to each SYN is computed in the sender's softirq).
  python3 -c "print(round(($u1 - $u0) / $(getconf CLK_TCK) * 1e9 / max($c1 - $c0, 1)))" >"$work/ns_per_probe"
  python3 -c "print(round(($c1 - $c0) / ($t1 - $t0)))"
}
# The tool's CPU time (user and system), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Warm the ARP cache so nettool's run starts sending at once.
A "$bin" probe -c 1 -W 10ms $net.2:81 >/dev/null 2>&1 || true
nt_pps=$(flood_rate "$bin" probe --flood -p 40000 $net.2:81)
nt_ns=$(cat "$work/ns_per_probe")
nt_summary=$(grep "probes sent" "$work/flood.out" || true)
hp_pps=$(flood_rate hping3 --flood -S -s 40000 -k -p 81 $net.2)
hp_ns=$(cat "$work/ns_per_probe")
flood_ratio=$(python3 -c "print(f'{$nt_pps / max($hp_pps, 1):.2f}')")

# ------------------------------------------- (1b) flood, the peer answering
COUNTER=answered
ans_pps=$(flood_rate "$bin" probe --flood -p 40000 $net.2:83)
ans_ns=$(cat "$work/ns_per_probe")
ans_summary=$(grep "probes sent" "$work/flood.out" || true)
out_pps=$(NETTOOL_INGRESS_DROP=0 flood_rate "$bin" probe --flood -p 40000 $net.2:83)
out_ns=$(cat "$work/ns_per_probe")
old_pps=$(NETTOOL_RX_RING=0 flood_rate "$bin" probe --flood -p 40000 $net.2:83)
old_ns=$(cat "$work/ns_per_probe")
old_summary=$(grep "probes sent" "$work/flood.out" || true)
hpa_pps=$(flood_rate hping3 --flood -S -s 40000 -k -p 83 $net.2)
hpa_ns=$(cat "$work/ns_per_probe")
ans_ratio=$(python3 -c "print(f'{$ans_pps / max($hpa_pps, 1):.2f}')")
old_ratio=$(python3 -c "print(f'{$old_pps / max($hpa_pps, 1):.2f}')")
out_ratio=$(python3 -c "print(f'{$out_pps / max($hpa_pps, 1):.2f}')")
COUNTER=syns
flood_rows() {
  echo "| SYN flood, packets/s received by the peer ($SECS s, steady state) | $nt_pps | \`hping3 --flood -S\`: $hp_pps | ${flood_ratio}× |"
  echo "| SYN flood, the peer answering each SYN with a RST, packets/s received by the peer | $ans_pps | \`hping3 --flood -S\`: $hpa_pps (counts no answer) | ${ans_ratio}× |"
  echo "| the same, nettool's guard without its ingress drop (NETTOOL_INGRESS_DROP=0: A's kernel sees every answer) | $out_pps ($out_ns ns per probe) | same | ${out_ratio}× |"
  echo "| the same, nettool without its receive ring (NETTOOL_RX_RING=0) | $old_pps | same | ${old_ratio}× |"
  echo "| CPU time per probe, the peer dropping the SYNs (the tool's, with the kernel's work inside its system calls) | $nt_ns ns | $hp_ns ns | $(python3 -c "print(f'{$hp_ns / max($nt_ns, 1):.2f}')")× less |"
  echo "| CPU time per probe, the peer answering each SYN with a RST | $ans_ns ns | $hpa_ns ns | $(python3 -c "print(f'{$hpa_ns / max($ans_ns, 1):.2f}')")× less |"
}
flood_notes() {
  echo "nettool flood: $nt_summary"
  echo "nettool flood, answered: $ans_summary"
  echo "nettool flood, answered, no ring: $old_summary"
}
if [ "$ONLY" = flood ]; then
  echo "| what | nettool | reference | ratio |"
  echo "|---|---|---|---|"
  flood_rows
  echo
  flood_notes
  exit 0
fi

# --------------------------------------------------------- (2) RTT accuracy
ip netns exec "$b" python3 - "$work/ready-rtt" 8080 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(4096)
open(sys.argv[1], "w").close()
time.sleep(600)
PY
pids+=($!)
bench_ready "$work/ready-rtt"
ip netns exec "$a" tcpdump -U -i eth0 -nn -tt --time-stamp-precision nano -w "$work/rtt.pcap" 'tcp port 8080' 2>"$work/tcpdump.err" &
dump=$!
# tcpdump takes a while to start in a namespace: wait until it listens.
for _ in $(seq 100); do grep -q "listening on" "$work/tcpdump.err" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
A "$bin" probe -c "$N" --interval 20ms -v --json $net.2:8080 >"$work/rtt.json"
# tcpdump stops reading at SIGINT: give it time to write out what it has.
sleep 2
kill -INT "$dump"; wait "$dump" 2>/dev/null || true
A tcpdump -S -nn -tt --time-stamp-precision nano -r "$work/rtt.pcap" 2>/dev/null >"$work/rtt.txt"
rtt=$(python3 - "$work/rtt.json" "$work/rtt.txt" <<'PY'
import json, re, statistics, sys
events = [json.loads(l) for l in open(sys.argv[1])]
seq_of = {e["probe"]: e["seq"] for e in events if e["event"] == "probe"}
mine = {e["probe"]: e["rtt_us"] for e in events if e["event"] == "reply"}
syn_at, synack_at = {}, {}
for line in open(sys.argv[2]):
    t = float(line.split()[0])
    if "Flags [S]," in line:
        syn_at[int(re.search(r"seq (\d+)", line).group(1))] = t
    elif "Flags [S.]," in line:
        synack_at[(int(re.search(r"ack (\d+)", line).group(1)) - 1) % 2**32] = t
diffs, caps = [], []
for probe, r in mine.items():
    s = seq_of[probe]
    if s in syn_at and s in synack_at:
        cap = (synack_at[s] - syn_at[s]) * 1e6
        caps.append(cap)
        diffs.append(r - cap)
absd = sorted(abs(d) for d in diffs)
p90 = absd[int(0.9 * (len(absd) - 1))]
print(f"{len(diffs)} {statistics.median(caps):.1f} {statistics.median(mine.values()):.1f} "
      f"{statistics.median(diffs):+.1f} {p90:.1f} {max(absd):.1f}")
PY
)
read -r rtt_n rtt_cap rtt_nt rtt_med rtt_p90 rtt_max <<<"$rtt"

# -------------------------------------------------------- (3) 1-65535 scan
open_ports="22 80 443 8443 31337"
ip netns exec "$b" python3 - "$work/ready-scan" $open_ports <<'PY' &
import socket, sys, time
ss = []
for p in sys.argv[2:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(p))); s.listen(4096); ss.append(s)
open(sys.argv[1], "w").close()
time.sleep(600)
PY
pids+=($!)
bench_ready "$work/ready-scan"
B nft add table inet fw
B nft add chain inet fw in '{ type filter hook input priority 0; }'
B nft add rule inet fw in tcp dport '{ 82, 3000, 60000 }' drop
sleep 0.3
t0=$(date +%s.%N)
A "$bin" scan --json -I eth0 $net.2 1-65535 >"$work/scan.json"
t1=$(date +%s.%N)
A "$bin" scan --json --rate 100000 $net.2 1-65535 >"$work/scanfixed.json"
t2=$(date +%s.%N)
A nmap -sS -n -Pn -T4 -p 1-65535 -oG "$work/nmap.txt" $net.2 >/dev/null
t3=$(date +%s.%N)
scan=$(python3 - "$work/scan.json" "$work/scanfixed.json" "$work/nmap.txt" <<'PY'
import json, re, sys
def mine(path):
    r = {"open": set(), "filtered": set(), "closed": 0}
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
a, b = mine(sys.argv[1]), mine(sys.argv[2])
text = open(sys.argv[3]).read()
ports = re.findall(r"(\d+)/(open|filtered|closed)/tcp", text)
n = {"open": {int(p) for p, s in ports if s == "open"}, "filtered": {int(p) for p, s in ports if s == "filtered"}}
fmt = lambda s: ",".join(map(str, sorted(s)))
print(fmt(a["open"]), fmt(a["filtered"]), fmt(b["open"]), fmt(b["filtered"]), fmt(n["open"]), fmt(n["filtered"]),
      a["pace"].replace(" ", "_"))
PY
)
read -r s_open s_filt sf_open sf_filt n_open n_filt s_pace <<<"$scan"
s_pace=${s_pace//_/ }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

cat <<EOF
| what | nettool | reference | ratio |
|---|---|---|---|
$(flood_rows)
| RTT of a SYN, median over $rtt_n probes | nettool: $rtt_nt µs | capture (tcpdump, ns): $rtt_cap µs | error median $rtt_med µs, p90 \|err\| $rtt_p90 µs, max $rtt_max µs |
| SYN scan 1-65535, default (adaptive rate, $s_pace) | $(secs "$t0" "$t1") s: open $s_open, filtered $s_filt | \`nmap -sS -T4\`: $(secs "$t2" "$t3") s: open $n_open, filtered $n_filt | $(python3 -c "print(f'{($t3 - $t2) / ($t1 - $t0):.2f}')")× |
| SYN scan 1-65535, fixed --rate 100000 (the ceiling, no ramp) | $(secs "$t1" "$t2") s: open $sf_open, filtered $sf_filt | same | — |
EOF
echo
echo "truth: open ${open_ports// /,},8080 (the RTT listener); filtered 82,3000,60000 and 81 (the flood counter drops SYNs to it)"
flood_notes
