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
#     row is the like-for-like comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/udp.sh needs root (namespaces, raw sockets)" >&2; exit 2; }
PORTS=${PORTS:-1-100}
N=${N:-200}
NC_MB=${NC_MB:-20}
need=()
for p in iproute2 nftables nmap iputils-ping netcat-openbsd python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --release --quiet
bin="$PWD/target/release/nettool"
a="ntu-$$-a"; b="ntu-$$-b"; net=10.207.0
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$a"; ip netns add "$b"
ip link add eth0 netns "$a" type veth peer name eth0 netns "$b"
for ns in "$a" "$b"; do
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip -n "$a" addr add $net.1/24 dev eth0
ip -n "$b" addr add $net.2/24 dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
export NETTOOL_ARP_CACHE="$work/arp.json"
A() { ip netns exec "$a" "$@"; }
B() { ip netns exec "$b" "$@"; }

# Started without the B wrapper, so that $! is python3 itself (cleanup kills it).
ip netns exec "$b" python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7))
open('$work/echo.ready', 'w').close()
while True:
    d, a = s.recvfrom(65535); s.sendto(d, a)" &
pids+=($!)
for _ in $(seq 200); do [ -e "$work/echo.ready" ] && break; sleep 0.05; done
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
[ "$ok" = yes ] || diff "$work/truth" "$work/nettool.states" | grep '^>' | sed 's/^> /  nettool said: /' >&2
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
[ "$ok" = yes ] || diff "$work/truth" "$work/nmap.states" | grep '^>' | sed 's/^> /  nmap said: /' >&2
printf '| nmap -sU -p%s | %.1f s | %s |\n' "$PORTS" "$(echo "$t1 - $t0" | python3 -c 'print(eval(input()))')" "$ok"

echo
echo "| RTT, $N echo requests 5 ms apart | min/avg/max/stddev (ms) |"
echo "|---|---|"
nt=$(A "$bin" probe --icmp -c "$N" --interval 5ms --data-len 56 $net.2 | grep '^rtt' | cut -d' ' -f4)
pg=$(A ping -q -c "$N" -i 0.005 -s 56 $net.2 | grep '^rtt' | cut -d' ' -f4)
echo "| nettool probe --icmp | $nt |"
echo "| ping (iputils) | $pg |"

echo
echo "| nc -u, $NC_MB MB of stdin | datagram size | time | datagrams that reached B | datagrams/s |"
echo "|---|---|---|---|---|"
ip netns exec "$b" python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9200))
time.sleep(600)" &
pids+=($!)
sleep 0.5
head -c $((NC_MB * 1000000)) /dev/urandom > "$work/data"
udp_in() { B awk '/^Udp:/{getline; print $2 + $4}' /proc/net/snmp; }
for tool in nettool nettool-16k openbsd; do
  before=$(udp_in)
  t0=$(date +%s.%N)
  case $tool in
    nettool) size=1472; A "$bin" nc -u --quit-after 0s $net.2 9200 < "$work/data" ;;
    nettool-16k) size=16384; A "$bin" nc -u --max-datagram 16384 --quit-after 0s $net.2 9200 < "$work/data" ;;
    openbsd) size=16384; A nc -u -q 0 $net.2 9200 < "$work/data" ;;
  esac
  t1=$(date +%s.%N)
  sleep 0.3
  after=$(udp_in)
  secs=$(echo "$t1 - $t0" | python3 -c 'print(eval(input()))')
  got=$((after - before))
  printf '| %s | %d | %.3f s | %d | %.0f |\n' "$tool" "$size" "$secs" "$got" "$(python3 -c "print($got / $secs)")"
done
