#!/usr/bin/env bash
# Benchmark: `nettool load` at scale, in a private pair of network
# namespaces (no frame leaves them), then a kernel-socket client trying
# the same from one source address, in the same run.
#
# B runs the sink: kernel listeners that never accept, their accept
# queues raised inside B's namespace (somaxconn, tcp_max_syn_backlog), so
# the kernel holds every connection established with one descriptor per
# listener. SINKS=1 is one listener with one large queue; SINKS=k is k
# processes sharing the port with SO_REUSEPORT, each with its own queue.
#
# A runs nettool from the addresses of --sources (10.231.1.0/24: nettool
# checks each free, then answers ARP for it), as many as N needs (64,512
# connections each), holding them HOLD with keepalives (KEEPALIVE s).
# Reported: time to establish all and connects/s (nettool's result), the
# largest count `ss -s` saw established in B, nettool's RSS per
# connection while held (its result: the growth from the first SYN to
# the hold, once the handshakes are over) and at the peak, its CPU (GNU
# time), the keepalive probes sent, answered and unanswered, the frames
# its receive ring dropped, the sink kernel's memory (/proc/net/sockstat
# in B).
#
# Then the kernel client (bench/load_kernel_client.py: epoll, stdlib),
# from A's own address: one process until it stops (the 20,000-file limit
# on this machine), then KPROCS processes together (each under the file
# limit) until connect() stops (ports: ip_local_port_range's 28,232 by
# default): where each stops, and why (errno).
#
#   sudo bench/load.sh                       # N=1000000, held 60 s, SINKS=1
#   sudo N=200000 HOLD=10s SINKS=4 bench/load.sh
#   sudo KERNEL_ONLY=1 bench/load.sh         # the kernel client alone
#   sudo NETTOOL_ONLY=1 bench/load.sh        # nettool alone
#   sudo FAMILY=6 N=200000 bench/load.sh     # over IPv6 (nettool alone)
#
# FAMILY=6: the same over IPv6: A fd00:6e75::1/64, B ::2 (IPv6 on in
# both, no DAD for their own addresses), the sink on [::]:9000, nettool's
# sources the first free addresses of --sources fd00:6e75::/64 (checked
# by duplicate address detection, then answered by nettool's NDP), as
# many as N needs. The kernel client is IPv4's only: FAMILY=6 runs nettool
# alone.
#
# Needs a release build (cargo build --release), iproute2, python3, GNU time.
# Not in CI: a million connections take a few GiB of the sink kernel's memory.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
FAMILY=${FAMILY:-4}
HOLD=${HOLD:-60s}
KEEPALIVE=${KEEPALIVE:-30}
SINKS=${SINKS:-1}
KPROCS=${KPROCS:-2}
EXTRA=${EXTRA:-}
BIN=${BIN:-target/release/nettool}
A=nt-ldA-$$
B=nt-ldB-$$
work=$(mktemp -d /tmp/nt-load-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# (Background jobs call `ip netns exec` directly, not these: `$!` of a
# function run in the background is a subshell's, and killing it would
# leave the program running.)
inA() { ip netns exec "$A" "$@"; }
inB() { ip netns exec "$B" "$@"; }
estab() { inB ss -s | sed -n 's/^TCP:.*estab \([0-9]*\),.*/\1/p'; }
sockmem() { inB sed -n 's/^TCP: .* mem \([0-9]*\).*/\1/p' /proc/net/sockstat; }
slab() { grep -E '^(TCP|TCPv6|tcp_bind_bucket|request_sock_TCP|request_sock_TCPv6) ' /proc/slabinfo 2>/dev/null |
    awk '{s += $3 * $4} END {printf "%d", s / 1048576}'; }

ip netns add "$A"
ip netns add "$B"
ip link add va$$ netns "$A" type veth peer name vb$$ netns "$B"
ip -n "$A" addr add 10.231.0.1/16 dev va$$
ip -n "$B" addr add 10.231.0.2/16 dev vb$$
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
if [ "$FAMILY" = 6 ]; then
    NETTOOL_ONLY=1
    for x in "$A va$$ fd00:6e75::1" "$B vb$$ fd00:6e75::2"; do
        set -- $x
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.accept_dad=0" "net.ipv6.conf.$2.disable_ipv6=0"
        ip -n "$1" addr add "$3/64" dev "$2" nodad
    done
    TARGET="[fd00:6e75::2]:9000"
    SOURCES=fd00:6e75::/64
    BIND="::"
    AF=AF_INET6
else
    TARGET=10.231.0.2:9000
    SOURCES=10.231.1.0/24
    BIND=0.0.0.0
    AF=AF_INET
fi
ip -n "$A" link set va$$ up
ip -n "$B" link set vb$$ up
# Room for N, and for the kernel client's after them: a queue nobody
# accepts from keeps a connection reset by its client until accepted.
backlog=$((N + N / 4 + 100000))
inB sh -c "echo $backlog > /proc/sys/net/core/somaxconn;
    echo $backlog > /proc/sys/net/ipv4/tcp_max_syn_backlog"

# The sink: SINKS listeners on port 9000 that never accept.
cat >"$work/sink.py" <<'PY'
import socket, sys, time
backlog, reuse = int(sys.argv[1]), sys.argv[2] == "1"
s = socket.socket(getattr(socket, sys.argv[4]))
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if reuse:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind((sys.argv[3], 9000))
s.listen(backlog)
print("ready", flush=True)
time.sleep(86400)
PY
reuse=0
[ "$SINKS" -gt 1 ] && reuse=1
for _ in $(seq "$SINKS"); do
    ip netns exec "$B" python3 "$work/sink.py" "$((backlog / SINKS + 1024))" "$reuse" "$BIND" "$AF" >"$work/sink.out" &
    pids+=($!)
done
sleep 1
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "sink: $SINKS listener(s)$([ "$reuse" = 1 ] && echo ' sharing port 9000 (SO_REUSEPORT)'), somaxconn and tcp_max_syn_backlog $backlog in B"
slab0=$(slab)

if [ -z "${KERNEL_ONLY:-}" ]; then
    echo
    echo "== nettool load: $N connections to $TARGET from --sources $SOURCES, held $HOLD, keepalive every ${KEEPALIVE}s"
    ip netns exec "$A" /usr/bin/time -o "$work/time.txt" -f "%M %U %S %e" \
        env NETTOOL_ARP_CACHE="$work/arp.cache" \
        "$BIN" load "$TARGET" -c "$N" --sources "$SOURCES" \
        --hold "$HOLD" --keepalive "$KEEPALIVE" --json $EXTRA \
        >"$work/load.json" 2>"$work/load.err" &
    run=$!
    pids+=($run)
    most=0
    mem_most=0
    while kill -0 "$run" 2>/dev/null; do
        sleep 2
        e=$(estab || echo 0)
        m=$(sockmem || echo 0)
        [ "${e:-0}" -gt "$most" ] && most=$e
        [ "${m:-0}" -gt "$mem_most" ] && mem_most=$m
        printf '  ss -s in B: %s established\n' "${e:-?}"
        [ "${e:-0}" -gt 0 ] && slab_held=$(slab)
    done
    wait "$run" || echo "nettool exit $?"
    grep -v '^ ' "$work/load.err" || true
    read -r rss user sys wall <"$work/time.txt"
    python3 - "$work/load.json" "$rss" "$user" "$sys" "$wall" "$most" "$mem_most" \
        "${slab_held:-0}" "$slab0" <<'PY'
import json, sys
path, rss, user, sys_, wall, most, mem, slab, slab0 = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.strip()]
r = lines[-1]
est = r.get("ever_established", 0)
open_s = r.get("open_us", 0) / 1e6
rss = int(rss) * 1024
print(f"established: {est} of {r.get('connections')} in {open_s:.2f} s, "
      f"{r.get('connects_per_s', 0):.0f} connects/s; SYN retransmits {r.get('syn_retransmits')}, "
      f"refused {r.get('refused')}, timed out {r.get('timed_out')}, reset {r.get('reset')}")
