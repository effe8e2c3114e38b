# What the benchmarks share, sourced by each from the repository's root
# (not run): the start (root, the packages, the release build) and a pair
# of network namespaces joined by a veth pair, torn down on exit.
#
#   . bench/lib.sh
#   bench_init NAME PACKAGE...  # needs root; installs the packages that are
#                               # missing; builds; sets $bin, $work (scratch,
#                               # copied to $KEEP if set) and $pids (killed
#                               # on exit); a script with more to undo
#                               # defines bench_undo, called first
#   bench_pair PREFIX           # namespaces $a and $b (PREFIX-PID-a, -b),
#                               # eth0 in each, one veth; lo up
#   bench_v4 NET                # IPv6 off; NET.1/24 in A, NET.2/24 in B
#   bench_v6 ULA_A ULA_B        # IPv6 on, no DAD; ULA_A/64 in A, ULA_B/64 in B
#   A CMD...; B CMD...          # CMD in A, in B
#   bench_ready FILE            # waits for a listener to create FILE
#
# A program started in the background goes through `ip netns exec`
# itself, not A or B: `$!` of a function run in the background is a
# subshell's, and killing it would leave the program running.

bench_init() {
  local name=$1 p
  shift
  [ "$(id -u)" -eq 0 ] || { echo "bench/$name needs root (namespaces, raw sockets)" >&2; exit 2; }
  local need=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  cargo build --release --quiet
  bin="$PWD/target/release/nettool"
  work=$(mktemp -d)
  pids=()
  a=""; b=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local p
  if declare -F bench_undo >/dev/null; then bench_undo || true; fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "$a" ]; then ip netns del "$a" 2>/dev/null || true; fi
  if [ -n "$b" ]; then ip netns del "$b" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then cp -r "$work" "$KEEP"; fi
  rm -rf "$work"
}

bench_pair() {
  a="$1-$$-a"; b="$1-$$-b"
  ip netns add "$a"; ip netns add "$b"
  ip link add eth0 netns "$a" type veth peer name eth0 netns "$b"
  ip -n "$a" link set lo up; ip -n "$b" link set lo up
}

bench_v4() {
  local ns
  for ns in "$a" "$b"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
  ip -n "$a" addr add "$1.1/24" dev eth0
  ip -n "$b" addr add "$1.2/24" dev eth0
  ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
}

bench_v6() {
  local ns
  for ns in "$a" "$b"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.accept_dad=0
  done
  ip -n "$a" addr add "$1/64" dev eth0 nodad
  ip -n "$b" addr add "$2/64" dev eth0 nodad
  ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
}

# Waits until a listener has written its "ready" file: python3 takes a
# while to start on a busy machine, and a run that starts first would
# find its ports closed.
bench_ready() {
  for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "a listener never came up ($1)" >&2; exit 1
}

A() { ip netns exec "$a" "$@"; }
B() { ip netns exec "$b" "$@"; }
