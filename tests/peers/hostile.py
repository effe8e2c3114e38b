"""A kernel client and an on-path attacker in one process, for the
hostile-peer suite (tests/hostile_e2e.rs).

    python3 hostile.py IFACE DST_MAC DST_IP DST_PORT SIZE SEED RATE REPEAT

The client (the kernel's TCP) connects to DST_IP:DST_PORT. A sniffer on
IFACE (AF_PACKET, both directions) learns the 4-tuple and the sequence
numbers: the client's ISN from its SYN, nettool's SND.NXT and RCV.NXT
from its latest segment.

Phase 1, the connection idle: REPEAT blind in-window RSTs not at RCV.NXT,
REPEAT SYNs, and REPEAT data segments at RCV.NXT whose ACK is 2^30 below
nettool's SND.NXT (RFC 5961 §3, §4, §5), over about one second. Every
segment nettool sends on the idle flow meanwhile is a challenge ACK: they
are counted.

Phase 2: the client sends SIZE bytes (random.Random(SEED)) at RATE
bytes/s while every malformed case is sent REPEAT times, round-robin, at
the flow's 4-tuple. Cases that Linux drops carry bytes that are not the
stream's ("INJECTED"), so one taken would break the SHA-256; cases whose
bad part Linux ignores carry the stream's own bytes at RCV.NXT, so taking
them is harmless.

Prints "connected", "phase2" (the test then closes nettool's stdin), and
at the end one JSON line: {"challenge_acks", "phase1", "sent",
"phase1_secs", "size", "sha256"}.
"""
import hashlib
import json
import random
import socket
import struct
import sys
import threading
import time

from rawframe import csum, mac, open_link

iface, dst_mac, dst_ip, dst_port, size, seed, rate, repeat = sys.argv[1:9]
dst_port, size, seed, rate, repeat = int(dst_port), int(size), int(seed), int(rate), int(repeat)
DATA = random.Random(seed).randbytes(size)
ETH_P_ALL = 3
A_MAC = mac(dst_mac)
A_IP = socket.inet_aton(dst_ip)


def say(*words):
    print(*words, flush=True)


class Flow:
    """What the sniffer learnt: the client's port and ISN, nettool's
    SND.NXT (a_nxt) and RCV.NXT (rcv_nxt), and a count of nettool's
    segments on the flow."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sport = None
        self.client_isn = None
        self.a_nxt = None
        self.rcv_nxt = None
        self.from_a = 0


flow = Flow()


def sniff(sock):
    while True:
        frame, addr = sock.recvfrom(65536)
        if len(frame) < 54 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 6 or len(frame) < 14 + ihl + 20:
            continue
        total = struct.unpack("!H", frame[16:18])[0]
        src, dst = frame[26:30], frame[30:34]
        t = 14 + ihl
        sport, dport, seq, ack, off, flags = struct.unpack("!HHIIBB", frame[t:t + 14])
        doff = (off >> 4) * 4
        seg_len = total - ihl - doff + (1 if flags & 0x02 else 0) + (1 if flags & 0x01 else 0)
        with flow.lock:
            if addr[2] == socket.PACKET_OUTGOING and dst == A_IP and dport == dst_port:
                # The client's own SYN, not the ones forged below.
                if flags & 0x02 and not flags & 0x10 and sport == flow.sport and flow.client_isn is None:
                    flow.client_isn = seq
            elif src == A_IP and sport == dst_port and dport == flow.sport:
                flow.from_a += 1
                flow.a_nxt = (seq + seg_len) & 0xFFFFFFFF
                if flags & 0x10:
                    flow.rcv_nxt = ack


def state():
    with flow.lock:
        return flow.sport, flow.a_nxt, flow.rcv_nxt, flow.client_isn


def ipv4(payload, *, ihl=5, total=None, flags_frag=0x4000, ttl=64, options=b"", csum_ok=True):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total if total is not None else 20 + len(options) + len(payload),
                      0x1234, flags_frag, ttl, 6, 0, B_IP, A_IP) + options
    c = csum(hdr) if csum_ok else (csum(hdr) ^ 0x5555)
    hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
    return A_MAC + B_MAC + b"\x08\x00" + hdr + payload


def tcp(seq, ack, flags, payload=b"", options=b"", doff=None, csum_ok=True, window=65535):
    sport = flow.sport
    if doff is None:
        doff = 5 + len(options) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dst_port, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      doff << 4, flags, window, 0, 0) + options + payload
    pseudo = B_IP + A_IP + struct.pack("!BBH", 0, 6, len(seg))
    c = csum(pseudo + seg)
    if not csum_ok:
        c ^= 0x5555
    return seg[:16] + struct.pack("!H", c) + seg[18:]


ACK, PSH, RST, SYN = 0x10, 0x08, 0x04, 0x02
EVIL = b"INJECTED" * 8


def real(rcv_nxt, isn, n):
    """The stream's own bytes from RCV.NXT on (harmless to deliver)."""
    off = (rcv_nxt - isn - 1) & 0xFFFFFFFF
    return DATA[off:off + n] if off < size else b""