print(f"connect time: p50 {r.get('connect_p50_us', 0)/1000:.1f} ms, p99 "
      f"{r.get('connect_p99_us', 0)/1000:.1f} ms, max {r.get('connect_max_us', 0)/1000:.1f} ms")
print(f"held: {most} established in B at most (ss -s); keepalive probes {r.get('held_segments_sent')}, "
      f"answers read {r.get('held_segments_received')}, unanswered at the end "
      f"{r.get('keepalives_unanswered')}; frames dropped from nettool's ring {r.get('rx_dropped')}")
held, base = r.get("rss_held_bytes"), r.get("rss_base_bytes")
if held and base:
    n = est
    print(f"nettool memory while held (RSS, handshakes over): {held / 2**20:.0f} MiB, "
          f"{r.get('held_bytes_per_connection')} bytes per connection over the "
          f"{base / 2**20:.0f} MiB at the start ({held / max(n, 1):.0f} bytes per connection "
          f"all included)")
if est:
    print(f"nettool: peak RSS {rss / 2**20:.0f} MiB, {rss / est:.0f} bytes per connection; "
          f"CPU {float(user):.1f} s user + {float(sys_):.1f} s system over {float(wall):.1f} s "
          f"(system time includes the sink kernel's work, done in nettool's sends over veth)")
print(f"sink kernel: TCP socket buffers {int(mem) * 4096 / 2**20:.0f} MiB at most "
      f"(/proc/net/sockstat); TCP slabs {int(slab) - int(slab0)} MiB more while held")
PY
fi

[ -n "${NETTOOL_ONLY:-}" ] && exit 0
echo
echo "== kernel client (epoll, one source address 10.231.0.1): one process, then $KPROCS together"
cat /proc/sys/net/ipv4/ip_local_port_range | awk '{printf "  ip_local_port_range %s-%s: %d ports; ", $1, $2, $2 - $1 + 1}'
echo "open files: $(ulimit -Sn) soft, $(ulimit -Hn) hard"
# Make room in the sink first: nettool's connections were reset.
inA python3 bench/load_kernel_client.py 10.231.0.2 9000 "$N" 3 | sed 's/^/  one process: /'
files=$(ulimit -Hn)
each=$(((files - 64)))
# Each holds what it opened until all have said how far they got.
clients=()
for i in $(seq "$KPROCS"); do
    : >"$work/k.$i"
    ip netns exec "$A" python3 bench/load_kernel_client.py 10.231.0.2 9000 "$each" 3600 >"$work/k.$i" &
    clients+=($!)
    pids+=($!)
done
for i in $(seq "$KPROCS"); do
    while [ ! -s "$work/k.$i" ]; do sleep 1; done
done
kill "${clients[@]}" 2>/dev/null || true
wait "${clients[@]}" 2>/dev/null || true
for i in $(seq "$KPROCS"); do sed "s/^/  process $i of $KPROCS: /" "$work/k.$i"; done
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
