"""A kernel TCP peer for nettool's end-to-end tests.

    python3 tcp_peer.py MODE PORT [SIZE [ADDRESS]]

Listens on PORT (of ADDRESS, IPv4 or IPv6; 0.0.0.0 by default) with the Linux kernel's TCP and serves each connection in
MODE, printing one line per event on stdout (flushed), which the tests read:
"ready", "accepted HOST:PORT", "data N", "eof HOST:PORT", "reset HOST:PORT".

  hold     keep the connection open; report EOF or reset
  echo     echo until EOF, then close (RFC 862)
  http     read a request, answer HTTP/1.0 with a SIZE-byte body, close
  trickle  send 5 lines 100 ms apart (even after the client's FIN), close
"""
import socket
import sys
import threading
import time

mode, port = sys.argv[1], int(sys.argv[2])
size = int(sys.argv[3]) if len(sys.argv) > 3 else 64
address = sys.argv[4] if len(sys.argv) > 4 else "0.0.0.0"
lock = threading.Lock()


def say(*words):
    with lock:
        print(*words, flush=True)


def drain_until_eof(conn, who, echo=False):
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            say("reset", who)
            return False
        if not chunk:
            say("eof", who)
            return True
        say("data", len(chunk))
        if echo:
            conn.sendall(chunk)


def serve(conn, addr):
    who = "%s:%d" % addr[:2]
    say("accepted", who)
    try:
        if mode == "hold":
            drain_until_eof(conn, who)
        elif mode == "echo":
            if drain_until_eof(conn, who, echo=True):
                conn.shutdown(socket.SHUT_WR)
        elif mode == "http":
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            body = bytes(ord("a") + i % 26 for i in range(size))
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % size + body)
            conn.shutdown(socket.SHUT_WR)
            drain_until_eof(conn, who)
        elif mode == "trickle":
            for i in range(5):
                conn.sendall(b"line %d\n" % i)
                time.sleep(0.1)
            conn.shutdown(socket.SHUT_WR)
            drain_until_eof(conn, who)
    except (ConnectionResetError, BrokenPipeError):
        say("reset", who)
    finally:
        conn.close()


listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((address, port))
listener.listen(16)
say("ready")
while True:
    c, a = listener.accept()
    threading.Thread(target=serve, args=(c, a), daemon=True).start()