def cases():
    """Each case: (name, build(a_nxt, rcv_nxt, isn) -> frame)."""
    bad = lambda a, r: dict(seq=r, ack=a, flags=ACK | PSH, payload=EVIL)
    good = lambda a, r, i, n=64: dict(seq=r, ack=a, flags=ACK | PSH, payload=real(r, i, n))
    return [
        # Dropped by Linux and by nettool: EVIL bytes.
        ("tcp_doff_below_5", lambda a, r, i: ipv4(tcp(**bad(a, r), doff=4))),
        ("tcp_doff_past_segment", lambda a, r, i: ipv4(tcp(r, a, ACK, doff=15))),
        ("tcp_bad_checksum", lambda a, r, i: ipv4(tcp(**bad(a, r), csum_ok=False))),
        ("ip_ihl_below_5", lambda a, r, i: ipv4(tcp(**bad(a, r)), ihl=4)),
        ("ip_total_above_frame", lambda a, r, i: ipv4(tcp(**bad(a, r)), total=20 + 20 + len(EVIL) + 100)),
        ("ip_total_below_header", lambda a, r, i: ipv4(tcp(**bad(a, r)), total=16)),
        ("ip_bad_checksum", lambda a, r, i: ipv4(tcp(**bad(a, r)), csum_ok=False)),
        ("ip_fragment_first", lambda a, r, i: ipv4(tcp(**bad(a, r)), flags_frag=0x2000)),
        ("ip_fragment_later", lambda a, r, i: ipv4(EVIL, flags_frag=0x0010)),
        ("empty_ipv4_frame", lambda a, r, i: A_MAC + B_MAC + b"\x08\x00"),
        # nettool drops the whole segment; Linux stops parsing options
        # there and takes the segment.
        ("tcp_option_len_0", lambda a, r, i: ipv4(tcp(**bad(a, r), options=b"\x08\x00\x01\x01"))),
        ("tcp_option_past_header", lambda a, r, i: ipv4(tcp(**bad(a, r), options=b"\x02\x08\x05\xb4"))),
        # Linux takes these, their bad part ignored: the stream's bytes.
        ("tcp_mss_wrong_length", lambda a, r, i: ipv4(tcp(**good(a, r, i), options=b"\x02\x03\x05\x01"))),
        ("tcp_wscale_15", lambda a, r, i: ipv4(tcp(**good(a, r, i), options=b"\x01\x03\x03\x0f"))),
        ("tcp_sack_outside_window", lambda a, r, i: ipv4(tcp(**good(a, r, i), options=b"\x01\x01\x05\x0a" + struct.pack("!II", a + 0x40000000 & 0xFFFFFFFF, a + 0x40001000 & 0xFFFFFFFF)))),
        ("tcp_timestamps_truncated", lambda a, r, i: ipv4(tcp(**good(a, r, i), options=b"\x08\x06\x00\x00\x00\x01\x01\x01"))),
        # Bytes after the IPv4 total length (Ethernet padding): trimmed.
        ("ip_total_below_frame", lambda a, r, i: ipv4(tcp(**good(a, r, i))) + EVIL),
        ("ip_ttl_0", lambda a, r, i: ipv4(tcp(**good(a, r, i)), ttl=0)),
        ("ip_options", lambda a, r, i: ipv4(tcp(**good(a, r, i)), ihl=6, options=b"\x01\x01\x01\x00")),
        ("jumbo_frame", lambda a, r, i: ipv4(tcp(**good(a, r, i, 8900)))),
        ("random_frame", lambda a, r, i: A_MAC + B_MAC + b"\x08\x00" + RNG.randbytes(RNG.randrange(1, 200))),
    ]


