#!/usr/bin/env bash
# Benchmark: nettool's TCP engine against the Linux kernel's (CUBIC)
# through a lossy, delayed wire. Three private namespaces, A ── M ── B,
# with nettool's seeded relay (`nettool impair`) bridging them in M, as in
# tests/nc_faults.rs; offloads off at both ends and in M, so every frame
# is one segment and the relay's loss applies per segment.
#
# For each wire (loss both ways, delay each way), SIZE bytes move in both
# directions, nettool and the kernel alternating, N runs each, same relay
# seed every time (the relay restarts for each transfer):
#   send: nettool nc → kernel `nc -l`   against   kernel → kernel `nc -l`
#   recv: kernel → `nettool nc -l`      against   kernel → kernel `nc -l`
# The kernel sender is a python3 sendfile() loop with CUBIC set on its
# socket (KERNEL_CC), whatever the system's default.
# Each transfer is checked: the receiver counted SIZE bytes, and the relay
# dropped frames (its counters) whenever the wire has loss. Prints one
# table: wire, kernel s, nettool s (medians), ratio nettool / kernel.
#
#   sudo bench/loss.sh                       # SIZE=64M N=3
#   SIZE=8M N=1 sudo bench/loss.sh           # a quick look
#   WIRES="0.5%:5ms 1%:25ms" sudo bench/loss.sh
#   COUNTERS=1 sudo bench/loss.sh            # and what the kernel sender saw
#
# COUNTERS=1 adds, after each transfer the kernel sends, the changes of
# its namespace's TCP counters (`nstat`): RTOs, loss probes, fast
# retransmits, D-SACKs received and those it ignored as dubious, undos,
# reordering seen. How a kernel sender fares against nettool's ACKs
# against a kernel receiver's shows there first.
#
# Traffic goes only between the namespaces the script creates; they are
# removed on exit, on error and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/loss.sh needs root (namespaces, raw sockets)" >&2; exit 2; }
need=()
for p in iproute2 netcat-openbsd ethtool python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

SIZE=${SIZE:-64M}
N=${N:-3}
SEED=${SEED:-42}
# A transfer that takes longer than this is killed and reported as such.
LIMIT=${LIMIT:-600}
# The kernel sender's congestion control, set on its socket
# (TCP_CONGESTION): the namespaces' default may be another (BBR here), and
# the sysctl may not be writable.
KERNEL_CC=${KERNEL_CC:-cubic}
WIRES=${WIRES:-"0%:5ms 0.5%:5ms 1%:5ms 2%:5ms 1%:25ms"}
# More faults for the relay on every wire, e.g. tests/nc_faults.rs's mix:
# FAULTS="--dup 2% --reorder 5% --corrupt 1%" WIRES=2%:0ms SIZE=32M
FAULTS=${FAULTS:-}
COUNTERS=${COUNTERS:-0}
bytes=$(numfmt --from=iec "$SIZE")
cargo build --release --quiet
bin="$PWD/target/release/nettool"

a="ntl-$$-a"; m="ntl-$$-m"; b="ntl-$$-b"
work=$(mktemp -d)
file=""
relay=""
stop_relay() {
  if [ -n "$relay" ]; then
    kill -TERM "$relay" 2>/dev/null || true
    wait "$relay" 2>/dev/null || true
    relay=""
  fi
}
cleanup() {
  trap - EXIT INT TERM
  stop_relay
  # Anything still running inside the namespaces (a killed transfer).
  for sig in TERM KILL; do
    for ns in "$a" "$b" "$m"; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] || kill -"$sig" $pids 2>/dev/null || true
    done
    [ "$sig" = KILL ] || sleep 0.3
  done
  for ns in "$a" "$b" "$m"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
  [ -z "$file" ] || rm -f "$file"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

for ns in "$a" "$m" "$b"; do
  ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip link add eth0 netns "$a" type veth peer name left netns "$m"
ip link add eth0 netns "$b" type veth peer name right netns "$m"
ip -n "$a" addr add 10.209.0.1/24 dev eth0
ip -n "$b" addr add 10.209.0.2/24 dev eth0
for ns in "$a" "$b"; do
  ip netns exec "$ns" ethtool -K eth0 tx off rx off tso off gso off gro off >/dev/null 2>&1
  ip -n "$ns" link set eth0 mtu 1500 up
