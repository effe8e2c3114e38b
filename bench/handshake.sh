#!/usr/bin/env bash
# Benchmark: nettool handshake against the kernel's connect() and hping3,
# side by side in one run, in a private pair of network namespaces (no
# frame leaves them). A kernel listener (python3) serves port 8080 in B.
#
#   sudo bench/handshake.sh          # prints a markdown table; N=50 by default
#   sudo N=100 RUNS=200 bench/handshake.sh
#
# Two kinds of numbers, labelled as such:
#   (a) whole-process wall time, with hyperfine:
#         nettool handshake --linger 0 ADDR:PORT        (source owned by the kernel: RST guard)
#         nettool handshake --linger 0 -s UNOWNED ...   (no guard: nettool answers ARP)
#         nc -z ADDR PORT                               (kernel connect(), then close)
#         hping3 -S -c 1 -p PORT ADDR
#       and, to explain nettool's figure, timed in python3: the RST
#       guard's netlink transaction (tests/fixtures/nft-guard-batch.hex,
#       the very bytes nettool sends: a table owned by the socket, its
#       output-hook chain and rule) and the close() of that socket, which
#       deletes the table; and the close() of an AF_PACKET socket. Both
#       closes wait for an RCU grace period; nettool overlaps the two.
#   (b) the round trip each tool measures itself, over N handshakes,
#       median and p90: nettool's SYN→SYN-ACK (--json: the `result`'s `rtt_us`), the
#       duration of connect() in a python3 loop (no process start-up), and
#       hping3's `rtt=` (printed in 0.1 ms steps).
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

N=${N:-50}
RUNS=${RUNS:-100}
bench_init handshake.sh iproute2 netcat-openbsd hping3 hyperfine python3
net=10.205.0; port=8080
unowned=$net.77
bench_pair ntb
bench_v4 $net
# B reaches the unowned source through A's MAC without asking ARP, so the
# unguarded runs differ from the guarded ones only by the guard.
mac_a=$(ip netns exec "$a" cat /sys/class/net/eth0/address)
ip -n "$b" neigh replace "$unowned" lladdr "$mac_a" dev eth0 nud permanent

# The kernel listener: accepts, reads until EOF or reset, closes.
cat >"$work/listen.py" <<'PY'
import selectors, socket, sys
sel = selectors.DefaultSelector()
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("0.0.0.0", int(sys.argv[1])))
lst.listen(4096)
lst.setblocking(False)
sel.register(lst, selectors.EVENT_READ)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is lst:
            try:
                c, _ = lst.accept()
            except OSError:
                continue
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
            continue
        try:
            data = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
PY
ip netns exec "$b" python3 "$work/listen.py" $port >"$work/listen.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/listen.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/listen.out" || { echo "the listener did not start" >&2; exit 2; }

export NETTOOL_ARP_CACHE="$work/cache.json"
hf() { A hyperfine --style none --shell=none "$@"; }
# Fill nettool's ARP cache (the kernel's fills on the first nc/hping3 run).
A "$bin" handshake --linger 0 $net.2:$port >/dev/null
A "$bin" handshake --linger 0 -s $unowned $net.2:$port >/dev/null

# (a) whole processes
hf --warmup 5 --runs "$RUNS" --export-json "$work/whole.json" \
  -n "nettool" "$bin handshake --linger 0 $net.2:$port" \
  -n "nettool -s" "$bin handshake --linger 0 -s $unowned $net.2:$port" \
  -n "nc -z" "nc -z -w 2 $net.2 $port" \
  -n "hping3" "hping3 -S -c 1 -p $port $net.2" >/dev/null

# (b) round trips measured by each tool
for _ in $(seq "$N"); do
  A "$bin" handshake --linger 0 --json $net.2:$port | grep '"event":"result"'
done >"$work/nettool.jsonl"
for _ in $(seq "$N"); do
  A "$bin" handshake --linger 0 --json -s $unowned $net.2:$port | grep '"event":"result"'
done >"$work/nettool-s.jsonl"
A python3 - "$net.2" "$port" "$N" >"$work/connect.txt" <<'PY'
import socket, struct, sys, time
addr, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n + 5):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    t = time.perf_counter_ns()
    s.connect((addr, port))
    d = time.perf_counter_ns() - t
    s.close()  # with SO_LINGER 0: a RST, as nettool --linger 0 ends
    if i >= 5:
        print(d / 1e6)
    time.sleep(0.01)
PY
# close() of an AF_PACKET socket bound to eth0 for all protocols, as
# nettool's link is (packet_release() waits for an RCU grace period).
A python3 - "$N" >"$work/afpacket.txt" <<'PY'
import socket, sys, time
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind(("eth0", 0))
    t = time.perf_counter_ns()
    s.close()
    print((time.perf_counter_ns() - t) / 1e6)
    time.sleep(0.02)  # not back to back: each close would wait a whole grace period