RNG = random.Random(seed + 1)
link, B_MAC = open_link(iface)
B_IP = None
sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
sniffer.bind((iface, ETH_P_ALL))
sniffer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)


def send(frame):
    while True:
        try:
            link.send(frame)
            return
        except BlockingIOError:
            pass


try:
    client = socket.socket()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460)
    client.settimeout(60)
    client.bind(("0.0.0.0", 0))
    with flow.lock:
        flow.sport = client.getsockname()[1]
    threading.Thread(target=sniff, args=(sniffer,), daemon=True).start()
    client.connect((dst_ip, dst_port))
    B_IP = socket.inet_aton(client.getsockname()[0])
    say("connected")
    deadline = time.monotonic() + 5
    while None in state() and time.monotonic() < deadline:
        time.sleep(0.01)
    sport, a_nxt, rcv_nxt, isn = state()
    if None in (a_nxt, rcv_nxt, isn):
        raise OSError("the sniffer never saw the handshake")
    time.sleep(0.2)

    # Phase 1: RFC 5961 on the idle connection.
    with flow.lock:
        before = flow.from_a
    phase1 = {"rst_in_window": 0, "syn_in_window": 0, "data_bad_ack": 0}
    start = time.monotonic()
    for n in range(repeat):
        send(ipv4(tcp(rcv_nxt + 1000 + n, 0, RST)))
        send(ipv4(tcp(rcv_nxt + 2000 + n, 0, SYN)))
        send(ipv4(tcp(rcv_nxt, a_nxt - 0x40000000, ACK | PSH, EVIL)))
        for k in phase1:
            phase1[k] += 1
        time.sleep(1.0 / repeat)
    phase1_secs = time.monotonic() - start
    time.sleep(0.3)
    with flow.lock:
        challenge_acks = flow.from_a - before
    say("phase2")

    # Phase 2: the transfer, and the malformed frames at its 4-tuple.
    def transfer():
        start = time.monotonic()
        sent = 0
        view = memoryview(DATA)
        while sent < size:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
            n = min(16384, size - sent)
            client.sendall(view[sent:sent + n])
            sent += n
        client.shutdown(socket.SHUT_WR)
        while client.recv(65536):
            pass

    sender = threading.Thread(target=transfer)
    sender.start()
    sent = {}
    all_cases = cases()
    for n in range(repeat):
        for name, build in all_cases:
            _, a_nxt, rcv_nxt, isn = state()
            send(build(a_nxt, rcv_nxt, isn))
            sent[name] = sent.get(name, 0) + 1
        time.sleep(size / rate / repeat / 2)
    sender.join()
    say(json.dumps({
        "challenge_acks": challenge_acks,
        "phase1": phase1,
        "phase1_secs": round(phase1_secs, 3),
        "sent": sent,
        "size": size,
        "sha256": hashlib.sha256(DATA).hexdigest(),
    }))
except OSError as e:
    say("error", e)
    sys.exit(1)
