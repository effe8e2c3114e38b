#!/usr/bin/env bash
# The README's pictures: `nettool nc --plot` of a clean 64 MiB transfer to
# the Linux kernel and of the same through 2 % loss, half a second of the
# lossy one zoomed from its capture (`nettool plot --time`), and the
# ladder of a close, rendered to PNG with a headless Chromium (Debian's `chromium`;
# installed here if missing). Not part of the test suite: the PNGs depend
# on the run, the machine and the browser's fonts.
#
# Three private namespaces, A ── M ── B, nettool's seeded relay
# (`nettool impair`) bridging them in M with DELAY each way and the
# wire's loss, as in bench/loss.sh; the kernel's `nc -l` receives in B.
#
#   sudo bench/pictures.sh                  # writes docs/pictures/*.png
#   SIZE=8M sudo bench/pictures.sh          # a quicker look
#   NETTOOL=target/debug/nettool sudo bench/pictures.sh   # no release build
#
# Traffic goes only between the namespaces the script creates; they are
# removed on exit, on error and on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" -eq 0 ] || { echo "bench/pictures.sh needs root (namespaces, raw sockets)" >&2; exit 2; }
need=()
for p in iproute2 netcat-openbsd ethtool chromium; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

SIZE=${SIZE:-64M}
SEED=${SEED:-42}
DELAY=${DELAY:-5ms}
OUT=${OUT:-docs/pictures}
bytes=$(numfmt --from=iec "$SIZE")
# NETTOOL=target/debug/nettool skips the release build.
if [ -n "${NETTOOL:-}" ]; then
  bin=$(realpath "$NETTOOL")
else
  cargo build --release --quiet
  bin="$PWD/target/release/nettool"
fi
mkdir -p "$OUT"

a="ntl-$$-a"; m="ntl-$$-m"; b="ntl-$$-b"
work=$(mktemp -d)
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
  for sig in TERM KILL; do
    for ns in "$a" "$b" "$m"; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] || kill -"$sig" $pids 2>/dev/null || true
    done
    [ "$sig" = KILL ] || sleep 0.3
  done
  for ns in "$a" "$b" "$m"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
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

start_relay() {
  rm -f "$work/stats.json"
  ip netns exec "$m" "$bin" impair --left left --right right --seed "$SEED" \
    --loss "$1" --delay "$DELAY" --stats "$work/stats.json" >/dev/null 2>"$work/relay.err" &
  relay=$!
  for _ in $(seq 200); do
    [ -s "$work/stats.json" ] && return 0
    kill -0 "$relay" 2>/dev/null || break
    sleep 0.05
  done
  echo "the relay did not start:" >&2; cat "$work/relay.err" >&2; exit 1
}

wait_listen() {
  for _ in $(seq 200); do
    ip netns exec "$b" ss -Hltn "sport = :$1" | grep -q . && return 0
    sleep 0.02
  done
  echo "nothing listens on port $1 in $b" >&2; exit 1
}

# An SVG file to a PNG of its own size.
png() {
  local svg=$1 out=$2 w h
  read -r w h < <(sed -n 's/.*<svg [^>]*width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' "$svg" | head -1)
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size="$w,$h" --screenshot="$(realpath "$out")" "file://$(realpath "$svg")" >/dev/null 2>&1
  echo "$out: ${w}x${h}, $(du -h "$out" | cut -f1)"
}

head -c "$bytes" /dev/urandom >"$work/data"
port=6000
for wire in clean:0% lossy:2%; do
  name=${wire%%:*} loss=${wire#*:}
  port=$((port + 1))
  start_relay "$loss"
  ip netns exec "$b" nc -d -l "$port" >/dev/null </dev/null &
  rx=$!
  wait_listen "$port"
  ip netns exec "$a" "$bin" nc -v --plot "$work/nc-$name.svg" --pcap "$work/nc-$name.pcap" 10.209.0.2 "$port" \
    <"$work/data" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  wait "$rx" || true
  stop_relay
  echo "$name ($loss loss, $DELAY each way): $(tail -1 "$work/$name.err")"
  png "$work/nc-$name.svg" "$OUT/nc-$name.png"
done

# Half a second of the lossy transfer, from nc's own capture: each
# segment, retransmission and SACK block distinct.
"$bin" plot "$work/nc-lossy.pcap" --time "${ZOOM:-20-20.5}" -o "$work/zoom.svg"
png "$work/zoom.svg" "$OUT/nc-lossy-zoom.png"

# The ladder of a close, as the terminal shows it, to PNG through HTML.
start_relay 0%
ip netns exec "$b" nc -d -l 7007 >/dev/null </dev/null &
wait_listen 7007
ip netns exec "$a" "$bin" close --ladder --time-wait 200ms 10.209.0.2:7007 >"$work/close.txt" 2>&1 || true
{
  echo '<!doctype html><meta charset="utf-8"><body style="margin:0;background:#fff">'
  echo '<pre style="font:14px/1.25 DejaVu Sans Mono,monospace;margin:12px">'
  sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g' "$work/close.txt"
  echo '</pre>'
} >"$work/close.html"
lines=$(wc -l <"$work/close.txt")
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="900,$((lines * 18 + 30))" --screenshot="$OUT/close-ladder.png" \
  "file://$work/close.html" >/dev/null 2>&1
echo "$OUT/close-ladder.png: $(du -h "$OUT/close-ladder.png" | cut -f1)"
