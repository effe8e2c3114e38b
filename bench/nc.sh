#!/usr/bin/env bash
# Benchmark: 1 GiB over an MTU-1500 veth pair between two private
# namespaces, in both directions, with `nettool nc` on one end and the
# kernel (openbsd nc) on the other, against openbsd nc on both ends, in one
# run. Prints throughput, the ratio to openbsd nc, and CPU time per GiB.
#
# Two sources, each a table: a file in RAM (`nc < file`, two busy
# processes), and a pipe (`head -c N /dev/zero | nc`, three busy
# processes: on a 2-core machine the pipe's writer competes with both
# ends for the CPUs, and a user-space receiver, which needs CPU time of
# its own where the kernel's receive runs inside the sender's softirq,
# loses more to that than the kernel does).
#
# nettool receives through its receive ring (PACKET_RX_RING); a third
# row, "no ring", receives as before, frame by frame with recvmsg
# (NETTOOL_RX_RING=0), for a paired comparison in the same run (OLD=0
# leaves it out). Its RST guard drops the flow's frames at eth0's ingress
# (after nettool's tap, before the kernel's IP); a row "output rule only"
# receives with the guard's output rule alone (NETTOOL_INGRESS_DROP=0:
# the kernel sees every segment and answers each with a RST the rule
# drops), measured next to the row with it (each first in turn), for a
# paired comparison on a busy machine (RST=0 leaves it out). REPS=N runs every row N times,
# in turn, and prints each figure's median and the range of the ratios.
#
# A third table runs the file case over IPv6 (nettool nc -6 against
# openbsd nc -6, both directions; V6=0 leaves it out).
#
#   sudo bench/nc.sh            # SIZE=256M sudo bench/nc.sh for a quicker run
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

SIZE=${SIZE:-1G}
OLD=${OLD:-1}
RST=${RST:-1}
REPS=${REPS:-1}
V6=${V6:-1}
bytes=$(numfmt --from=iec "$SIZE")
file=""
bench_undo() { [ -z "$file" ] || rm -f "$file"; }
bench_init nc.sh iproute2 netcat-openbsd nftables python3
bench_pair ntn
bench_v4 10.208.0
if [ "$V6" = 1 ]; then
  # IPv6 on eth0 only, its address usable at once (no DAD).
  for ns in "$a" "$b"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0; done
  ip -n "$a" addr add fd00:208::1/64 dev eth0 nodad
  ip -n "$b" addr add fd00:208::2/64 dev eth0 nodad
fi
sleep 0.3
export NETTOOL_ARP_CACHE="$work/cache.json"

# One transfer: $1 = label, $2 = receiver command (in its namespace), $3 =
# sender command. Prints "label seconds user_cpu sys_cpu" for the nettool
# side (or the sender, for the reference).
measure() {
  local label=$1 rx_ns=$2 rx_cmd=$3 tx_ns=$4 tx_cmd=$5 timed=$6
  # The other side's CPU too (the peer's: kernel nc, with the head that
  # feeds it from a pipe): on veth, each side's system calls also run
  # the other side's kernel receive path (softirq), so where the CPU
  # goes shows in both.
  local peer="/usr/bin/time -f '%U %S' -o $work/cpu_peer"
  if [ "$timed" = tx ]; then rx_cmd="$peer sh -c \"$rx_cmd\""; fi
  ip netns exec "$rx_ns" sh -c "$rx_cmd" &
  local rx=$!
  sleep 0.5
  local t0 t1
  t0=$(date +%s.%N)
  if [ "$timed" = tx ]; then
    /usr/bin/time -f "%U %S" -o "$work/cpu" ip netns exec "$tx_ns" sh -c "$tx_cmd"
    wait "$rx"
  else
    ip netns exec "$tx_ns" sh -c "$peer sh -c \"$tx_cmd\""
    wait "$rx"
  fi
  t1=$(date +%s.%N)
  echo "$label $(awk "BEGIN { print $t1 - $t0 }") $(cat "$work/cpu" 2>/dev/null || echo "- -") $(cat "$work/cpu_peer" 2>/dev/null || echo "- -")"
  rm -f "$work/cpu" "$work/cpu_peer"
}