done
ip -n "$m" link set left up
ip -n "$m" link set right up
export NETTOOL_ARP_CACHE="$work/cache.json"

# The kernel sender: connect, KERNEL_CC on the socket, sendfile the whole
# file, half-close, wait for the receiver to close (as `nc -N` does).
cat >"$work/send.py" <<'PY'
import os, socket, sys
host, port, path, cc = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
s.connect((host, port))
with open(path, "rb") as f:
    size, off = os.fstat(f.fileno()).st_size, 0
    while off < size:
        off += os.sendfile(s.fileno(), f.fileno(), off, size - off)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
PY

# The relay for one transfer, fresh counters and the same seed each time.
start_relay() {
  local loss=$1 delay=$2
  rm -f "$work/stats.json"
  ip netns exec "$m" "$bin" impair --left left --right right --seed "$SEED" \
    --loss "$loss" --delay "$delay" $FAULTS --stats "$work/stats.json" >/dev/null 2>"$work/relay.err" &
  relay=$!
  for _ in $(seq 200); do
    [ -s "$work/stats.json" ] && return 0
    kill -0 "$relay" 2>/dev/null || break
    sleep 0.05
  done
  echo "the relay did not start:" >&2; cat "$work/relay.err" >&2; exit 1
}

# Frames the relay dropped, both directions (from its final stats file).
dropped() {
  python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["left_to_right"]["dropped"]+s["right_to_left"]["dropped"])' "$work/stats.json"
}

# Waits until something listens on TCP port $2 in namespace $1 (kernel nc).
wait_listen() {
  for _ in $(seq 200); do
    ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
    sleep 0.02
  done
  echo "nothing listens on port $2 in $1" >&2; exit 1
}

# Waits until nettool's listener said so on its stderr ($1).
wait_nettool_listen() {
  for _ in $(seq 500); do
    grep -q "listening on" "$1" 2>/dev/null && return 0
    sleep 0.02
  done
  echo "nettool nc -l did not start:" >&2; cat "$1" >&2; exit 1
}

