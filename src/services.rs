//! Service names where a port goes: `10.78.0.2:http`, `-p ssh`,
//! `scan HOST ftp-smtp`.
//!
//! Two sources, and which wins: a small built-in table of well-known
//! IANA names ([`BUILTIN`]) always answers for its own names, so `http`
//! is 80 and `ssh` 22 on every machine, whatever its `/etc/services`
//! holds (a script means the same thing everywhere, and tests do not
//! depend on the machine); every other name is looked up in
//! `/etc/services` (services(5)) when the file is there. A name found in
//! neither is an error that names it.
//!
//! The built-in table's ports above 1023 also fill out the default port
//! set of `nettool scan` ([`default_scan_ports`]).

use std::sync::OnceLock;

/// The transport a port belongs to: `/etc/services` lists names per
/// protocol (`bootps` is UDP only, `ssh` TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// Its name in `/etc/services` and in `80/tcp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Well-known service names and their ports, from IANA's Service Name
/// and Transport Protocol Port Number Registry (the names Debian's
/// `/etc/services` uses too). Each holds for TCP and UDP alike: IANA
/// assigns these numbers to both. Sorted by port.
pub const BUILTIN: &[(&str, u16)] = &[
    ("echo", 7),
    ("discard", 9),
    ("daytime", 13),
    ("chargen", 19),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("sunrpc", 111),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("bgp", 179),
    ("ldap", 389),
    ("https", 443),
    ("microsoft-ds", 445),
    ("submission", 587),
    ("ldaps", 636),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("ms-wbt-server", 3389),
    ("postgresql", 5432),
    ("rfb", 5900),
    ("redis", 6379),
    ("http-alt", 8080),
    ("memcache", 11211),
    ("mongodb", 27017),
];

/// Where the machine's service names are.
pub const SERVICES_FILE: &str = "/etc/services";

/// The port `name` stands for under `proto`: the built-in table first,
/// then `/etc/services`.
pub fn port(name: &str, proto: Proto) -> Result<u16, String> {
    port_in(name, proto, system_services())
}

/// [`port`], with `file` as the text of `/etc/services` (`None`: no
/// such file).
pub fn port_in(name: &str, proto: Proto, file: Option<&str>) -> Result<u16, String> {
    if let Some(&(_, p)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return Ok(p);
    }
    if let Some(p) = file.and_then(|text| lookup(text, name, proto)) {
        return Ok(p);
    }
    let where_ = if file.is_some() {
        format!("nettool's table nor {SERVICES_FILE}")
    } else {
        format!("nettool's table (and there is no {SERVICES_FILE})")
    };
    Err(format!(
        "{name:?} is not a port number (1 to 65535) nor a {} service name known to {where_}",
        proto.name()
    ))
}

/// The name of `port` under `proto`, for tables: the built-in table's
/// first name, then `/etc/services`'s.
pub fn name_of(port: u16, proto: Proto) -> Option<String> {
    if let Some(&(n, _)) = BUILTIN.iter().find(|(_, p)| *p == port) {
        return Some(n.to_owned());
    }
    system_services().and_then(|text| {
        entries(text)
            .find(|e| e.port == port && e.proto == proto.name())
            .map(|e| e.name.to_owned())
    })
}

/// One line of services(5): `name port/protocol [aliases ...] [# comment]`.
#[derive(Debug, PartialEq, Eq)]
struct Entry<'a> {
    name: &'a str,
    port: u16,
    proto: &'a str,
    aliases: Vec<&'a str>,
}

/// The entries of a services(5) file; lines that do not read as one
/// (a typo, a port out of range) are skipped, as the C library does.
fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let name = words.next()?;
        let (port, proto) = words.next()?.split_once('/')?;
        let port = port.parse::<u16>().ok().filter(|p| *p != 0)?;
        Some(Entry {
            name,
            port,
            proto,
            aliases: words.collect(),
        })
    })
}

/// `name` (or an alias) under `proto` in the services(5) text `text`.
fn lookup(text: &str, name: &str, proto: Proto) -> Option<u16> {
    entries(text)
        .find(|e| e.proto == proto.name() && (e.name == name || e.aliases.contains(&name)))
        .map(|e| e.port)
}

/// Reads `/etc/services` now, if it is to be read at all: a command
/// does it before it drops its privileges, after which no file can be
/// opened (see [`crate::privilege`]).
pub fn preload() {
    system_services();
}

/// `/etc/services`, read once per run (`None` when it cannot be read).
fn system_services() -> Option<&'static str> {
    static TEXT: OnceLock<Option<String>> = OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string(SERVICES_FILE).ok())
        .as_deref()
}

/// One port, written as a number or a service name. Port 0 is refused:
/// no service listens there and no packet may carry it.
pub fn parse_port(text: &str, proto: Proto) -> Result<u16, String> {
    parse_port_in(text, proto, system_services())
}

