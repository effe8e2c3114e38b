"""Raw IPv4/TCP frames for the peers that write them to an AF_PACKET
socket themselves (frames.py, synflood.py): the Internet checksum
(RFC 1071) and a whole Ethernet frame around a TCP segment.

The scripts import it from their own folder, which python3 puts first on
the module path when it runs a script by its file name.
"""
import socket
import struct


def csum(data):
    """The Internet checksum of DATA (RFC 1071), as an integer."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text):
    """A MAC address written aa:bb:cc:dd:ee:ff, as its 6 bytes."""
    return bytes.fromhex(text.replace(":", ""))


def open_link(iface):
    """An AF_PACKET socket bound to IFACE, and IFACE's own MAC."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    with open("/sys/class/net/%s/address" % iface) as f:
        return s, mac(f.read().strip())


def tcp_frame(dst_mac, src_mac, sip, dip, seg, ident):
    """SEG (a TCP header whose checksum is zero, then its payload) from
    SIP to DIP (4 bytes each) in an IPv4 packet (identification IDENT,
    DF, TTL 64) in an Ethernet frame: both checksums filled."""
    pseudo = sip + dip + struct.pack("!BBH", 0, 6, len(seg))
    seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), ident & 0xFFFF,
                     0x4000, 64, 6, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + seg