# The file lives in RAM (/dev/shm), so no disk is measured.
file=$(mktemp -p /dev/shm nettool-bench.XXXXXX)
head -c "$bytes" /dev/zero >"$file"
sources="file pipe"
[ "$V6" = 1 ] && sources="$sources file6"
for source in $sources; do
  if [ "$source" = pipe ]; then from=""; feed="head -c $bytes /dev/zero | "; else from="< $file"; feed=""; fi
  # Over IPv6: both tools' -6, the addresses of the IPv6 subnet.
  if [ "$source" = file6 ]; then v="-6 "; ta="fd00:208::1"; tb="fd00:208::2"; else v=""; ta=10.208.0.1; tb=10.208.0.2; fi
  for rep in $(seq "$REPS"); do
    # nettool sends, the kernel receives.
    measure "nettool-send" "$b" "nc ${v}-l 5001 > /dev/null" "$a" "$feed$bin nc ${v}--quit-after 5 $tb 5001 $from" tx
    # nettool receives (listening), the kernel sends.
    # With the guard's ingress drop and without it (RST=1), in turn: the
    # one that went second in one round goes first in the next.
    order="with"
    [ "$RST" = 1 ] && { [ $((rep % 2)) = 1 ] && order="with without" || order="without with"; }
    for guard in $order; do
      if [ "$guard" = with ]; then
        measure "nettool-recv" "$a" "/usr/bin/time -f '%U %S' -o $work/cpu $bin nc ${v}-l $ta 5002 > /dev/null" \
                "$b" "${feed}nc ${v}-N $ta 5002 $from" rx
      else
        measure "nettool-recvrst" "$a" "NETTOOL_INGRESS_DROP=0 /usr/bin/time -f '%U %S' -o $work/cpu $bin nc ${v}-l $ta 5007 > /dev/null" \
                "$b" "${feed}nc ${v}-N $ta 5007 $from" rx
      fi
    done
    if [ "$OLD" = 1 ]; then
      measure "nettool-recvold" "$a" "NETTOOL_RX_RING=0 /usr/bin/time -f '%U %S' -o $work/cpu $bin nc ${v}-l $ta 5006 > /dev/null" \
              "$b" "${feed}nc ${v}-N $ta 5006 $from" rx
    fi
    # The reference: openbsd nc on both ends, both directions.
    measure "openbsd-send" "$b" "nc ${v}-l 5003 > /dev/null" "$a" "${feed}nc ${v}-N $tb 5003 $from" tx
    measure "openbsd-recv" "$a" "/usr/bin/time -f '%U %S' -o $work/cpu nc ${v}-l 5004 > /dev/null" "$b" "${feed}nc ${v}-N $ta 5004 $from" rx
  done | tee "$work/results-$source"
done

python3 - "$work" "$bytes" "$sources" <<'PY'
import math, statistics, sys
size = int(sys.argv[2])
gib = size / 2**30
gbps = lambda s: size * 8 / s / 1e9
whats = {
    "file": "from a file in RAM (`nc < file`)",
    "pipe": "from a pipe (`head -c N /dev/zero | nc`)",
    "file6": "over IPv6 (`nc -6`), from a file in RAM",
}
for source in sys.argv[3].split():
    # Each row's runs, in order: (seconds, nettool's CPU, the peer's CPU).
    rows = {}
    for line in open(f"{sys.argv[1]}/results-{source}"):
        label, secs, user, sys_, puser, psys = line.split()
        cpu = float(user) + float(sys_) if user != "-" else float("nan")
        peer = float(puser) + float(psys) if puser != "-" else float("nan")
        rows.setdefault(label, []).append((float(secs), cpu, peer))
    med = lambda runs, i: statistics.median(r[i] for r in runs)
    print(f"\n| {size} bytes over MTU 1500 veth, {whats[source]} | nettool nc | openbsd nc | ratio (nettool / openbsd) | nettool CPU per GiB | peer's CPU per GiB (against nettool / against openbsd) |")
    print("|---|---|---|---|---|---|")
    for d, name in (("send", "nettool sends, kernel receives"), ("recv", "kernel sends, nettool receives"),
                    ("recvrst", "kernel sends, nettool receives, output rule only (no ingress drop)"),
                    ("recvold", "kernel sends, nettool receives, no ring")):
        if f"nettool-{d}" not in rows:
            continue
        n, o = rows[f"nettool-{d}"], rows[f"openbsd-{d[:4]}"]
        # The ratio of each run to the reference run of its round.
        ratios = sorted(b[0] / a[0] for a, b in zip(n, o))
        ratio = f"{statistics.median(ratios):.2f}x"
        if len(ratios) > 1:
            ratio += f" ({ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} runs)"
        ns, os_ = med(n, 0), med(o, 0)
        print(f"| {name} | {gbps(ns):.2f} Gbit/s ({ns:.2f} s) | {gbps(os_):.2f} Gbit/s ({os_:.2f} s) | {ratio} | {med(n, 1) / gib:.2f} s | {med(n, 2) / gib:.2f} s / {med(o, 2) / gib:.2f} s |")
PY
