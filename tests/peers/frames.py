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


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


iface, dst_mac, src_ip, dst_ip, count = sys.argv[1:6]
dst = bytes.fromhex(dst_mac.replace(":", ""))
src = open("/sys/class/net/%s/address" % iface).read().strip()
src = bytes.fromhex(src.replace(":", ""))
sip, dip = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(int(count)):
    payload = bytes((i + j) & 0xFF for j in range((i * 37) % 1001))
    seg = struct.pack("!HHIIBBHHH", 40000, 9, i * 1000, 0, 5 << 4, 0x18, 1024, 0, 0) + payload
    tcp_sum = csum(sip + dip + struct.pack("!BBH", 0, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", tcp_sum) + seg[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), i & 0xFFFF, 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(dst + src + b"\x08\x00" + ip + seg)
print("sent", count, flush=True)
