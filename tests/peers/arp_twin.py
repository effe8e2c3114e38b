"""A second host claiming an address: answers every ARP request for IP
on IFACE with a reply from MAC, through an AF_PACKET socket. Next to the
kernel (which answers with the interface's own MAC) it makes two MACs
answer one request, as a duplicated address or a spoofer would.

    python3 arp_twin.py IFACE IP MAC

Prints "ready" once listening and "answered" for each reply sent.
"""
import socket
import struct
import sys

iface, ip, mac = sys.argv[1:4]
ip = socket.inet_aton(ip)
mac = bytes.fromhex(mac.replace(":", ""))
ETH_P_ARP = 0x0806
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
s.bind((iface, ETH_P_ARP))
print("ready", flush=True)
while True:
    frame, addr = s.recvfrom(2048)
    if addr[2] == socket.PACKET_OUTGOING or len(frame) < 42:
        continue
    htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    sha, spa, tha, tpa = frame[22:28], frame[28:32], frame[32:38], frame[38:42]
    if (htype, ptype, hlen, plen, op) != (1, 0x0800, 6, 4, 1) or tpa != ip:
        continue
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + mac + ip + sha + spa
    s.send(sha + mac + struct.pack("!H", ETH_P_ARP) + arp)
    print("answered", flush=True)
