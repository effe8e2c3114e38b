"""ARP frames no cache should believe, sent through an AF_PACKET socket
to A's MAC (and broadcast) every few milliseconds for SECS seconds, for
the hostile-peer suite:

    python3 arp_spoof.py IFACE A_MAC A_IP PEER_IP SECS

- an unsolicited reply: 10.x.y.77 is at 02:66:66:66:66:77 (nobody asked);
- a gratuitous request: 10.x.y.88 announces itself at 02:66:66:66:66:88;
- a reply to A from another sender IP than A asks for (10.x.y.99);
- replies claiming PEER_IP from a multicast and from the broadcast MAC.

x.y are A_IP's. Prints "ready" before the first frame and "sent N" at
the end.
"""
import socket
import struct
import sys
import time

from rawframe import mac, open_link

iface, a_mac, a_ip, peer_ip, secs = sys.argv[1:6]
A_MAC, A_IP, PEER = mac(a_mac), socket.inet_aton(a_ip), socket.inet_aton(peer_ip)
BCAST = b"\xff" * 6
s, _own = open_link(iface)


def host(n):
    return A_IP[:3] + bytes([n])


def arp(op, sha, spa, tha, tpa, dst):
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + spa + tha + tpa
    return dst + sha + b"\x08\x06" + body


FRAMES = [
    arp(2, mac("02:66:66:66:66:77"), host(77), A_MAC, A_IP, A_MAC),
    arp(1, mac("02:66:66:66:66:88"), host(88), b"\0" * 6, host(88), BCAST),
    arp(2, mac("02:66:66:66:66:99"), host(99), A_MAC, A_IP, A_MAC),
    arp(2, mac("01:00:5e:00:00:01"), PEER, A_MAC, A_IP, A_MAC),
    arp(2, BCAST, PEER, A_MAC, A_IP, A_MAC),
]
print("ready", flush=True)
end, n = time.monotonic() + float(secs), 0
while time.monotonic() < end:
    for f in FRAMES:
        s.send(f)
        n += 1
    time.sleep(0.002)
print("sent", n, flush=True)