PY
# The guard's transaction and the close() of its socket, as nettool
# does them (src/guard.rs, src/nft): the fixture's bytes, acknowledged.
A python3 - "$PWD/tests/fixtures/nft-guard-batch.hex" "$N" >"$work/guard.txt" <<'PY'
import socket, struct, sys, time
raw = bytes.fromhex(open(sys.argv[1]).read().replace("\n", " ").replace(" ", ""))
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12)  # NETLINK_NETFILTER
    t = time.perf_counter_ns()
    s.sendto(raw, (0, 0))
    acks = 0
    while acks < 3:  # table, chain, rule
        data, off = s.recv(65536), 0
        while off < len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if kind == 2:  # NLMSG_ERROR: 0 is an acknowledgement
                err = struct.unpack_from("=i", data, off + 16)[0]
                if err:
                    sys.exit(f"the kernel refused the guard: errno {-err}")
                acks += 1
            off += (length + 3) & ~3
    t1 = time.perf_counter_ns()
    s.close()  # the kernel deletes the table it owns
    print((t1 - t) / 1e6, (time.perf_counter_ns() - t1) / 1e6)
    time.sleep(0.02)
PY
A hping3 -S -c "$N" -i u20000 -p $port $net.2 2>/dev/null | sed -n 's/.*rtt=\([0-9.]*\) ms.*/\1/p' >"$work/hping3.txt"

python3 - "$work" "$N" <<'PY'
import json, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
res = {r["command"]: r for r in json.load(open(f"{work}/whole.json"))["results"]}
ms = lambda r: r["mean"] * 1000
sd = lambda r: r["stddev"] * 1000
def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
def rtts(name):
    # The result's rtt_us is the SYN → SYN-ACK round trip; in ms, as the others.
    return [json.loads(l)["rtt_us"] / 1000 for l in open(f"{work}/{name}.jsonl") if l.strip()]
nt, nts = rtts("nettool"), rtts("nettool-s")
kc = [float(l) for l in open(f"{work}/connect.txt") if l.strip()]
hp = [float(l) for l in open(f"{work}/hping3.txt") if l.strip()]
g, u, nc, hp3 = res["nettool"], res["nettool -s"], res["nc -z"], res["hping3"]
afp = [float(l) for l in open(f"{work}/afpacket.txt") if l.strip()]
gi = [float(l.split()[0]) for l in open(f"{work}/guard.txt") if l.strip()]
gc = [float(l.split()[1]) for l in open(f"{work}/guard.txt") if l.strip()]
cell = lambda r: f"{ms(r):.2f} ± {sd(r):.2f} ms"
us = lambda xs: f"{statistics.median(xs)*1000:.0f} / {q(xs, 0.9)*1000:.0f} µs"
print("(a) whole process, wall time (hyperfine in namespace A, mean ± σ)\n")
print("| what | nettool | reference | ratio (reference / nettool) |")
print("|---|---|---|---|")
print(f"| handshake, source owned by the kernel (RST guard) | {cell(g)} | `nc -z` (kernel connect()): {cell(nc)} | {ms(nc)/ms(g):.2f}× |")
print(f"| same | {cell(g)} | `hping3 -S -c 1`: {cell(hp3)} | {ms(hp3)/ms(g):.2f}× |")
print(f"| handshake `-s` unowned address (no guard) | {cell(u)} | `nc -z`: {cell(nc)} | {ms(nc)/ms(u):.2f}× |")
print(f"| same | {cell(u)} | `hping3 -S -c 1`: {cell(hp3)} | {ms(hp3)/ms(u):.2f}× |")
print(f"\nWhere nettool's time goes: the RST guard costs {ms(g)-ms(u):.2f} ms "
      f"(guarded − unguarded mean). Its transaction takes median "
      f"{statistics.median(gi):.3f} ms, p90 {q(gi, 0.9):.3f} ms; the close() of its socket, "
      f"which deletes the table after an RCU grace period, median {statistics.median(gc):.2f} ms, "
      f"p90 {q(gc, 0.9):.2f} ms, overlapped by nettool with the close() of its AF_PACKET "
      f"socket: median {statistics.median(afp):.2f} ms, p90 {q(afp, 0.9):.2f} ms (n={len(afp)}).")
print(f"\n(b) round trip as each tool measures it, {n} handshakes, median / p90\n")
print("| what | nettool | reference | ratio (reference / nettool) |")
print("|---|---|---|---|")
print(f"| SYN → SYN-ACK, guarded | {us(nt)} (n={len(nt)}) | connect() in python3: {us(kc)} (n={len(kc)}) | {statistics.median(kc)/statistics.median(nt):.2f}× |")
print(f"| same | {us(nt)} | hping3 `rtt=` (0.1 ms steps): {us(hp)} (n={len(hp)}) | {statistics.median(hp)/statistics.median(nt):.2f}× |")
print(f"| SYN → SYN-ACK, `-s` unowned | {us(nts)} (n={len(nts)}) | connect() in python3: {us(kc)} | {statistics.median(kc)/statistics.median(nts):.2f}× |")
PY
