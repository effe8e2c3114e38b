
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'nettool' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'nettool'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'nettool' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('arp', 'arp', [CompletionResultType]::ParameterValue, 'Resolve IPv4 addresses to MAC addresses with ARP, through a soft-state cache')
            [CompletionResult]::new('handshake', 'handshake', [CompletionResultType]::ParameterValue, 'Open a TCP connection with a hand-driven three-way handshake, printing every segment and state')
            [CompletionResult]::new('close', 'close', [CompletionResultType]::ParameterValue, 'Open a TCP connection and close it with the four-way handshake, printing every state')
            [CompletionResult]::new('nc', 'nc', [CompletionResultType]::ParameterValue, 'netcat on nettool''s own TCP engine: stdin to the peer, the peer to stdout')
            [CompletionResult]::new('probe', 'probe', [CompletionResultType]::ParameterValue, 'Send hand-made TCP segments and report every answer (hping3-style)')
            [CompletionResult]::new('scan', 'scan', [CompletionResultType]::ParameterValue, 'SYN-scan hosts'' TCP ports: open, closed or filtered')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Trace the path to a TCP port: SYNs with TTL 1, 2, …, each router''s ICMP time exceeded shown')
            [CompletionResult]::new('lab', 'lab', [CompletionResultType]::ParameterValue, 'A disposable virtual LAN to try nettool on: a network namespace with hosts answered by Linux')
            [CompletionResult]::new('ladder', 'ladder', [CompletionResultType]::ParameterValue, 'Draw one TCP connection of a saved capture as a ladder diagram')
            [CompletionResult]::new('plot', 'plot', [CompletionResultType]::ParameterValue, 'Draw the time–sequence graph of one TCP connection of a saved capture, as SVG')
            break
        }
        'nettool;arp' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes ADDRESS through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes ADDRESS through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes ADDRESS through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source IPv4 address for requests (default: the route''s preferred source)')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source IPv4 address for requests (default: the route''s preferred source)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Send exactly N requests, one per --interval, and show every reply (always asks the wire)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Send exactly N requests, one per --interval, and show every reply (always asks the wire)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'How long to wait for a reply after the last request [default: 1s]')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'How long to wait for a reply after the last request [default: 1s]')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long to wait for a reply after the last request [default: 1s]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long to wait for a reply after the last request [default: 1s]')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between requests to the same address [default: 1s; 300ms in a sweep]')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'How long a learned entry stays fresh; it is re-validated for 3×TTL more, then expires')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Sweep: at most this many requests per second')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'Sweep: requests to repeat for an address that has not answered')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--no-cache', '--no-cache', [CompletionResultType]::ParameterName, 'Ask the wire even when the cache holds a fresh entry')
            [CompletionResult]::new('--show', '--show', [CompletionResultType]::ParameterName, 'List the cache with ages and states, and exit')
            [CompletionResult]::new('--flush', '--flush', [CompletionResultType]::ParameterName, 'Empty the cache, and exit')
            [CompletionResult]::new('-D', '-D ', [CompletionResultType]::ParameterName, 'Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS')
            [CompletionResult]::new('--dad', '--dad', [CompletionResultType]::ParameterName, 'Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS')
            [CompletionResult]::new('-U', '-U ', [CompletionResultType]::ParameterName, 'Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours'' caches)')
            [CompletionResult]::new('--announce', '--announce', [CompletionResultType]::ParameterName, 'Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours'' caches)')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies)')
            [CompletionResult]::new('--announce-reply', '--announce-reply', [CompletionResultType]::ParameterName, 'Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line for each reply and event')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show)')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also print every ARP frame sent and received, tcpdump-style, on stderr')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also print every ARP frame sent and received, tcpdump-style, on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;handshake' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Data to send once the connection is open (escapes: \r \n \t \\ \xHH)')
            [CompletionResult]::new('--linger', '--linger', [CompletionResultType]::ParameterName, 'How long the peer must stay quiet before nettool ends the connection')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('--observe', '--observe', [CompletionResultType]::ParameterName, 'With --no-ack: how long to watch')
            [CompletionResult]::new('--ack-delay', '--ack-delay', [CompletionResultType]::ParameterName, 'Send the third ACK this long after the SYN-ACK')
            [CompletionResult]::new('-S', '-S ', [CompletionResultType]::ParameterName, 'Print absolute sequence numbers (tcpdump -S); relative by default')
            [CompletionResult]::new('--absolute', '--absolute', [CompletionResultType]::ParameterName, 'Print absolute sequence numbers (tcpdump -S); relative by default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line for each segment, state change and result')
            [CompletionResult]::new('--ladder', '--ladder', [CompletionResultType]::ParameterName, 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'With --ladder: ASCII characters only, whatever the locale')
            [CompletionResult]::new('--no-ack', '--no-ack', [CompletionResultType]::ParameterName, 'Withhold the third ACK and watch the server retransmit its SYN-ACK, then reset')
            [CompletionResult]::new('--graceful', '--graceful', [CompletionResultType]::ParameterName, 'Release the open connection with a four-way close instead of a RST')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;close' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Data to send once the connection is open (escapes: \r \n \t \\ \xHH)')
            [CompletionResult]::new('--linger', '--linger', [CompletionResultType]::ParameterName, 'How long the peer must stay quiet before nettool ends the connection')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('--time-wait', '--time-wait', [CompletionResultType]::ParameterName, 'How long TIME-WAIT lasts (2×MSL; RFC 9293 suggests 4 min, Linux uses 60 s)')
            [CompletionResult]::new('-S', '-S ', [CompletionResultType]::ParameterName, 'Print absolute sequence numbers (tcpdump -S); relative by default')
            [CompletionResult]::new('--absolute', '--absolute', [CompletionResultType]::ParameterName, 'Print absolute sequence numbers (tcpdump -S); relative by default')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line for each segment, state change and result')
            [CompletionResult]::new('--ladder', '--ladder', [CompletionResultType]::ParameterName, 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'With --ladder: ASCII characters only, whatever the locale')
            [CompletionResult]::new('--passive', '--passive', [CompletionResultType]::ParameterName, 'Let the peer close first (after --data, e.g. an HTTP/1.0 request); if it has not within --linger, nettool closes first and says so (exit 1 if it sent nothing)')
            [CompletionResult]::new('--half-close', '--half-close', [CompletionResultType]::ParameterName, 'Send our FIN right after --data and keep reading in FIN-WAIT-2')
            [CompletionResult]::new('--abort', '--abort', [CompletionResultType]::ParameterName, 'Reset the connection instead of closing it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;nc' {
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long')
            [CompletionResult]::new('--user-timeout', '--user-timeout', [CompletionResultType]::ParameterName, 'Give up when sent data stays unacknowledged this long (RFC 9293''s USER TIMEOUT); without it, nettool retries 15 times with backoff, as Linux does (many minutes against a dead path)')
            [CompletionResult]::new('--quit-after', '--quit-after', [CompletionResultType]::ParameterName, 'After the end of stdin, wait at most this long for the peer to close, then quit (netcat''s `-q SECS`; in nettool `-q` means quiet, in every command)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use')
            [CompletionResult]::new('--cc', '--cc', [CompletionResultType]::ParameterName, 'Congestion control for what nettool sends')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Listen for a connection instead of connecting')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Listen for a connection instead of connecting')
            [CompletionResult]::new('-k', '-k', [CompletionResultType]::ParameterName, 'With -l: accept another connection after each one ends')
            [CompletionResult]::new('--keep-open', '--keep-open', [CompletionResultType]::ParameterName, 'With -l: accept another connection after each one ends')
            [CompletionResult]::new('-z', '-z', [CompletionResultType]::ParameterName, 'Report whether the port(s) accept a connection; send no data')
            [CompletionResult]::new('--zero-io', '--zero-io', [CompletionResultType]::ParameterName, 'Report whether the port(s) accept a connection; send no data')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Every segment, tcpdump-style, on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'nettool;probe' {
            [CompletionResult]::new('--dport', '--dport', [CompletionResultType]::ParameterName, 'Destination port(s) for every target, instead of :PORTS (default 80). Probes go to them in turn')
            [CompletionResult]::new('--input-list', '--input-list', [CompletionResultType]::ParameterName, 'Read targets from FILE too (white space between them, # starts a comment; - is stdin); -iL FILE as nmap spells it')
            [CompletionResult]::new('--max-targets', '--max-targets', [CompletionResultType]::ParameterName, 'Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for a /24 would run for hours')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--flags', '--flags', [CompletionResultType]::ParameterName, 'TCP flags as letters: F S R P A U E C (e.g. SA, FPU, none), or the flags byte (0x12)')
            [CompletionResult]::new('--seq', '--seq', [CompletionResultType]::ParameterName, 'Sequence number (default: a random one per probe)')
            [CompletionResult]::new('--ack', '--ack', [CompletionResultType]::ParameterName, 'Acknowledgment number (sent with the ACK flag)')
            [CompletionResult]::new('--win', '--win', [CompletionResultType]::ParameterName, 'Window')
            [CompletionResult]::new('--urg-ptr', '--urg-ptr', [CompletionResultType]::ParameterName, 'Urgent pointer')
            [CompletionResult]::new('--ttl', '--ttl', [CompletionResultType]::ParameterName, 'IP time to live')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'IP identification (default: counting up from a random start; 0x1234 works)')
            [CompletionResult]::new('--tos', '--tos', [CompletionResultType]::ParameterName, 'IP type of service byte (DSCP and ECN; 0x10 works)')
            [CompletionResult]::new('--mss', '--mss', [CompletionResultType]::ParameterName, 'MSS option')
            [CompletionResult]::new('--ts', '--ts', [CompletionResultType]::ParameterName, 'Timestamps option: VAL, or VAL:ECR')
            [CompletionResult]::new('--wscale', '--wscale', [CompletionResultType]::ParameterName, 'Window scale option')
            [CompletionResult]::new('--tcp-option', '--tcp-option', [CompletionResultType]::ParameterName, 'A raw option, KIND:HEX (its body without kind and length; 1 is NOP, 0 EOL); repeatable, in order')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Payload (escapes: \r \n \t \\ \0 \xHH)')
            [CompletionResult]::new('--data-file', '--data-file', [CompletionResultType]::ParameterName, 'Payload read from a file')
            [CompletionResult]::new('--data-len', '--data-len', [CompletionResultType]::ParameterName, 'A payload of N ''X'' bytes')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Probes to send to each target (default: until Ctrl-C; 1 when there are several targets)')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Probes to send to each target (default: until Ctrl-C; 1 when there are several targets)')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Spacing of probes (down to microseconds: 100us)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('--no-discovery', '--no-discovery', [CompletionResultType]::ParameterName, 'Take every address of a subnet, without first asking which answer ARP (on the local link, an address nobody answers for is otherwise left out); -Pn as nmap spells it')
            [CompletionResult]::new('--sport-inc', '--sport-inc', [CompletionResultType]::ParameterName, 'Each probe from the next source port (wrapping back after 65535)')
            [CompletionResult]::new('-S', '-S ', [CompletionResultType]::ParameterName, 'SYN')
            [CompletionResult]::new('--syn', '--syn', [CompletionResultType]::ParameterName, 'SYN')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'ACK')
            [CompletionResult]::new('--ack-flag', '--ack-flag', [CompletionResultType]::ParameterName, 'ACK')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'FIN')
            [CompletionResult]::new('--fin', '--fin', [CompletionResultType]::ParameterName, 'FIN')
            [CompletionResult]::new('-R', '-R ', [CompletionResultType]::ParameterName, 'RST')
            [CompletionResult]::new('--rst', '--rst', [CompletionResultType]::ParameterName, 'RST')
            [CompletionResult]::new('-P', '-P ', [CompletionResultType]::ParameterName, 'PSH')
            [CompletionResult]::new('--psh', '--psh', [CompletionResultType]::ParameterName, 'PSH')
            [CompletionResult]::new('-U', '-U ', [CompletionResultType]::ParameterName, 'URG')
            [CompletionResult]::new('--urg', '--urg', [CompletionResultType]::ParameterName, 'URG')
            [CompletionResult]::new('--ece', '--ece', [CompletionResultType]::ParameterName, 'ECE (ECN echo)')
            [CompletionResult]::new('--cwr', '--cwr', [CompletionResultType]::ParameterName, 'CWR (congestion window reduced)')
            [CompletionResult]::new('--df', '--df', [CompletionResultType]::ParameterName, 'Set IP''s don''t-fragment bit')
            [CompletionResult]::new('--sack-perm', '--sack-perm', [CompletionResultType]::ParameterName, 'SACK-permitted option')
            [CompletionResult]::new('--nop', '--nop', [CompletionResultType]::ParameterName, 'NOP options (repeat for more), placed before the window scale')
            [CompletionResult]::new('--eol', '--eol', [CompletionResultType]::ParameterName, 'End the options with EOL')
            [CompletionResult]::new('--badsum', '--badsum', [CompletionResultType]::ParameterName, 'Write a TCP checksum that does not verify')
            [CompletionResult]::new('--flood', '--flood', [CompletionResultType]::ParameterName, 'Send as fast as the link allows; print only the summary')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Also print every probe sent')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Also print every probe sent')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per line')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;scan' {
            [CompletionResult]::new('--ports', '--ports', [CompletionResultType]::ParameterName, 'The ports, for every target, when the operands are all targets [default: 1-1024 and well-known higher ones, see the README]')
            [CompletionResult]::new('--input-list', '--input-list', [CompletionResultType]::ParameterName, 'Read targets from FILE too (white space between them, # starts a comment; - is stdin); -iL FILE as nmap spells it')
            [CompletionResult]::new('--max-targets', '--max-targets', [CompletionResultType]::ParameterName, 'Refuse a run of more target addresses than N (a subnet counts its hosts): a /16 typed for a /24 would run for hours')
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'A fixed rate: exactly PPS SYNs per second, retries included, whatever the path does (default: adaptive, between --min-rate and --max-rate)')
            [CompletionResult]::new('--max-rate', '--max-rate', [CompletionResultType]::ParameterName, 'The adaptive rate''s ceiling, SYNs per second')
            [CompletionResult]::new('--min-rate', '--min-rate', [CompletionResultType]::ParameterName, 'The adaptive rate''s floor: however many answers are lost, never slower than this')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Ports waiting for an answer at once, at most')
            [CompletionResult]::new('--retries', '--retries', [CompletionResultType]::ParameterName, 'More SYNs for a silent port (an adaptive scan adds up to 4 on a path that loses SYNs)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout')
            [CompletionResult]::new('--min-timeout', '--min-timeout', [CompletionResultType]::ParameterName, 'The shortest wait for an answer')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('--no-discovery', '--no-discovery', [CompletionResultType]::ParameterName, 'Take every address of a subnet, without first asking which answer ARP (on the local link, an address nobody answers for is otherwise left out); -Pn as nmap spells it')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every port, closed ones too')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'One JSON object per line: a port line per port, then the result')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;trace' {
            [CompletionResult]::new('-i', '-i', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-I', '-I ', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('--interface', '--interface', [CompletionResultType]::ParameterName, 'Interface to use (default: the one the kernel routes HOST through)')
            [CompletionResult]::new('-s', '-s', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('--source', '--source', [CompletionResultType]::ParameterName, 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--source-port', '--source-port', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--sport', '--sport', [CompletionResultType]::ParameterName, 'Source port, a number or a service name (default: a free ephemeral port, reserved from the kernel)')
            [CompletionResult]::new('--cache-file', '--cache-file', [CompletionResultType]::ParameterName, 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'TTL of the first hop probed')
            [CompletionResult]::new('--first-ttl', '--first-ttl', [CompletionResultType]::ParameterName, 'TTL of the first hop probed')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Largest TTL tried before giving up')
            [CompletionResult]::new('--max-ttl', '--max-ttl', [CompletionResultType]::ParameterName, 'Largest TTL tried before giving up')
            [CompletionResult]::new('--queries', '--queries', [CompletionResultType]::ParameterName, 'Probes per hop (traceroute''s `-q`; in nettool `-q` means quiet, in every command)')
            [CompletionResult]::new('-w', '-w', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('-W', '-W ', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'How long each probe waits for its answer')
            [CompletionResult]::new('--pcap', '--pcap', [CompletionResultType]::ParameterName, 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'After the setup, run as NAME instead of nobody when started as root (tcpdump -Z)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print one JSON object per line for each probe and the result')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;lab' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('up', 'up', [CompletionResultType]::ParameterValue, 'Create the lab')
            [CompletionResult]::new('down', 'down', [CompletionResultType]::ParameterValue, 'Remove the lab and everything it runs')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the lab''s interfaces and addresses')
            [CompletionResult]::new('demo', 'demo', [CompletionResultType]::ParameterValue, 'Bring up a temporary lab, run nettool against it with real output, and take it down')
            break
        }
        'nettool;lab;up' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)')
            [CompletionResult]::new('--subnet', '--subnet', [CompletionResultType]::ParameterName, 'Subnet of the lab; this host takes its first address, the peers the following ones')
            [CompletionResult]::new('--hosts', '--hosts', [CompletionResultType]::ParameterName, 'Number of peer addresses answered in the lab')
            [CompletionResult]::new('--no-services', '--no-services', [CompletionResultType]::ParameterName, 'A bare lab: no TCP services (HTTP on 80, echo on 7, trickle on 19, filtered port 82)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;lab;down' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;lab;status' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON lines (start, the lab, result; see README "JSON output")')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;lab;demo' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name of the temporary lab')
            [CompletionResult]::new('--subnet', '--subnet', [CompletionResultType]::ParameterName, 'Subnet of the temporary lab')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;ladder' {
            [CompletionResult]::new('--conn', '--conn', [CompletionResultType]::ParameterName, 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT')
            [CompletionResult]::new('--ascii', '--ascii', [CompletionResultType]::ParameterName, 'Draw with ASCII characters only, whatever the locale')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'nettool;plot' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where to write the SVG ("-" for standard output)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where to write the SVG ("-" for standard output)')
            [CompletionResult]::new('--conn', '--conn', [CompletionResultType]::ParameterName, 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT')
            [CompletionResult]::new('--dir', '--dir', [CompletionResultType]::ParameterName, 'The direction whose data to draw (a is the connection''s opener); default: the one that carried more')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
