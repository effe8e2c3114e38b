#!/usr/bin/env bash
# Benchmark: nettool's UDP and ICMP tools against nmap, ping and openbsd
# nc, side by side in one run, in a private pair of network namespaces (no
# frame leaves them), B's kernel with its default ICMP rate limits.
#
#   sudo bench/udp.sh              # PORTS=1-100, N=200 pings, NC_MB=20
#
# (1) UDP scan of PORTS: `nettool scan --udp` and `nmap -sU -n -Pn`
#     against B (an echo service on 7/udp, 9/udp dropped and 17/udp
#     rejected as administratively prohibited by nftables, the rest
#     closed), each after a 12 s pause that refills B's ICMP bucket; time
#     and whether each agrees with the truth.
# (2) RTT: `nettool probe --icmp` and iputils `ping`, N echo requests 5 ms
#     apart with 56 bytes of data: the min/avg/max/stddev each reports.
# (3) nc -u: NC_MB MB of stdin (a file) to a B socket that never reads; the
#     datagrams that reached B's UDP (its /proc/net/snmp counters) and the
#     time each tool took. openbsd nc sends each read of 16 KiB as one
#     datagram, which the kernel cuts into 12 fragments; nettool cuts at
#     the MTU (1472 bytes) by default, and with --max-datagram 16384 sends
#     the same 16 KiB datagrams as openbsd nc, fragmented by nettool: that
#     row is the like-for-like comparison. NC_ROUNDS=N repeats the three
#     N times (the machine's noise); each row says the wall time and the
#     CPU time in user space and in the kernel (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

PORTS=${PORTS:-1-100}
N=${N:-200}
NC_MB=${NC_MB:-20}
bench_init udp.sh iproute2 nftables nmap iputils-ping netcat-openbsd python3 time
net=10.207.0
bench_pair ntu
bench_v4 $net
export NETTOOL_ARP_CACHE="$work/arp.json"

# Started without the B wrapper, so that $! is python3 itself (cleanup kills it).
ip netns exec "$b" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7))
open('$work/echo.ready', 'w').close()
while True:
    d, a = s.recvfrom(65535); s.sendto(d, a)" &
pids+=($!)
bench_ready "$work/echo.ready"
B nft -f - <<EOF
table inet udpbench {
  chain in {
    type filter hook input priority 0;
    udp dport 9 drop
    udp dport 17 reject with icmp type admin-prohibited
  }
}
EOF

# The truth for PORTS: "port state" lines, nmap's words.
truth() {
  python3 - "$PORTS" <<'PY'
import sys
lo, hi = (int(x) for x in sys.argv[1].split('-'))
for p in range(lo, hi + 1):
    print(p, {7: 'open', 9: 'open|filtered', 17: 'filtered'}.get(p, 'closed'))
PY
}
truth > "$work/truth"

echo "| run | time | agrees with the host |"
echo "|---|---|---|"
sleep 12
t0=$(date +%s.%N)
A "$bin" scan --udp --json $net.2 "$PORTS" > "$work/nettool.json"
t1=$(date +%s.%N)
python3 - "$work/nettool.json" > "$work/nettool.states" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    v = json.loads(line)
    if v.get("event") == "port":
        print(v["port"], v["outcome"])
PY
ok=$(cmp -s "$work/truth" "$work/nettool.states" && echo yes || echo NO)
# (A disagreement is reported, not fatal: diff's status would end the run.)
[ "$ok" = yes ] || diff "$work/truth" "$work/nettool.states" | grep '^>' | sed 's/^> /  nettool said: /' >&2 || true
printf '| nettool scan --udp %s | %.1f s | %s |\n' "$PORTS" "$(echo "$t1 - $t0" | python3 -c 'print(eval(input()))')" "$ok"
sleep 12
t0=$(date +%s.%N)
A nmap -n -Pn -sU -p"$PORTS" -oG "$work/nmap.txt" $net.2 > /dev/null
t1=$(date +%s.%N)
python3 - "$work/nmap.txt" "$PORTS" > "$work/nmap.states" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
lo, hi = (int(x) for x in sys.argv[2].split('-'))
states = {}
m = re.search(r"Ports: (.*?)(\t|$)", text, re.M)
for item in (m.group(1).split(", ") if m else []):
    port, state = item.split("/")[:2]
    states[int(port)] = state
rest = re.search(r"Ignored State: (\S+) \(", text)
for p in range(lo, hi + 1):
    print(p, states.get(p, rest.group(1) if rest else "?"))
PY
ok=$(cmp -s "$work/truth" "$work/nmap.states" && echo yes || echo NO)
[ "$ok" = yes ] || diff "$work/truth" "$work/nmap.states" | grep '^>' | sed 's/^> /  nmap said: /' >&2 || true
printf '| nmap -sU -p%s | %.1f s | %s |\n' "$PORTS" "$(echo "$t1 - $t0" | python3 -c 'print(eval(input()))')" "$ok"

echo
echo "| RTT, $N echo requests 5 ms apart | min/avg/max/stddev (ms) |"
echo "|---|---|"
nt=$(A "$bin" probe --icmp -c "$N" --interval 5ms --data-len 56 $net.2 | grep '^rtt' | cut -d' ' -f4)
pg=$(A ping -q -c "$N" -i 0.005 -s 56 $net.2 | grep '^rtt' | cut -d' ' -f4)
echo "| nettool probe --icmp | $nt |"
echo "| ping (iputils) | $pg |"

echo
echo "| nc -u, $NC_MB MB of stdin, round | datagram size | time | CPU user + system | datagrams that reached B | datagrams/s |"
echo "|---|---|---|---|---|---|"
ip netns exec "$b" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9200))
open('$work/sink.ready', 'w').close()
time.sleep(600)" &
pids+=($!)
# Bound before the first datagram: a fixed 0.5 s was not always enough,
# and nettool then met a closed port.
bench_ready "$work/sink.ready"
head -c $((NC_MB * 1000000)) /dev/urandom > "$work/data"
udp_in() { B awk '/^Udp:/{getline; print $2 + $4}' /proc/net/snmp; }
# /usr/bin/time's figures: wall clock, then CPU in user space and in the
# kernel (the peer's receive path runs in the sender's system time too).
timed() { /usr/bin/time -f "%e %U %S" -o "$work/time" "$@"; }
for round in $(seq "${NC_ROUNDS:-1}"); do
for tool in nettool nettool-16k openbsd; do
  before=$(udp_in)
  case $tool in
    nettool) size=1472; timed ip netns exec "$a" "$bin" nc -u --quit-after 0s $net.2 9200 < "$work/data" ;;
    nettool-16k) size=16384; timed ip netns exec "$a" "$bin" nc -u --max-datagram 16384 --quit-after 0s $net.2 9200 < "$work/data" ;;
    openbsd) size=16384; timed ip netns exec "$a" nc -u -q 0 $net.2 9200 < "$work/data" ;;
  esac
  read -r secs user sys < <(tail -1 "$work/time")
  sleep 0.3
  after=$(udp_in)
  got=$((after - before))
  printf '| %s, %d | %d | %.2f s | %.2f + %.2f s | %d | %.0f |\n' "$tool" "$round" "$size" "$secs" "$user" "$sys" "$got" "$(python3 -c "print($got / $secs)")"
done
done