# The kernel sender's counters over one transfer ($1 names it), on stderr.
counters() {
  python3 - "$1" "$work/nstat.before" "$work/nstat.after" <<'PY' >&2
import sys
def load(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 2 and f[1].isdigit():
            out[f[0]] = int(f[1])
    return out
before, after = load(sys.argv[2]), load(sys.argv[3])
names = ["TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtTCPFastRetrans",
         "TcpRetransSegs", "TcpExtTCPDSACKRecv", "TcpExtTCPDSACKOfoRecv",
         "TcpExtTCPDSACKIgnoredDubious", "TcpExtTCPDSACKUndo",
         "TcpExtTCPSACKReorder", "TcpExtTCPSpuriousRTOs", "TcpInSegs"]
delta = " ".join(f"{n.removeprefix('TcpExt').removeprefix('Tcp')} {after.get(n, 0) - before.get(n, 0)}" for n in names)
print(f"  {sys.argv[1]} sender: {delta}")
PY
}

port=6000
# One transfer. $1 = engine pair (nettool-send, kernel-send, nettool-recv,
# kernel-recv), $2 = loss, $3 = delay. Sets `result` to "seconds dropped",
# or exits. (Not run in $(...): its background jobs would hold the pipe.)
transfer() {
  local what=$1 loss=$2 delay=$3 rx tx t0 t1 got tx_cmd tx_ns
  port=$((port + 1))
  start_relay "$loss" "$delay"
  : >"$work/rx.err"
  case $what in
    nettool-send | kernel-send)
      ip netns exec "$b" sh -c "nc -l $port | wc -c > $work/count" 2>"$work/rx.err" &
      rx=$!
      wait_listen "$b" "$port"
      if [ "$what" = nettool-send ]; then
        tx_cmd="$bin nc --quit-after $LIMIT 10.209.0.2 $port < $file"
      else
        tx_cmd="python3 $work/send.py 10.209.0.2 $port $file $KERNEL_CC"
      fi
      tx_ns=$a ;;
    nettool-recv | kernel-recv)
      if [ "$what" = nettool-recv ]; then
        ip netns exec "$a" sh -c "$bin nc -v -l 10.209.0.1 $port | wc -c > $work/count" 2>"$work/rx.err" &
        rx=$!
        wait_nettool_listen "$work/rx.err"
      else
        ip netns exec "$a" sh -c "nc -l $port | wc -c > $work/count" 2>"$work/rx.err" &
        rx=$!
        wait_listen "$a" "$port"
      fi
      tx_cmd="python3 $work/send.py 10.209.0.1 $port $file $KERNEL_CC"
      tx_ns=$b ;;
  esac
  [ "$COUNTERS" != 1 ] || ip netns exec "$tx_ns" nstat -az >"$work/nstat.before"
  t0=$(date +%s.%N)
  # In the background, so that `wait` returns at once on Ctrl-C and the
  # trap cleans up (bash runs traps only after a foreground child ends).
  timeout "$LIMIT" ip netns exec "$tx_ns" sh -c "$tx_cmd" 2>"$work/tx.err" &
  tx=$!
  if ! wait "$tx"; then
    echo "$what through loss $loss, delay $delay: the sender failed or took over ${LIMIT} s:" >&2
    cat "$work/tx.err" "$work/rx.err" >&2; exit 1
  fi
  wait "$rx" || true
  t1=$(date +%s.%N)
  stop_relay
  got=$(cat "$work/count")
  if [ "$got" -ne "$bytes" ]; then
    echo "$what through loss $loss, delay $delay: the receiver counted $got bytes, not $bytes" >&2
    cat "$work/rx.err" >&2; exit 1
  fi
  if [ "$COUNTERS" = 1 ] && [ "$what" != nettool-send ]; then
    ip netns exec "$tx_ns" nstat -az >"$work/nstat.after"
    counters "$what"
  fi
  local d; d=$(dropped)
  if [ "$loss" != "0%" ] && [ "$d" -eq 0 ]; then
    echo "$what through loss $loss: the relay dropped nothing" >&2; exit 1
  fi
  result="$(awk "BEGIN { printf \"%.3f\", $t1 - $t0 }") $d"
}

# The source lives in RAM (/dev/shm), so no disk is measured.
file=$(mktemp -p /dev/shm nettool-loss.XXXXXX)
head -c "$bytes" /dev/urandom >"$file"

echo "SIZE=$SIZE ($bytes bytes) N=$N SEED=$SEED ${FAULTS:+FAULTS=\"$FAULTS\" }KERNEL_CC=$KERNEL_CC, load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
results="$work/results"
: >"$results"
for wire in $WIRES; do
  loss=${wire%%:*}; delay=${wire##*:}
  for run in $(seq "$N"); do
    for what in nettool-send kernel-send nettool-recv kernel-recv; do
      transfer "$what" "$loss" "$delay"
      echo "$loss $delay $what $run $result" | tee -a "$results" >&2
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$results" "$bytes" "$N" "$FAULTS" <<'PY'
import statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    loss, delay, what, run, secs, dropped = line.split()
    key = (loss, delay)
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key].setdefault(what, []).append((float(secs), int(dropped)))
size, n, faults = int(sys.argv[2]), sys.argv[3], sys.argv[4]
extra = f", and {faults}" if faults else ""
print(f"\n| {size} bytes, medians of {n} runs; wire: loss both ways{extra}, delay each way | kernel s | nettool s | ratio (nettool / kernel) | frames dropped, nettool / kernel runs |")
print("|---|---|---|---|---|")
for d, name in (("send", "nettool sends, kernel receives"), ("recv", "kernel sends, nettool receives")):
    for key in order:
        k, t = rows[key][f"kernel-{d}"], rows[key][f"nettool-{d}"]
        ks = statistics.median(s for s, _ in k)
        ts = statistics.median(s for s, _ in t)
        kd = "/".join(str(x) for _, x in k)
        td = "/".join(str(x) for _, x in t)
        print(f"| {name}, {key[0]} loss, {key[1]} | {ks:.2f} | {ts:.2f} | {ts / ks:.2f}× | {td} / {kd} |")
PY
