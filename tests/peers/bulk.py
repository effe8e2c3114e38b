"""Bulk TCP transfers over the Linux kernel's TCP, for the relay's tests.

    python3 bulk.py recv PORT [ADDRESS]
    python3 bulk.py send HOST PORT SIZE SEED [RATE [CC]]

recv listens on PORT (of ADDRESS, IPv4 or IPv6; 0.0.0.0 by default), accepts one connection and reads it to the end.
send connects, sends SIZE pseudo-random bytes (from SEED, so both ends of
a test can know the data) at most RATE bytes/s if given (0: no limit),
with congestion control CC if given (TCP_CONGESTION, e.g. cubic: the
system's default may be BBR, which ignores random loss), and closes.
Both print one line per event on stdout (flushed): "ready", "connected MS"
(connect time in milliseconds), "progress N" (every MiB received),
"done N SHA256", or "error TEXT".
"""
import hashlib
import random
import socket
import sys
import time

MIB = 1 << 20
CHUNK = 64 * 1024


def say(*words):
    print(*words, flush=True)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def recv(port, address):
    listener = socket.socket(family(address))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(1)
    say("ready")
    conn, _ = listener.accept()
    digest, total, mark = hashlib.sha256(), 0, MIB
    while True:
        chunk = conn.recv(1 << 18)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
        if total >= mark:
            say("progress", total)
            mark = (total // MIB + 1) * MIB
    say("done", total, digest.hexdigest())


def send(host, port, size, seed, rate, cc):
    data = random.Random(seed).randbytes(size)
    start = time.monotonic()
    conn = socket.socket(family(host))
    conn.settimeout(60)
    if cc:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    conn.connect((host, port))
    say("connected", int((time.monotonic() - start) * 1000))
    start = time.monotonic()
    sent = 0
    view = memoryview(data)
    while sent < size:
        if rate:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        conn.sendall(view[sent:sent + CHUNK])
        sent += min(CHUNK, size - sent)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)  # wait for the receiver's close
    say("done", size, hashlib.sha256(data).hexdigest())


try:
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0")
    else:
        rate = int(sys.argv[6]) if len(sys.argv) > 6 else 0
        cc = sys.argv[7] if len(sys.argv) > 7 else None
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), rate, cc)
except OSError as e:
    say("error", e)
    sys.exit(1)
