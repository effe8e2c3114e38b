//! The next hop's MAC, through nettool's own ARP (or, over IPv6, its
//! own neighbour discovery) and its cache.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Result;

use super::warn;
use crate::arp::probe::{self, Mode, Until};
use crate::arp::resolve::{self, Resolution, Settings, WallClock};
use crate::cachefile;
use crate::clock::{self, Clock, SystemClock};
use crate::driver;
use crate::link::Filter;
use crate::link::packet::PacketLink;
use crate::link::pcap::PcapFile;
use crate::machine::Machine;
use crate::ndp::cache::Timing;
use crate::ndp::resolve as ndp_resolve;
use crate::privilege::{self, Cap};
use crate::route::{Route, Route6};
use crate::time::{Instant, human};
use crate::wire::MacAddr;

/// Requests sent to a next hop that does not answer, one second apart.
const TRIES: u32 = 3;

/// What asking for the next hop's MAC found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Its MAC, and how it was learned (from the cache, or by ARP and how
    /// fast) for the command's header.
    Mac(MacAddr, String),
    /// Nobody answered.
    NoAnswer,
    /// Two MACs answered one request: neither is believed.
    Conflict { mac: MacAddr, other_mac: MacAddr },
}

/// The MAC of `route`'s next hop. The ARP exchange goes to `pcap` too,
/// when there is one. Cache-file trouble is a warning on `err`, never an
/// error.
pub fn resolve(
    route: &Route,
    cache_path: &Path,
    pcap: Option<&PcapFile>,
    err: &mut dyn Write,
    interrupt: &AtomicBool,
) -> Result<Resolved> {
    let iface = &route.interface;
    let (mut cache, warnings) = cachefile::load(cache_path);
    warnings.iter().try_for_each(|w| warn(err, w))?;
    let mut clock = SystemClock::new();
    let now = clock.now();
    let wall = WallClock {
        at: now,
        unix_ms: clock::unix_now_ms(),
    };
    let settings = Settings {
        iface: iface.name.clone(),
        ifindex: iface.index,
        target: route.next_hop,
        ttl: crate::arp::cache::DEFAULT_TTL,
        use_cache: true,
        probe: probe::Config {
            mode: Mode::Request,
            until: Until::FirstReply,
            mac: iface.mac,
            sender_ip: route.source,
            tries: TRIES,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rate: None,
        },
    };
    let mut res = Resolution::new(now, wall, &mut cache, settings);
    let mut how = String::new();
    let mut conflict = None;
    let on_event = |_: Instant, ev: resolve::Event| -> Result<()> {
        match ev {
            resolve::Event::CacheHit { age, .. } => {
                how = format!("from the ARP cache, learned {} ago", crate::text::age(age))
            }
            resolve::Event::Probe(probe::Event::Reply { rtt, .. }) => {
                how = format!("resolved by ARP in {}", human(rtt))
            }
            resolve::Event::Probe(probe::Event::Conflict { first, other, .. }) => {
                conflict = Some((first, other))
            }
            _ => {}
        }
        Ok(())
    };
    let wire = Wire {
        ifindex: iface.index,
        filter: Filter::Arp,
        pcap,
        interrupt,
    };
    drive(&mut res, &mut clock, wire, on_event)?;
    let answer = res.answer();
    drop(res);
    if let Err(e) = cachefile::save(cache_path, &cache) {
        warn(err, format!("{e}; the next hop was not cached"))?;
    }
    Ok(Resolved::from(answer, conflict, how))
}

/// The MAC of an IPv6 `route`'s next hop, through nettool's own neighbour
/// discovery ([`crate::ndp::resolve`]) and the NDP half of the same cache
/// file: a REACHABLE entry answers at once, a stale one is probed, none is
/// solicited by multicast, three times one second apart.
pub fn resolve_v6(
    route: &Route6,
    cache_path: &Path,
    pcap: Option<&PcapFile>,
    err: &mut dyn Write,
    interrupt: &AtomicBool,
) -> Result<Resolved> {
    let iface = &route.interface;
    let (mut caches, warnings) = cachefile::load_all(cache_path, crate::sys::random_u64());
    warnings.iter().try_for_each(|w| warn(err, w))?;
    let mut clock = SystemClock::new();
    let now = clock.now();
    let wall = WallClock {
        at: now,
        unix_ms: clock::unix_now_ms(),
    };
    let settings = ndp_resolve::Settings {
        iface: iface.name.clone(),
        ifindex: iface.index,
        mac: iface.mac,
        source: route.source,
        target: route.next_hop,
        use_cache: true,
        timing: Timing {
            max_multicast: TRIES,
            ..Timing::default()
        },
        ping: None,
    };
    let mut res = ndp_resolve::Resolution::new(now, wall, &mut caches.ndp, settings);
    let mut how = String::new();
    let mut conflict = None;
    let on_event = |_: Instant, ev: ndp_resolve::Event| -> Result<()> {
        match ev {
            ndp_resolve::Event::CacheHit { .. } => how = "from the NDP cache".to_owned(),
            ndp_resolve::Event::Advert { rtt, .. } => {
                how = format!("resolved by neighbour discovery in {}", human(rtt))
            }
            ndp_resolve::Event::Conflict { first, other } => conflict = Some((first, other)),
            _ => {}
        }
        Ok(())
    };
    let wire = Wire {
        ifindex: iface.index,
        filter: Filter::ArpIpv6,
        pcap,
        interrupt,
    };
    drive(&mut res, &mut clock, wire, on_event)?;
    let answer = res.answer();
    drop(res);
    if let Err(e) = cachefile::save_all(cache_path, &caches) {
        warn(err, format!("{e}; the next hop was not cached"))?;
    }
    Ok(Resolved::from(answer, conflict, how))
}

/// Where a resolution goes when its cache cannot answer.
struct Wire<'a> {
    ifindex: u32,
    filter: Filter,
    pcap: Option<&'a PcapFile>,
    interrupt: &'a AtomicBool,
}

/// Runs resolution `res` to its end: a cache that answered has its
/// events handed over at once, with no socket opened (and nothing in the
/// capture: it shows only what was asked of the wire); otherwise over a
/// link opened for `wire`.
fn drive<M: Machine>(
    res: &mut M,
    clock: &mut SystemClock,
    wire: Wire,
    mut on_event: impl FnMut(Instant, M::Event) -> Result<()>,
) -> Result<()> {
    if res.is_done() {
        let now = clock.now();
        while let Some(ev) = res.poll_event() {
            on_event(now, ev)?;
        }
        return Ok(());
    }
    let opened = privilege::raised(&[Cap::NetRaw], || {
        PacketLink::open(wire.ifindex, wire.filter)
    });
    let mut link = super::capture(opened?, wire.pcap)?;
    driver::run(res, &mut link, clock, wire.interrupt, on_event)?;
    Ok(())
}

impl Resolved {
    /// What a resolution's answer and conflict come to; `how` says how
    /// the answer was learned.
    fn from(answer: Option<MacAddr>, conflict: Option<(MacAddr, MacAddr)>, how: String) -> Self {
        match (answer, conflict) {
            (_, Some((mac, other_mac))) => Resolved::Conflict { mac, other_mac },
            (Some(mac), None) => Resolved::Mac(mac, how),
            (None, None) => Resolved::NoAnswer,
        }
    }
}
