//! The next hop's MAC, through nettool's own ARP and its cache.

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
use crate::privilege::{self, Cap};
use crate::route::Route;
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
    let mut on_event = |_: Instant, ev: resolve::Event| -> Result<()> {
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
    if res.is_done() {
        while let Some(ev) = res.poll_event() {
            on_event(now, ev)?;
        }
    } else {
        // In the capture only when the wire was asked.
        let opened = privilege::raised(&[Cap::NetRaw], || {
            PacketLink::open(iface.index, Filter::Arp)
        });
        let mut link = super::capture(opened?, pcap)?;
        driver::run(&mut res, &mut link, &mut clock, interrupt, on_event)?;
    }
    let answer = res.answer();
    drop(res);
    if let Err(e) = cachefile::save(cache_path, &cache) {
        warn(err, format!("{e}; the next hop was not cached"))?;
    }
    Ok(match (answer, conflict) {
        (_, Some((mac, other_mac))) => Resolved::Conflict { mac, other_mac },
        (Some(mac), None) => Resolved::Mac(mac, how),
        (None, None) => Resolved::NoAnswer,
    })
}
