"""Sends spoofed TCP SYNs through an AF_PACKET socket: a SYN flood from
addresses that never answer, for the listener's flood test.

    python3 synflood.py IFACE DST_MAC DST_IP DST_PORT COUNT

Sources are 198.18.0.0/15 (RFC 2544's benchmarking range, routed nowhere),
one address and port per SYN; checksums are valid. The frames go to
DST_MAC from IFACE's own MAC, so whatever answers them is carried back
to IFACE, whose kernel drops it (none of the addresses is its own).
"""
import socket
import struct
import sys

from rawframe import mac, open_link, tcp_frame

iface, dst_mac, dst_ip, dst_port, count = sys.argv[1:6]
dst = mac(dst_mac)
s, src = open_link(iface)
dip = socket.inet_aton(dst_ip)
for i in range(int(count)):
    sip = bytes([198, 18 + (i >> 16 & 1), i >> 8 & 0xFF, i & 0xFF])
    sport = 1024 + (i * 7919) % 60000
    # SYN with an MSS option, as a client would send.
    seg = struct.pack("!HHIIBBHHH", sport, int(dst_port), (i * 2654435761) & 0xFFFFFFFF, 0,
                      6 << 4, 0x02, 64240, 0, 0) + struct.pack("!BBH", 2, 4, 1460)
    frame = tcp_frame(dst, src, sip, dip, seg, i)
    while True:
        try:
            s.send(frame)
            break
        except BlockingIOError:
            pass
print("sent", count, flush=True)
