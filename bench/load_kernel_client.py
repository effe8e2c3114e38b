#!/usr/bin/env python3
"""A kernel-socket load client, for bench/load.sh to set beside nettool load.

    load_kernel_client.py HOST PORT N HOLD_SECONDS

Opens up to N TCP connections to HOST:PORT with non-blocking connect()s
from the host's own address (the kernel picks each source port), counts
the ones that complete (epoll, SO_ERROR), stops at the first failure to
make a socket or to start a connect, says on one line how far it got and
why it stopped (the errno: EMFILE, the open-file limit; EADDRNOTAVAIL, no
source port left for this destination) with the kernel's memory for TCP
buffers, then holds what it has HOLD_SECONDS and resets them (no
TIME-WAIT keeps their ports for the next run).
Standard library only.
"""

import errno
import os
import resource
import select
import socket
import struct
import sys
import time


# Opened before the sockets: at the file limit no file opens.
SOCKSTAT = open("/proc/net/sockstat")


def sockstat_mem_pages():
    SOCKSTAT.seek(0)
    for line in SOCKSTAT.read().splitlines():
        if line.startswith("TCP:"):
            fields = line.split()
            return int(fields[fields.index("mem") + 1])
    return 0


def main():
    host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    ep = select.epoll()
    pending, established, failed = {}, [], 0
    stopped = "asked for no more"
    start = time.monotonic()

    def settle(timeout):
        nonlocal failed
        for fd, _ in ep.poll(timeout, 4096):
            s = pending.pop(fd)
            ep.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                established.append(s)
            else:
                failed += 1
                s.close()

    opened = 0
    while opened < n:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            stopped = f"socket(): {errno.errorcode.get(e.errno, e.errno)} ({e.strerror})"
            break
        s.setblocking(False)
        r = s.connect_ex((host, port))
        if r not in (0, errno.EINPROGRESS):
            stopped = f"connect(): {errno.errorcode.get(r, r)} ({os.strerror(r)})"
            s.close()
            break
        pending[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLOUT)
        opened += 1
        if len(pending) >= 512:
            settle(0.001)
    deadline = time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        settle(0.1)
    took = time.monotonic() - start
    before = sockstat_mem_pages()
    print(
        f"{len(established)} established of {opened} connect()s started "
        f"({failed} failed, {len(pending)} unfinished) in {took:.2f} s, "
        f"{len(established) / took if took else 0:.0f}/s; stopped by {stopped}; "
        f"open-file limit {limit}; TCP socket buffers {before * 4096 / 2**20:.1f} MiB in this "
        f"namespace",
        flush=True,
    )
    time.sleep(hold)
    # Reset, not closed: no TIME-WAIT left holding the ports for the next run.
    linger = struct.pack("ii", 1, 0)
    for s in established + list(pending.values()):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.close()


if __name__ == "__main__":
    main()
