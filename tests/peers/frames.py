"""Sends a fixed sequence of IPv4/TCP frames through an AF_PACKET socket,
for the relay's determinism test: the same arguments always give the
same frames in the same order.

    python3 frames.py IFACE DST_MAC SRC_IP DST_IP COUNT

Segments have valid checksums and 0 to 1000 bytes of payload; they belong
to no connection, so the receiver answers none of them.
"""
import socket
import struct
import sys

from rawframe import mac, open_link, tcp_frame

iface, dst_mac, src_ip, dst_ip, count = sys.argv[1:6]
dst = mac(dst_mac)
s, src = open_link(iface)
sip, dip = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
for i in range(int(count)):
    payload = bytes((i + j) & 0xFF for j in range((i * 37) % 1001))
    seg = struct.pack("!HHIIBBHHH", 40000, 9, i * 1000, 0, 5 << 4, 0x18, 1024, 0, 0) + payload
    s.send(tcp_frame(dst, src, sip, dip, seg, i))
print("sent", count, flush=True)
