
use builtin;
use str;

set edit:completion:arg-completer[nettool] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'nettool'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'nettool'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand arp 'Resolve IPv4 addresses to MAC addresses with ARP, through a soft-state cache'
            cand handshake 'Open a TCP connection with a hand-driven three-way handshake, printing every segment and state'
            cand close 'Open a TCP connection and close it with the four-way handshake, printing every state'
            cand nc 'netcat on nettool''s own TCP engine: stdin to the peer, the peer to stdout'
            cand probe 'Send hand-made TCP segments and report every answer (hping3-style)'
            cand scan 'SYN-scan a host''s TCP ports: open, closed or filtered'
            cand trace 'Trace the path to a TCP port: SYNs with TTL 1, 2, …, each router''s ICMP time exceeded shown'
            cand lab 'A disposable virtual LAN to try nettool on: a network namespace with hosts answered by Linux'
            cand ladder 'Draw one TCP connection of a saved capture as a ladder diagram'
            cand plot 'Draw the time–sequence graph of one TCP connection of a saved capture, as SVG'
            cand generate 'Write the man pages and shell completions (for packagers and the test suite)'
            cand impair 'A seeded, counting, faulty wire between two interfaces, for fault-injection tests'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nettool;arp'= {
            cand -i 'Interface to use (default: the one the kernel routes ADDRESS through)'
            cand -I 'Interface to use (default: the one the kernel routes ADDRESS through)'
            cand --interface 'Interface to use (default: the one the kernel routes ADDRESS through)'
            cand -s 'Source IPv4 address for requests (default: the route''s preferred source)'
            cand --source 'Source IPv4 address for requests (default: the route''s preferred source)'
            cand -c 'Send exactly N requests, one per --interval, and show every reply (always asks the wire)'
            cand --count 'Send exactly N requests, one per --interval, and show every reply (always asks the wire)'
            cand -w 'How long to wait for a reply after the last request [default: 1s]'
            cand -W 'How long to wait for a reply after the last request [default: 1s]'
            cand --wait 'How long to wait for a reply after the last request [default: 1s]'
            cand --timeout 'How long to wait for a reply after the last request [default: 1s]'
            cand --interval 'Time between requests to the same address [default: 1s; 300ms in a sweep]'
            cand --ttl 'How long a learned entry stays fresh; it is re-validated for 3×TTL more, then expires'
            cand --rate 'Sweep: at most this many requests per second'
            cand --retries 'Sweep: requests to repeat for an address that has not answered'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --no-cache 'Ask the wire even when the cache holds a fresh entry'
            cand --show 'List the cache with ages and states, and exit'
            cand --flush 'Empty the cache, and exit'
            cand -D 'Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS'
            cand --dad 'Duplicate address detection (RFC 5227): probe from 0.0.0.0; exit 1 if someone owns ADDRESS'
            cand -U 'Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours'' caches)'
            cand --announce 'Announce ADDRESS as ours with gratuitous ARP requests (updates neighbours'' caches)'
            cand -A 'Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies)'
            cand --announce-reply 'Like --announce, with gratuitous replies (as `arping -A`; with -U too, replies)'
            cand --json 'Print one JSON object per line for each reply and event'
            cand -q 'Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show)'
            cand --quiet 'Print only the MAC address (`ADDRESS MAC` per line where many answer: a sweep, --show)'
            cand -v 'Also print every ARP frame sent and received, tcpdump-style, on stderr'
            cand --verbose 'Also print every ARP frame sent and received, tcpdump-style, on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;handshake'= {
            cand -i 'Interface to use (default: the one the kernel routes HOST through)'
            cand -I 'Interface to use (default: the one the kernel routes HOST through)'
            cand --interface 'Interface to use (default: the one the kernel routes HOST through)'
            cand -s 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand --source 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand -p 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --source-port 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --sport 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --retries 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)'
            cand --data 'Data to send once the connection is open (escapes: \r \n \t \\ \xHH)'
            cand --linger 'How long the peer must stay quiet before nettool ends the connection'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --observe 'With --no-ack: how long to watch'
            cand --ack-delay 'Send the third ACK this long after the SYN-ACK'
            cand -S 'Print absolute sequence numbers (tcpdump -S); relative by default'
            cand --absolute 'Print absolute sequence numbers (tcpdump -S); relative by default'
            cand --json 'Print one JSON object per line for each segment, state change and result'
            cand --ladder 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event'
            cand --ascii 'With --ladder: ASCII characters only, whatever the locale'
            cand --no-ack 'Withhold the third ACK and watch the server retransmit its SYN-ACK, then reset'
            cand --graceful 'Release the open connection with a four-way close instead of a RST'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;close'= {
            cand -i 'Interface to use (default: the one the kernel routes HOST through)'
            cand -I 'Interface to use (default: the one the kernel routes HOST through)'
            cand --interface 'Interface to use (default: the one the kernel routes HOST through)'
            cand -s 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand --source 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand -p 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --source-port 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --sport 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --retries 'SYN retransmissions before giving up (after 1 s, 2 s, 4 s, …)'
            cand --data 'Data to send once the connection is open (escapes: \r \n \t \\ \xHH)'
            cand --linger 'How long the peer must stay quiet before nettool ends the connection'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --time-wait 'How long TIME-WAIT lasts (2×MSL; RFC 9293 suggests 4 min, Linux uses 60 s)'
            cand -S 'Print absolute sequence numbers (tcpdump -S); relative by default'
            cand --absolute 'Print absolute sequence numbers (tcpdump -S); relative by default'
            cand --json 'Print one JSON object per line for each segment, state change and result'
            cand --ladder 'Draw the exchange as a ladder diagram (segments and states) instead of one line per event'
            cand --ascii 'With --ladder: ASCII characters only, whatever the locale'
            cand --passive 'Let the peer close first (after --data, e.g. an HTTP/1.0 request); if it has not within --linger, nettool closes first and says so (exit 1 if it sent nothing)'
            cand --half-close 'Send our FIN right after --data and keep reading in FIN-WAIT-2'
            cand --abort 'Reset the connection instead of closing it'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;nc'= {
            cand -w 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long'
            cand -W 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long'
            cand --wait 'Give up if the connection does not open (each port''s wait, with -z), or stays idle, this long'
            cand --user-timeout 'Give up when sent data stays unacknowledged this long (RFC 9293''s USER TIMEOUT); without it, nettool retries 15 times with backoff, as Linux does (many minutes against a dead path)'
            cand --quit-after 'After the end of stdin, wait at most this long for the peer to close, then quit (netcat''s `-q SECS`; in nettool `-q` means quiet, in every command)'
            cand -s 'Source address'
            cand --source 'Source address'
            cand -p 'Source port'
            cand --source-port 'Source port'
            cand --sport 'Source port'
            cand -i 'Interface to use'
            cand -I 'Interface to use'
            cand --interface 'Interface to use'
            cand --cc 'Congestion control for what nettool sends'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand -l 'Listen for a connection instead of connecting'
            cand --listen 'Listen for a connection instead of connecting'
            cand -k 'With -l: accept another connection after each one ends'
            cand --keep-open 'With -l: accept another connection after each one ends'
            cand -z 'Report whether the port(s) accept a connection; send no data'
            cand --zero-io 'Report whether the port(s) accept a connection; send no data'
            cand -v 'States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control'
            cand --verbose 'States and a summary on stderr: bytes each way (and on the wire, where they differ), throughput, retransmissions, kernel drops, duration, the congestion control'
            cand --trace 'Every segment, tcpdump-style, on stderr'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;probe'= {
            cand --dport 'Destination port(s), instead of :PORT (default 80). Probes go to them in turn'
            cand -i 'Interface (default: the one the kernel routes HOST through)'
            cand -I 'Interface (default: the one the kernel routes HOST through)'
            cand --interface 'Interface (default: the one the kernel routes HOST through)'
            cand -s 'Source address (one the kernel does not own keeps it out entirely)'
            cand --source 'Source address (one the kernel does not own keeps it out entirely)'
            cand -p 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --source-port 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --sport 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --flags 'TCP flags as letters: F S R P A U E C (e.g. SA, FPU, none), or the flags byte (0x12)'
            cand --seq 'Sequence number (default: a random one per probe)'
            cand --ack 'Acknowledgment number (sent with the ACK flag)'
            cand --win 'Window'
            cand --urg-ptr 'Urgent pointer'
            cand --ttl 'IP time to live'
            cand --id 'IP identification (default: counting up from a random start; 0x1234 works)'
            cand --tos 'IP type of service byte (DSCP and ECN; 0x10 works)'
            cand --mss 'MSS option'
            cand --ts 'Timestamps option: VAL, or VAL:ECR'
            cand --wscale 'Window scale option'
            cand --tcp-option 'A raw option, KIND:HEX (its body without kind and length; 1 is NOP, 0 EOL); repeatable, in order'
            cand --data 'Payload (escapes: \r \n \t \\ \0 \xHH)'
            cand --data-file 'Payload read from a file'
            cand --data-len 'A payload of N ''X'' bytes'
            cand -c 'Probes to send (default: until Ctrl-C)'
            cand --count 'Probes to send (default: until Ctrl-C)'
            cand --interval 'Spacing of probes (down to microseconds: 100us)'
            cand -w 'How long each probe waits for its answer'
            cand -W 'How long each probe waits for its answer'
            cand --wait 'How long each probe waits for its answer'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --sport-inc 'Each probe from the next source port (wrapping back after 65535)'
            cand -S 'SYN'
            cand --syn 'SYN'
            cand -A 'ACK'
            cand --ack-flag 'ACK'
            cand -F 'FIN'
            cand --fin 'FIN'
            cand -R 'RST'
            cand --rst 'RST'
            cand -P 'PSH'
            cand --psh 'PSH'
            cand -U 'URG'
            cand --urg 'URG'
            cand --ece 'ECE (ECN echo)'
            cand --cwr 'CWR (congestion window reduced)'
            cand --df 'Set IP''s don''t-fragment bit'
            cand --sack-perm 'SACK-permitted option'
            cand --nop 'NOP options (repeat for more), placed before the window scale'
            cand --eol 'End the options with EOL'
            cand --badsum 'Write a TCP checksum that does not verify'
            cand --flood 'Send as fast as the link allows; print only the summary'
            cand -v 'Also print every probe sent'
            cand --verbose 'Also print every probe sent'
            cand --json 'One JSON object per line'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;scan'= {
            cand -i 'Interface (default: the one the kernel routes HOST through)'
            cand -I 'Interface (default: the one the kernel routes HOST through)'
            cand --interface 'Interface (default: the one the kernel routes HOST through)'
            cand -s 'Source address'
            cand --source 'Source address'
            cand -p 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --source-port 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --sport 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --rate 'A fixed rate: exactly PPS SYNs per second, retries included, whatever the path does (default: adaptive, between --min-rate and --max-rate)'
            cand --max-rate 'The adaptive rate''s ceiling, SYNs per second'
            cand --min-rate 'The adaptive rate''s floor: however many answers are lost, never slower than this'
            cand --concurrency 'Ports waiting for an answer at once, at most'
            cand --retries 'More SYNs for a silent port (an adaptive scan adds up to 4 on a path that loses SYNs)'
            cand -w 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout'
            cand -W 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout'
            cand --wait 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout'
            cand --timeout 'How long each SYN waits for its answer, at most; once answers come, the wait follows their round trips (SRTT + 4 × RTTVAR), down to --min-timeout'
            cand --min-timeout 'The shortest wait for an answer'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --all 'List every port, closed ones too'
            cand --json 'One JSON object per line: a port line per port, then the result'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;trace'= {
            cand -i 'Interface to use (default: the one the kernel routes HOST through)'
            cand -I 'Interface to use (default: the one the kernel routes HOST through)'
            cand --interface 'Interface to use (default: the one the kernel routes HOST through)'
            cand -s 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand --source 'Source address. One the kernel does not own keeps the kernel out of the flow entirely: nettool then answers ARP for it itself'
            cand -p 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --source-port 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --sport 'Source port (default: a free ephemeral port, reserved from the kernel)'
            cand --cache-file 'ARP cache file [default: /var/cache/nettool/arp-cache.json for root]'
            cand -f 'TTL of the first hop probed'
            cand --first-ttl 'TTL of the first hop probed'
            cand -m 'Largest TTL tried before giving up'
            cand --max-ttl 'Largest TTL tried before giving up'
            cand --queries 'Probes per hop (traceroute''s `-q`; in nettool `-q` means quiet, in every command)'
            cand -w 'How long each probe waits for its answer'
            cand -W 'How long each probe waits for its answer'
            cand --wait 'How long each probe waits for its answer'
            cand --pcap 'Write every frame nettool sends and receives to FILE, in pcap format (tcpdump -r FILE)'
            cand --json 'Print one JSON object per line for each probe and the result'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab'= {
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand up 'Create the lab'
            cand down 'Remove the lab and everything it runs'
            cand status 'Show the lab''s interfaces and addresses'
            cand demo 'Bring up a temporary lab, run nettool against it with real output, and take it down'
            cand serve 'Run the lab''s TCP services in the lab''s namespace until SIGTERM (started by `lab up`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nettool;lab;up'= {
            cand --name 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)'
            cand --subnet 'Subnet of the lab; this host takes its first address, the peers the following ones'
            cand --hosts 'Number of peer addresses answered in the lab'
            cand --no-services 'A bare lab: no TCP services (HTTP on 80, echo on 7, trickle on 19, filtered port 82)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab;down'= {
            cand --name 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab;status'= {
            cand --name 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)'
            cand --json 'Print JSON lines (start, the lab, result; see README "JSON output")'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab;demo'= {
            cand --name 'Name of the temporary lab'
            cand --subnet 'Subnet of the temporary lab'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab;serve'= {
            cand --name 'Name of the lab (namespace nettool-NAME, interface ntl-NAME)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;lab;help'= {
            cand up 'Create the lab'
            cand down 'Remove the lab and everything it runs'
            cand status 'Show the lab''s interfaces and addresses'
            cand demo 'Bring up a temporary lab, run nettool against it with real output, and take it down'
            cand serve 'Run the lab''s TCP services in the lab''s namespace until SIGTERM (started by `lab up`)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nettool;lab;help;up'= {
        }
        &'nettool;lab;help;down'= {
        }
        &'nettool;lab;help;status'= {
        }
        &'nettool;lab;help;demo'= {
        }
        &'nettool;lab;help;serve'= {
        }
        &'nettool;lab;help;help'= {
        }
        &'nettool;ladder'= {
            cand --conn 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT'
            cand --ascii 'Draw with ASCII characters only, whatever the locale'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;plot'= {
            cand -o 'Where to write the SVG ("-" for standard output)'
            cand --output 'Where to write the SVG ("-" for standard output)'
            cand --conn 'The connection to draw: a port either end uses, or ADDR:PORT-ADDR:PORT'
            cand --dir 'The direction whose data to draw (a is the connection''s opener); default: the one that carried more'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;generate'= {
            cand --out-dir 'Directory to write man/ and completions/ into'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;impair'= {
            cand --left 'Interface of the left side'
            cand --right 'Interface of the right side'
            cand --seed 'Seed of the decisions (one generator per direction, both derived from it)'
            cand --loss 'Probability of dropping a TCP frame'
            cand --dup 'Probability of sending a TCP frame twice'
            cand --reorder 'Probability of holding a TCP frame back so that later ones overtake it'
            cand --corrupt 'Probability of flipping one bit (payload, or the checksum of an empty segment)'
            cand --delay 'Fixed delay added to every TCP frame'
            cand --reorder-after 'A held frame is released after this many later frames have overtaken it…'
            cand --reorder-hold '…or after this long, whichever comes first'
            cand --blackhole-after 'Start a blackhole this long after the relay starts'
            cand --blackhole-for 'How long a blackhole lasts [default: for ever, or until the next SIGUSR1]'
            cand --stats 'Keep the counters in this file (JSON), rewritten while running and at exit'
            cand --trace 'Write one line per decision (drop, duplicate, corrupt, hold, release, blackhole) to FILE'
            cand --blackhole-all 'A blackhole swallows every frame (ARP too), not only IPv4/TCP'
            cand --keep-offloads 'Leave the interfaces'' offloads alone (default: turn them off)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'nettool;help'= {
            cand arp 'Resolve IPv4 addresses to MAC addresses with ARP, through a soft-state cache'
            cand handshake 'Open a TCP connection with a hand-driven three-way handshake, printing every segment and state'
            cand close 'Open a TCP connection and close it with the four-way handshake, printing every state'
            cand nc 'netcat on nettool''s own TCP engine: stdin to the peer, the peer to stdout'
            cand probe 'Send hand-made TCP segments and report every answer (hping3-style)'
            cand scan 'SYN-scan a host''s TCP ports: open, closed or filtered'
            cand trace 'Trace the path to a TCP port: SYNs with TTL 1, 2, …, each router''s ICMP time exceeded shown'
            cand lab 'A disposable virtual LAN to try nettool on: a network namespace with hosts answered by Linux'
            cand ladder 'Draw one TCP connection of a saved capture as a ladder diagram'
            cand plot 'Draw the time–sequence graph of one TCP connection of a saved capture, as SVG'
            cand generate 'Write the man pages and shell completions (for packagers and the test suite)'
            cand impair 'A seeded, counting, faulty wire between two interfaces, for fault-injection tests'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'nettool;help;arp'= {
        }
        &'nettool;help;handshake'= {
        }
        &'nettool;help;close'= {
        }
        &'nettool;help;nc'= {
        }
        &'nettool;help;probe'= {
        }
        &'nettool;help;scan'= {
        }
        &'nettool;help;trace'= {
        }
        &'nettool;help;lab'= {
            cand up 'Create the lab'
            cand down 'Remove the lab and everything it runs'
            cand status 'Show the lab''s interfaces and addresses'
            cand demo 'Bring up a temporary lab, run nettool against it with real output, and take it down'
            cand serve 'Run the lab''s TCP services in the lab''s namespace until SIGTERM (started by `lab up`)'
        }
        &'nettool;help;lab;up'= {
        }
        &'nettool;help;lab;down'= {
        }
        &'nettool;help;lab;status'= {
        }
        &'nettool;help;lab;demo'= {
        }
        &'nettool;help;lab;serve'= {
        }
        &'nettool;help;ladder'= {
        }
        &'nettool;help;plot'= {
        }
        &'nettool;help;generate'= {
        }
        &'nettool;help;impair'= {
        }
        &'nettool;help;help'= {
        }
    ]
    $completions[$command]
}
