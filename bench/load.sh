#!/usr/bin/env bash
# Benchmark: `nettool load` from one source address, in a private pair of
# network namespaces (no frame leaves them). B runs a kernel listener that
# never accepts, its accept queue raised inside B's namespace (as the
# lab's sink does), so the kernel holds every connection with one
# descriptor. Prints nettool's output, its peak RSS, and what `ss` in B
# counted while nettool held.
#
#   sudo bench/load.sh                      # N=64000 from A's address
#   sudo N=30000 EXTRA="-s 10.231.0.9" bench/load.sh   # from an address nettool answers ARP for
#   sudo EXTRA="--rate 20000/s" bench/load.sh
#
# Needs a release build (cargo build --release), iproute2, python3, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-64000}
HOLD=${HOLD:-3s}
EXTRA=${EXTRA:-}
BIN=${BIN:-target/release/nettool}
A=nt-ldA-$$
B=nt-ldB-$$
SINK=
cleanup() {
    [ -n "$SINK" ] && kill "$SINK" 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$A"
ip netns add "$B"
ip link add va$$ netns "$A" type veth peer name vb$$ netns "$B"
ip -n "$A" addr add 10.231.0.1/24 dev va$$
ip -n "$B" addr add 10.231.0.2/24 dev vb$$
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set va$$ up
ip -n "$B" link set vb$$ up
ip netns exec "$B" sh -c 'echo 1000000 > /proc/sys/net/core/somaxconn;
    echo 1000000 > /proc/sys/net/ipv4/tcp_max_syn_backlog'
ip netns exec "$B" python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 9000))
s.listen(1000000)
time.sleep(3600)' &
SINK=$!
sleep 1
ip netns exec "$A" /usr/bin/time -f "nettool peak RSS: %M KiB" \
    env NETTOOL_ARP_CACHE="/tmp/nt-load-bench-$$.cache" \
    "$BIN" load 10.231.0.2:9000 -c "$N" --hold "$HOLD" $EXTRA &
RUN=$!
# Counted while nettool holds (it opens 64,000 in about a second).
sleep 2
echo "ss in B while held: $(ip netns exec "$B" ss -Htn state established | wc -l) established"
wait "$RUN" || echo "nettool exit $?"
echo "ss in B after the reset: $(ip netns exec "$B" ss -Htn state connected | wc -l) connected"
rm -f "/tmp/nt-load-bench-$$.cache"
