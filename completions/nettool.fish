# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_nettool_global_optspecs
    string join \n h/help V/version
end

function __fish_nettool_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_nettool_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_nettool_using_subcommand
    set -l cmd (__fish_nettool_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c nettool -n "__fish_nettool_needs_command" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_needs_command" -s V -l version -d 'Print version'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "arp" -d 'Resolve IPv4 addresses to MAC addresses with ARP, through a soft-state cache'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "ndp" -d 'Resolve IPv6 addresses to MAC addresses with Neighbor Discovery, through a NUD cache'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "handshake" -d 'Open a TCP connection with a hand-driven three-way handshake, printing every segment and state'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "close" -d 'Open a TCP connection and close it with the four-way handshake, printing every state'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "nc" -d 'netcat on nettool\'s own TCP engine: stdin to the peer, the peer to stdout'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "probe" -d 'Send hand-made TCP segments and report every answer (hping3-style)'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "ping" -d 'Send ICMP echo requests (ping), matched replies and RTT statistics: `probe --icmp`'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "scan" -d 'SYN-scan hosts\' TCP ports: open, closed or filtered'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "trace" -d 'Trace the path to a TCP port: SYNs with TTL 1, 2, …, each router\'s ICMP time exceeded shown'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "load" -d 'Open many TCP connections to one port, hold them, then close them'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "lab" -d 'A disposable virtual LAN to try nettool on: a network namespace with hosts answered by Linux'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "ladder" -d 'Draw one TCP connection of a saved capture as a ladder diagram'
complete -c nettool -n "__fish_nettool_needs_command" -f -a "plot" -d 'Draw the time–sequence graph of one TCP connection of a saved capture, as SVG'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes ADDRESS through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s s -l source -d 'Source IPv4 address for requests (default: the route\'s preferred source)' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s c -l count -d 'Send exactly N requests, one per --interval, and show every reply (always asks the wire)' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s w -s W -l wait -l timeout -d 'How long to wait for a reply after the last request [default: 1s]' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l interval -d 'Time between requests to the same address [default: 1s; 300ms in a sweep]' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l ttl -d 'How long a learned entry stays fresh; it is re-validated for 3×TTL more, then expires' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l rate -d 'Sweep: at most this many requests per second' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l retries -d 'Sweep: requests to repeat for an address that has not answered' -r
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l no-cache -d 'Ask the wire even when the cache holds a fresh entry'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l show -d 'List the cache with ages and states, and exit'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l flush -d 'Empty the cache, and exit'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s D -l dad -d 'Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s U -l announce -d 'Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours\' caches)'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s A -l announce-reply -d 'Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies)'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -l json -d 'Print one JSON object per line for each reply and event'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s q -l quiet -d 'Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show)'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s v -l verbose -d 'Also print every ARP frame sent and received, tcpdump-style, on stderr'
complete -c nettool -n "__fish_nettool_using_subcommand arp" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s i -s I -l interface -d 'Interface to use (default: the one whose IPv6 prefix holds ADDRESS)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s s -l source -d 'Source IPv6 address of solicitations and echoes (default: the interface\'s link-local address)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s c -l count -d 'Send exactly N solicitations (echoes with --all-nodes), one per --interval, and show every answer' -r
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s w -s W -l wait -l timeout -d 'How long to wait for an answer after the last solicitation [default: 1s]' -r
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l interval -d 'Time between solicitations [default: 1s, RFC 4861\'s RetransTimer]' -r
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l no-cache -d 'Ask the wire even when the cache holds a REACHABLE entry'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l show -d 'List the IPv6 entries of the cache with their NUD states, and exit'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l flush -d 'Empty the IPv6 entries of the cache, and exit'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s D -l dad -d 'Duplicate address detection (RFC 4862 §5.4): solicit from ::; exit 1 if someone owns ADDRESS'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s U -l announce -d 'Announce ADDRESS at our MAC with unsolicited advertisements to ff02::1 (O=1)'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l all-nodes -d 'Send an ICMPv6 echo to ff02::1 (every node on the link) and list who answers'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -l json -d 'Print one JSON object per line for each answer and event'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s q -l quiet -d 'Print only the MAC address (`ADDRESS MAC` per line where many answer: --all-nodes, --show)'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s v -l verbose -d 'Also print every frame sent and received, tcpdump-style, and every NUD state change, on stderr'
complete -c nettool -n "__fish_nettool_using_subcommand ndp" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s s -l source -d 'Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour solicitations, once duplicate address detection found it free). A link-local one needs -i' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s p -l source-port -l sport -d 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l retries -d 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l data -d 'Data to send once the connection is open (escapes: \\r \\n \\t \\\\ \\xHH)' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l linger -d 'How long the peer must stay quiet before nettool ends the connection' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l observe -d 'With --no-ack: how long to watch' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l ack-delay -d 'Send the third ACK this long after the SYN-ACK' -r
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s S -l absolute -d 'Print absolute sequence numbers (tcpdump -S); relative by default'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l json -d 'Print one JSON object per line for each segment, state change and result'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l ladder -d 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l ascii -d 'With --ladder: ASCII characters only, whatever the locale'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l no-ack -d 'Withhold the third ACK and watch the server retransmit its SYN-ACK, then reset'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -l graceful -d 'Release the open connection with a four-way close instead of a RST'
complete -c nettool -n "__fish_nettool_using_subcommand handshake" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand close" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand close" -s s -l source -d 'Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour solicitations, once duplicate address detection found it free). A link-local one needs -i' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -s p -l source-port -l sport -d 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand close" -l retries -d 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -l data -d 'Data to send once the connection is open (escapes: \\r \\n \\t \\\\ \\xHH)' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -l linger -d 'How long the peer must stay quiet before nettool ends the connection' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand close" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand close" -l time-wait -d 'How long TIME-WAIT lasts (2×MSL; RFC 9293 suggests 4 min, Linux uses 60 s)' -r
complete -c nettool -n "__fish_nettool_using_subcommand close" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand close" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand close" -s S -l absolute -d 'Print absolute sequence numbers (tcpdump -S); relative by default'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l json -d 'Print one JSON object per line for each segment, state change and result'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l ladder -d 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l ascii -d 'With --ladder: ASCII characters only, whatever the locale'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l passive -d 'Let the peer close first (after --data, e.g. an HTTP/1.0 request); if it has not within --linger, nettool closes first and says so (exit 1 if it sent nothing)'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l half-close -d 'Send our FIN right after --data and keep reading in FIN-WAIT-2'
complete -c nettool -n "__fish_nettool_using_subcommand close" -l abort -d 'Reset the connection instead of closing it'
complete -c nettool -n "__fish_nettool_using_subcommand close" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l max-datagram -d 'With -u: the largest datagram a read of stdin becomes (up to 65507 bytes), instead of the path\'s MTU. A longer datagram goes as IPv4 fragments, cut by nettool' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s w -s W -l wait -d 'Give up if the connection does not open (each port\'s wait, with -z), or stays idle, this long' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l user-timeout -d 'Give up when sent data stays unacknowledged this long (RFC 9293\'s USER TIMEOUT); without it, nettool retries 15 times with backoff, as Linux does (many minutes against a dead path)' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l quit-after -d 'After the end of stdin, wait at most this long for the peer to close, then quit (netcat\'s `-q SECS`; in nettool `-q` means quiet, in every command). With -u, how long to wait for replies after the end of stdin (default 1s; a listener keeps serving)' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s s -l source -d 'Source address, IPv4 or IPv6 as the peer is (see handshake\'s -s)' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s p -l source-port -l sport -d 'Source port' -r
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s i -s I -l interface -d 'Interface to use' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l cc -d 'Congestion control for what nettool sends' -r -f -a "cubic\t'RFC 9438: the window follows a cubic curve of the time since the last loss, and falls to 0.7 of the flight on one (Linux\'s default)'
reno\t'RFC 5681: one segment more per round trip, and half the flight on a loss'"
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l plot -d 'When the connection ends, write the time–sequence graph of the data it carried to FILE as SVG, with our congestion window, ssthresh, RTO and each retransmission\'s cause when the data was ours' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s l -l listen -d 'Listen for a connection instead of connecting'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s u -l udp -d 'UDP instead of TCP: each read of stdin is one datagram (cut at the path\'s MTU), each datagram received is written whole to stdout; an ICMP port unreachable ends the run at once. With -z: each port open (a reply), closed (ICMP port unreachable) or open|filtered'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s k -l keep-open -d 'With -l: accept another connection after each one ends (with -u: serve every peer, replying to the one heard last, instead of only the first)'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s z -l zero-io -d 'Report whether the port(s) accept a connection; send no data'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s v -l verbose -d 'States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l trace -d 'Every segment, tcpdump-style, on stderr'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l ladder -d 'When the connection ends, draw it on stderr as a ladder diagram (segments, our states, the peer\'s inferred); of a long one, the first 20 and last 10 segments and those that moved a state'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -l ascii -d 'With --ladder: ASCII characters only, whatever the locale'
complete -c nettool -n "__fish_nettool_using_subcommand nc" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l icmp-type -d 'The ICMP query to send: echo (8), timestamp (13) or mask (17, address mask). Over IPv6 echo only (ICMPv6 has no other query)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l icmp-code -d 'The ICMP code to write (0 for every query RFC 792 defines)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l icmp-id -d 'The ICMP identifier (default: a random one)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l dport -d 'Destination port(s) for every target, instead of :PORTS (default 80). Probes go to them in turn' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l input-list -d 'Read targets from FILE too (white space between them, # starts a comment; - is stdin); -iL FILE as nmap spells it' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l max-targets -d 'Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for a /24 would run for hours' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s s -l source -d 'Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour solicitations, once duplicate address detection found it free). A link-local one needs -i' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s p -l source-port -l sport -d 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l flags -d 'TCP flags as letters: F S R P A U E C (e.g. SA, FPU, none), or the flags byte (0x12)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l seq -d 'Sequence number (default: a random one per probe)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l ack -d 'Acknowledgment number (sent with the ACK flag)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l win -d 'Window' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l urg-ptr -d 'Urgent pointer' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l ttl -l hop-limit -d 'IP time to live; over IPv6 the hop limit (--hop-limit is the same option)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l id -d 'IP identification (default: counting up from a random start; 0x1234 works). IPv4 only' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l tos -l traffic-class -d 'IP type of service byte (DSCP and ECN; 0x10 works); over IPv6 the traffic class, the same bits (--traffic-class is the same option)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l flow-label -d 'IPv6 flow label, 20 bits (0 to 1048575, or 0xfffff). IPv6 only' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l mss -d 'MSS option' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l ts -d 'Timestamps option: VAL, or VAL:ECR' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l wscale -d 'Window scale option' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l tcp-option -d 'A raw option, KIND:HEX (its body without kind and length; 1 is NOP, 0 EOL); repeatable, in order' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l data -d 'Payload (escapes: \\r \\n \\t \\\\ \\0 \\xHH)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l data-file -d 'Payload read from a file' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l data-len -d 'A payload of N \'X\' bytes' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s c -l count -d 'Probes to send to each target (default: until Ctrl-C; 1 when there are several targets)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l interval -d 'Spacing of probes (down to microseconds: 100us)' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s w -s W -l wait -d 'How long each probe waits for its answer' -r
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l udp -d 'Send UDP datagrams (payload from --data, --data-file or --data-len) instead of TCP segments: a UDP answer means open, an ICMP port unreachable closed'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l icmp -d 'Send ICMP echo requests (ping), or the query --icmp-type names, instead of TCP segments'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l zero-checksum -d 'UDP: a zero checksum, "none computed", which IPv4 allows (IPv6 does not)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l no-discovery -d 'Take every address of a subnet, without first asking which answer ARP (on the local link, an address nobody answers for is otherwise left out); -Pn as nmap spells it'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l sport-inc -d 'Each probe from the next source port (wrapping back after 65535)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s S -l syn -d 'SYN'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s A -l ack-flag -d 'ACK'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s F -l fin -d 'FIN'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s R -l rst -d 'RST'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s P -l psh -d 'PSH'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s U -l urg -d 'URG'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l ece -d 'ECE (ECN echo)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l cwr -d 'CWR (congestion window reduced)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l df -d 'Set IP\'s don\'t-fragment bit. IPv4 only (IPv6 routers never fragment)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l sack-perm -d 'SACK-permitted option'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l nop -d 'NOP options (repeat for more), placed before the window scale'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l eol -d 'End the options with EOL'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l badsum -d 'Write a checksum that does not verify (TCP\'s, UDP\'s or ICMP\'s)'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l flood -d 'Send as fast as the link allows; print only the summary'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s v -l verbose -d 'Also print every probe sent'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -l json -d 'One JSON object per line'
complete -c nettool -n "__fish_nettool_using_subcommand probe" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l input-list -d 'Read targets from FILE too (white space between them, # starts a comment; - is stdin); -iL FILE as nmap spells it' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l max-targets -d 'Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for a /24 would run for hours' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s s -l source -d 'Source address (one the kernel does not own: nettool answers ARP, or over IPv6 neighbour solicitations, for it)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s c -l count -d 'Requests to send (default: until Ctrl-C)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l interval -d 'Spacing of requests (down to microseconds: 100us)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s w -s W -l wait -d 'How long each request waits for its reply' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l data-len -d 'Bytes of data after the ICMP header (ping\'s -s)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l ttl -l hop-limit -d 'IP time to live; over IPv6 the hop limit (--hop-limit is the same option)' -r
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l no-discovery -d 'Take every address of a subnet, without first asking which answer ARP (on the local link, an address nobody answers for is otherwise left out); -Pn as nmap spells it'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l flood -d 'As fast as the link allows; print only the summary'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s v -l verbose -d 'Also print every request sent'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -l json -d 'One JSON object per line'
complete -c nettool -n "__fish_nettool_using_subcommand ping" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l ports -d 'The ports, for every target, when the operands are all targets [default: 1-1024 and well-known higher ones, see the README]' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l input-list -d 'Read targets from FILE too (white space between them, # starts a comment; - is stdin); -iL FILE as nmap spells it' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l max-targets -d 'Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for a /24 would run for hours' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s s -l source -d 'Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour solicitations, once duplicate address detection found it free). A link-local one needs -i' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s p -l source-port -l sport -d 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l rate -d 'A fixed rate: exactly PPS SYNs per second, retries included, whatever the path does (default: adaptive, between --min-rate and --max-rate)' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l max-rate -d 'The adaptive rate\'s ceiling, SYNs per second' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l min-rate -d 'The adaptive rate\'s floor: however many answers are lost, never slower than this' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l concurrency -d 'Ports waiting for an answer at once, at most' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l retries -d 'More SYNs for a silent port (an adaptive scan adds up to 4 on a path that loses SYNs)' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s w -s W -l wait -l timeout -d 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l min-timeout -d 'The shortest wait for an answer' -r
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l no-discovery -d 'Take every address of a subnet, without first asking which answer ARP (on the local link, an address nobody answers for is otherwise left out); -Pn as nmap spells it'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l udp -d 'Scan UDP ports instead: open (a UDP answer), closed (ICMP port unreachable), filtered (another ICMP unreachable), open|filtered (silence). Exact against a peer that rate-limits its ICMP errors, at about one closed port per second against a default Linux host (ten over IPv6, whose errors Linux limits less)'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l all -d 'List every port, closed ones too'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -l json -d 'One JSON object per line: a port line per port, then the result'
complete -c nettool -n "__fish_nettool_using_subcommand scan" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s i -s I -l interface -d 'Interface to use (default: the one the kernel routes HOST through)' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s s -l source -d 'Source address, IPv4 or IPv6 as HOST is. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself (over IPv6, neighbour solicitations, once duplicate address detection found it free). A link-local one needs -i' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s p -l source-port -l sport -d 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s f -l first-ttl -d 'TTL (over IPv6 the hop limit) of the first hop probed' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s m -l max-ttl -d 'Largest TTL tried before giving up' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l queries -d 'Probes per hop (traceroute\'s `-q`; in nettool `-q` means quiet, in every command)' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s w -s W -l wait -d 'How long each probe waits for its answer' -r
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l udp -d 'Classic traceroute: UDP datagrams, each to the next port from PORT up (33434 by default); the destination answers port unreachable'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l icmp -d 'ICMP echo requests (traceroute -I); the destination answers with an echo reply'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -l json -d 'Print one JSON object per line for each probe and the result'
complete -c nettool -n "__fish_nettool_using_subcommand trace" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand load" -s c -l connections -d 'Connections to open in all' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l rate -d 'At most R new connections per second (R or R/s; default: as fast as the peer answers)' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l hold -d 'Hold the connections this long once all have opened or failed (default: until Ctrl-C)' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l keepalive -d 'TCP keepalive: a probe after SECS of silence, then every SECS (3 unanswered close it)' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l send -d 'Send TEXT on each connection once established (\\r, \\n and \\t are understood) and count the replies' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l close -d 'How to end the connections' -r -f -a "graceful\t'FIN each connection and wait (at most 5 s) for the peer\'s'
reset\t'RST each connection'
none\t'Leave them open on the peer: nettool exits without a word'"
complete -c nettool -n "__fish_nettool_using_subcommand load" -s s -l source -d 'Source address (default: the interface\'s); one the kernel does not own is answered for by nettool' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l sources -d 'Source addresses the kernel does not own, which nettool answers ARP (or, over IPv6, neighbour solicitations) for: a CIDR, or a comma-separated list of addresses and CIDRs; as many as N needs are taken (an IPv6 /64 is fine)' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -s i -s I -l interface -d 'Interface to use' -r -f
complete -c nettool -n "__fish_nettool_using_subcommand load" -s p -l first-port -l sport -d 'First source port: connections use it and the ports above it' -r
complete -c nettool -n "__fish_nettool_using_subcommand load" -l cache-file -d 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand load" -l pcap -d 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand load" -l user -d 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)' -r -f -a "(__fish_complete_users)"
complete -c nettool -n "__fish_nettool_using_subcommand load" -l json -d 'Print one JSON object per line: a progress object each second, then the result'
complete -c nettool -n "__fish_nettool_using_subcommand load" -s 4 -d 'IPv4 only: a host name resolves to its A records'
complete -c nettool -n "__fish_nettool_using_subcommand load" -s 6 -d 'IPv6 only: a host name resolves to its AAAA records'
complete -c nettool -n "__fish_nettool_using_subcommand load" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and not __fish_seen_subcommand_from up down status demo" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and not __fish_seen_subcommand_from up down status demo" -f -a "up" -d 'Create the lab'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and not __fish_seen_subcommand_from up down status demo" -f -a "down" -d 'Remove the lab and everything it runs'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and not __fish_seen_subcommand_from up down status demo" -f -a "status" -d 'Show the lab\'s interfaces and addresses'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and not __fish_seen_subcommand_from up down status demo" -f -a "demo" -d 'Bring up a temporary lab, run nettool against it with real output, and take it down'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from up" -l name -d 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from up" -l subnet -d 'Subnet of the lab; this host takes its first address, the peers the following ones' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from up" -l hosts -d 'Number of peer addresses answered in the lab' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from up" -l no-services -d 'A bare lab: no TCP services (HTTP on 80, echo on 7, trickle on 19, filtered port 82)'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from up" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from down" -l name -d 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from down" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from status" -l name -d 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from status" -l json -d 'Print JSON lines (start, the lab, result; see README "JSON output")'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from demo" -l name -d 'Name of the temporary lab' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from demo" -l subnet -d 'Subnet of the temporary lab' -r
complete -c nettool -n "__fish_nettool_using_subcommand lab; and __fish_seen_subcommand_from demo" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand ladder" -l conn -d 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT' -r
complete -c nettool -n "__fish_nettool_using_subcommand ladder" -l ascii -d 'Draw with ASCII characters only, whatever the locale'
complete -c nettool -n "__fish_nettool_using_subcommand ladder" -s h -l help -d 'Print help'
complete -c nettool -n "__fish_nettool_using_subcommand plot" -s o -l output -d 'Where to write the SVG ("-" for standard output)' -r -F
complete -c nettool -n "__fish_nettool_using_subcommand plot" -l conn -d 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT' -r
complete -c nettool -n "__fish_nettool_using_subcommand plot" -l dir -d 'The direction whose data to draw (a is the connection\'s opener); default: the one that carried more' -r -f -a "a2b\t'The data the opener (the sender of the SYN) sent'
b2a\t'The data the other end sent back'"
complete -c nettool -n "__fish_nettool_using_subcommand plot" -l time -d 'Draw only from START to END seconds after the connection\'s first segment (END may be left out: to the end), to zoom in on a long transfer' -r
complete -c nettool -n "__fish_nettool_using_subcommand plot" -s h -l help -d 'Print help (see more with \'--help\')'