fn parse_port_in(text: &str, proto: Proto, file: Option<&str>) -> Result<u16, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a port is missing (a number from 1 to 65535, or a name: http)".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            format!(
                "{text:?} is not a {} port (1 to 65535)",
                proto.name().to_uppercase()
            )
        });
    }
    port_in(text, proto, file)
}

/// A port list: `80`, `1-1024`, `22,80,8000-8100`, with names anywhere a
/// number goes (`ssh,http`, `ftp-smtp`). The ports come back in the
/// order written, each once.
///
/// Names may hold a `-` (`http-alt`), so an item is first read whole as
/// one port; only if that fails is it read as a range, split at the one
/// `-` whose two sides are both ports (`ftp-data-ssh` is 20-22).
pub fn parse_ports(text: &str, proto: Proto) -> Result<Vec<u16>, String> {
    parse_ports_in(text, proto, system_services())
}

/// [`parse_ports`], with `file` as the text of `/etc/services`.
pub fn parse_ports_in(text: &str, proto: Proto, file: Option<&str>) -> Result<Vec<u16>, String> {
    let mut seen = vec![false; 65536];
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!("{text:?}: empty item in the port list"));
        }
        let (lo, hi) = item(part, proto, file)?;
        for p in lo..=hi {
            if !std::mem::replace(&mut seen[usize::from(p)], true) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// One item of a port list: a port, or a range `LO-HI`.
fn item(part: &str, proto: Proto, file: Option<&str>) -> Result<(u16, u16), String> {
    let whole = parse_port_in(part, proto, file);
    if let Ok(p) = whole {
        return Ok((p, p));
    }
    let ranges: Vec<(u16, u16)> = part
        .match_indices('-')
        .filter_map(|(i, _)| {
            let lo = parse_port_in(&part[..i], proto, file).ok()?;
            let hi = parse_port_in(&part[i + 1..], proto, file).ok()?;
            Some((lo, hi))
        })
        .collect();
    match ranges.as_slice() {
        [] if part.contains('-') => {
            // Say what is wrong with the side that is wrong.
            let mut sides = part.splitn(2, '-');
            let (a, b) = (sides.next().unwrap_or(""), sides.next().unwrap_or(""));
            parse_port_in(a, proto, file)?;
            parse_port_in(b, proto, file)?;
            whole.map(|p| (p, p))
        }
        [] => whole.map(|p| (p, p)),
        [(lo, hi)] if lo > hi => Err(format!("{part:?}: the range runs backwards ({lo}-{hi})")),
        [range] => Ok(*range),
        _ => Err(format!(
            "{part:?} reads as more than one range: write it with numbers (e.g. 20-22)"
        )),
    }
}

/// The ports `nettool scan HOST` scans when no ports are given: 1-1024
/// (IANA's System Ports, 0-1023 in RFC 6335 §6, where the classic
/// services live, plus 1024 as most scanners take it), then the
/// built-in table's well-known ports above them (databases, remote
/// desktop, caches, the alternative HTTP port), in port order.
pub fn default_scan_ports() -> Vec<u16> {
    let mut ports: Vec<u16> = (1..=1024).collect();
    let mut high: Vec<u16> = BUILTIN
        .iter()
        .map(|&(_, p)| p)
        .filter(|&p| p > 1024)
        .collect();
    high.dedup();
    ports.extend(high);
    ports
}

/// [`default_scan_ports`] as the help and README write it.
pub const DEFAULT_SCAN_PORTS: &str = "1-1024,3306,3389,5432,5900,6379,8080,11211,27017";

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const FILE: &str = "\
# a services(5) file
tcpmux\t\t1/tcp\t\t\t\t# TCP port service multiplexer
http\t\t8888/tcp\twww\t\t# a file cannot move a built-in name
gopher\t\t70/tcp\t\t\t\t# Internet Gopher
kerberos\t88/tcp\t\tkerberos5 krb5 kerberos-sec
bootps\t\t67/udp
broken\t\t99999/tcp
nonsense line
x11\t\t6000/tcp\tx11-0
";

    #[rstest]
    #[case::number("80", Proto::Tcp, Ok(80))]
    #[case::builtin("http", Proto::Tcp, Ok(80))]
    #[case::builtin_over_the_file("www", Proto::Tcp, Ok(80))]
    #[case::builtin_for_udp("domain", Proto::Udp, Ok(53))]
    #[case::from_the_file("gopher", Proto::Tcp, Ok(70))]
    #[case::an_alias("krb5", Proto::Tcp, Ok(88))]
    #[case::udp_only_name_under_udp("bootps", Proto::Udp, Ok(67))]
    #[case::udp_only_name_under_tcp(
        "bootps",
        Proto::Tcp,
        Err(
            "\"bootps\" is not a port number (1 to 65535) nor a tcp service name known to nettool's table nor /etc/services"
        )
    )]
    #[case::unknown(
        "nosuch",
        Proto::Tcp,
        Err(
            "\"nosuch\" is not a port number (1 to 65535) nor a tcp service name known to nettool's table nor /etc/services"
        )
    )]
    #[case::out_of_range_in_the_file(
        "broken",
        Proto::Tcp,
        Err(
            "\"broken\" is not a port number (1 to 65535) nor a tcp service name known to nettool's table nor /etc/services"
        )
    )]
    #[case::zero("0", Proto::Tcp, Err("\"0\" is not a TCP port (1 to 65535)"))]
    #[case::too_big("65536", Proto::Tcp, Err("\"65536\" is not a TCP port (1 to 65535)"))]
    fn one_port(#[case] text: &str, #[case] proto: Proto, #[case] want: Result<u16, &str>) {
        assert_eq!(
            parse_port_in(text, proto, Some(FILE)),
            want.map_err(str::to_owned)
        );
    }

    #[test]
    fn without_the_file_only_builtin_names_work_and_the_error_says_so() {
        assert_eq!(port_in("ssh", Proto::Tcp, None), Ok(22));
        let err = port_in("gopher", Proto::Tcp, None).unwrap_err();
        assert!(err.contains("\"gopher\""), "{err}");
        assert!(err.contains("there is no /etc/services"), "{err}");
    }

    #[rstest]
    #[case::numbers("22,80,8000-8002", &[22, 80, 8000, 8001, 8002])]
    #[case::names("ssh,http", &[22, 80])]
    #[case::names_in_a_range("ftp-smtp", &[21, 22, 23, 24, 25])]
    #[case::a_name_with_a_dash("http-alt", &[8080])]
    #[case::a_dashed_name_in_a_range("ftp-data-ssh", &[20, 21, 22])]
    #[case::a_number_and_a_name("79-http", &[79, 80])]
    #[case::each_once("http,80,www", &[80])]
    #[case::from_the_file("gopher,x11-0", &[70, 6000])]
    #[case::in_the_order_written("5,1-3,2", &[5, 1, 2, 3])]
    #[case::spaces(" 7 , 9 ", &[7, 9])]
    #[case::the_last_port("65535", &[65535])]
    fn port_lists(#[case] text: &str, #[case] want: &[u16]) {
        assert_eq!(
            parse_ports_in(text, Proto::Tcp, Some(FILE)),
            Ok(want.to_vec())
        );
    }

    #[rstest]
    #[case::unknown_name("ssh,nosuch", "\"nosuch\" is not a port number")]
    #[case::unknown_end("ssh-nosuch", "\"nosuch\" is not a port number")]
    #[case::backwards("http-ssh", "the range runs backwards (80-22)")]
    #[case::empty_item("22,,80", "empty item")]
    #[case::port_zero("0-10", "\"0\" is not a TCP port")]
    #[case::zero_at_the_end("1-0", "\"0\" is not a TCP port")]
    #[case::a_trailing_comma("80,", "empty item")]
    #[case::too_big("1-70000", "\"70000\" is not a TCP port")]
    #[case::two_dashes("1--3", "\"-3\" is not a port number")]
    #[case::nothing("", "empty item")]
    fn bad_port_lists_say_what_is_wrong(#[case] text: &str, #[case] want: &str) {
        let err = parse_ports_in(text, Proto::Tcp, Some(FILE)).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
    }

    #[test]
    fn the_whole_port_space_parses() {
        assert_eq!(
            parse_ports_in("1-65535", Proto::Tcp, None).unwrap().len(),
            65535
        );
    }

    #[test]
    fn the_default_scan_set_is_the_system_ports_then_the_tables_high_ones() {
        let ports = default_scan_ports();
        assert_eq!(ports[..1024], (1..=1024).collect::<Vec<u16>>()[..]);
        assert_eq!(
            parse_ports_in(DEFAULT_SCAN_PORTS, Proto::Tcp, None).unwrap(),
            ports,
            "DEFAULT_SCAN_PORTS says what default_scan_ports returns"
        );
    }

    #[test]
    fn the_builtin_table_is_sorted_by_port_and_names_are_unique() {
        assert!(BUILTIN.windows(2).all(|w| w[0].1 <= w[1].1));
        let mut names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), BUILTIN.len());
    }

    #[test]
    fn names_of_ports_come_from_the_table_first() {
        assert_eq!(name_of(80, Proto::Tcp).as_deref(), Some("http"));
        assert_eq!(name_of(6379, Proto::Tcp).as_deref(), Some("redis"));
    }
}
